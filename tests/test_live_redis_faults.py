"""Redis goes away under open live streams (a private redis-server, killed and started again): the
streams stay open, ingest keeps answering, and once Redis is back the streams resync and carry
changes again."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.cache_helpers import subprocess_database_url
from tests.conftest import make_user
from tests.fleet import make_fleet
from tests.private_redis import PrivateRedis
from tests.sse import Server, SSEClient, post_json

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def report(serial: str, latitude: float) -> dict:
    return {"tracker": serial, "timestamp": (timezone.now() - timedelta(seconds=1)).isoformat(),
            "latitude": latitude, "longitude": 4.8}


def test_streams_survive_a_redis_outage_and_resync_when_it_returns(client_a, tmp_path):
    fleet = make_fleet(client_a, trackers=1, prefix="R")
    tracker = fleet.trackers[0]
    staff = Token.objects.create(user=make_user("r-staff", is_staff=True)).key
    owner = Token.objects.create(user=make_user("r-owner", client=client_a)).key
    redis = PrivateRedis()
    redis.start()
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(), "REDIS_URL": redis.url,
           "LIVE_HEARTBEAT_SECONDS": "1", "CACHE_SOCKET_TIMEOUT": "0.2", "DB_POOL": "true"}
    server = Server(env, log=tmp_path / "server.log").start()
    stream = SSEClient(server.base, "/api/trackers/stream/", token=owner)
    try:
        assert post_json(f"{server.base}/api/location-reports/", [report(tracker.serial, 45.1)], token=staff)[0] == 200
        assert stream.wait_for(lambda e: e.name == "changes", timeout=5) is not None

        redis.stop()
        status, _ = post_json(f"{server.base}/api/location-reports/", [report(tracker.serial, 45.2)], token=staff)
        assert status == 200  # ingest answers from the database while Redis is away
        comments = stream.comments
        time.sleep(2.5)
        assert not stream.closed.is_set() and stream.comments > comments  # still open, heartbeats flowing

        redis.start()  # the same port, empty
        time.sleep(5.5)  # past cache_layer's circuit-breaker cooldown: writers reach Redis again
        post_json(f"{server.base}/api/location-reports/", [report(tracker.serial, 45.3)], token=staff)
        assert stream.wait_for(lambda e: e.name == "resync", timeout=15) is not None, (
            (tmp_path / "server.log").read_text()[-3000:]
        )
        time.sleep(0.3)
        post_json(f"{server.base}/api/location-reports/", [report(tracker.serial, 45.4)], token=staff)
        latest = stream.wait_for(
            lambda e: e.name == "changes" and any(i["latest_location"]["latitude"] == 45.4 for i in e.json["items"]),
            timeout=10,
        )
        assert latest is not None, "the stream did not carry changes again after Redis came back"
    finally:
        stream.close()
        server.stop()
        redis.stop()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
