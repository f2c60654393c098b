"""The live stream across real processes: two uvicorn servers and the listener on PostgreSQL + Redis.

A change committed anywhere (ingest through server A, an ORM write in this process, raw SQL from
psql) reaches the streams held on server B that it concerns, and none that it doesn't. Waits
are bounded (`wait_for(..., timeout=…)`), never timing assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dashboard.models import Tracker
from tests.cache_helpers import subprocess_database_url
from tests.conftest import make_user
from tests.fleet import make_fleet
from tests.sse import ROOT, Server, SSEClient, post_json

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

STREAM = "/api/trackers/stream/"


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker, tmp_path_factory):
    """Server A, server B and the listener, on the test database and this run's Redis prefix."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        yield None  # the marker fixture skips (or fails under REQUIRE_SERVICES)
        return
    with django_db_blocker.unblock():
        database_url = subprocess_database_url()
    logs = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LIVE_AUTH_RECHECK_SECONDS": "1",
        "LIVE_HEARTBEAT_SECONDS": "1",
        "LIVE_REPLAY_SECONDS": "4",
        "DB_POOL": "true",  # as gunicorn.conf.py serves ASGI
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    listener = Server(env, command=[sys.executable, "manage.py", "listen_cache_invalidation", "--timeout", "0.1"])
    listener.process = subprocess.Popen(listener.command, cwd=ROOT, env=env, start_new_session=True)
    a = Server(env, log=logs / "a.log").start()
    b = Server(env, log=logs / "b.log").start()
    yield a, b
    for process in (a, b, listener):
        process.stop()


def token_for(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def tenants(client_a, client_b):
    a, b = make_fleet(client_a, trackers=2, prefix="A"), make_fleet(client_b, trackers=2, prefix="B")
    staff = make_user("live-staff", is_staff=True)
    return {
        "a": a,
        "b": b,
        "owner": token_for(make_user("live-owner", client=client_a)),
        "other": token_for(make_user("live-other", client=client_b)),
        "staff": token_for(staff),
    }


def report(serial: str, *, minutes_ago: float = 0, latitude: float = 45.5, battery: int | None = None) -> dict:
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    body = {"tracker": serial, "timestamp": moment.isoformat(), "latitude": latitude, "longitude": 4.8}
    if battery is not None:
        body["battery_level"] = battery
    return body


def items_of(event) -> dict[int, dict]:
    return {item["id"]: item for item in event.json["items"]} if event and event.name == "changes" else {}


def has_item(tracker_id: int, **fields):
    def predicate(event) -> bool:
        item = items_of(event).get(tracker_id)
        return item is not None and all(item.get(k) == v for k, v in fields.items())

    return predicate


def removes(tracker_id: int):
    return lambda event: event.name == "changes" and tracker_id in event.json["removed"]


def psql(statement: str) -> None:
    subprocess.run(
        ["psql", subprocess_database_url(), "-v", "ON_ERROR_STOP=1", "-qc", statement], check=True, timeout=30
    )


def test_a_report_ingested_through_a_reaches_a_stream_on_b(servers, tenants):
    a, b = servers
    tracker = tenants["a"].trackers[0]
    stream = SSEClient(b.base, STREAM, token=tenants["owner"])
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in stream.headers  # asked for gzip and br: never compressed
        status, body = post_json(f"{a.base}/api/location-reports/", [report(tracker.serial, latitude=46.25)],
                                 token=tenants["staff"])
        assert (status, body) == (200, {"accepted": 1, "duplicates": 0})
        event = stream.wait_for(has_item(tracker.pk), timeout=1.0 + 4)  # 1 s target; slack for a loaded CI box
        assert event is not None, "the report never reached server B's stream"
        assert items_of(event)[tracker.pk]["latest_location"]["latitude"] == 46.25
        assert stream.retry == 3000 and event.id  # a retry hint, and a cursor to resume from
    finally:
        stream.close()


def test_a_raw_sql_update_from_psql_reaches_the_stream_through_the_listener(servers, tenants):
    _, b = servers
    tracker = tenants["a"].trackers[1]
    stream = SSEClient(b.base, STREAM, token=tenants["owner"])
    try:
        psql(f"UPDATE trackers SET name = 'Renamed by psql' WHERE id = {tracker.pk}")
        assert stream.wait_for(has_item(tracker.pk, name="Renamed by psql"), timeout=5) is not None
    finally:
        stream.close()


def test_a_stream_never_carries_another_tenants_trackers_and_staff_sees_both(servers, tenants):
    a, b = servers
    ours, theirs = tenants["a"].trackers[0], tenants["b"].trackers[0]
    owner = SSEClient(b.base, STREAM + "?status=in_transit", token=tenants["owner"])
    other = SSEClient(b.base, STREAM + "?status=in_transit", token=tenants["other"])
    staff = SSEClient(a.base, STREAM + "?status=in_transit", token=tenants["staff"])
    try:
        reports = [report(theirs.serial), report(ours.serial)]
        post_json(f"{a.base}/api/location-reports/", reports, token=tenants["staff"])
        assert other.wait_for(has_item(theirs.pk), timeout=5) is not None
        assert owner.wait_for(has_item(ours.pk), timeout=5) is not None
        seen = set()
        assert staff.wait_for(lambda e: seen.update(items_of(e)) or {ours.pk, theirs.pk} <= seen, timeout=5)
        # Whatever else arrives in the next moments, no event of either tenant names the other's tracker.
        for event in owner.drain(1.0):
            assert theirs.pk not in items_of(event) and theirs.pk not in event.json.get("removed", [])
        for event in other.drain(0.2):
            assert ours.pk not in items_of(event) and ours.pk not in event.json.get("removed", [])
    finally:
        for stream in (owner, other, staff):
            stream.close()


def test_a_status_change_moves_one_tracker_out_and_another_in(servers, tenants):
    a, b = servers
    leaving, arriving = tenants["a"].trackers
    Tracker.objects.filter(pk=arriving.pk).update(current_status="in_storage")
    stream = SSEClient(b.base, STREAM + "?status=in_transit", token=tenants["owner"])
    try:
        # The hub knows `leaving` as in transit once its report has been streamed.
        post_json(f"{a.base}/api/location-reports/", [report(leaving.serial)], token=tenants["staff"])
        assert stream.wait_for(has_item(leaving.pk), timeout=5) is not None
        leaving.current_status = "delivered"
        leaving.save()  # an ORM save in this process: its feed entry after commit
        assert stream.wait_for(removes(leaving.pk), timeout=5) is not None
        Tracker.objects.filter(pk=arriving.pk).update(current_status="in_transit")  # the bulk path
        assert stream.wait_for(has_item(arriving.pk, current_status="in_transit"), timeout=5) is not None
    finally:
        stream.close()


def test_battery_max_and_silent_hours_streams_follow_the_reports(servers, tenants):
    a, b = servers
    tracker = tenants["a"].trackers[0]  # battery 50, never reported
    low = SSEClient(b.base, STREAM + "?battery_max=20", token=tenants["owner"])
    silent = SSEClient(b.base, STREAM + "?silent_hours=24", token=tenants["owner"])
    try:
        Tracker.objects.filter(pk=tracker.pk).update(name="Still in its box")  # the hub sees it never reported
        assert silent.wait_for(has_item(tracker.pk, name="Still in its box"), timeout=5) is not None
        post_json(f"{a.base}/api/location-reports/", [report(tracker.serial, battery=10)], token=tenants["staff"])
        assert low.wait_for(has_item(tracker.pk, battery_level=10), timeout=5) is not None
        assert silent.wait_for(removes(tracker.pk), timeout=5) is not None  # it reported: not silent any more
        post_json(f"{a.base}/api/location-reports/", [report(tracker.serial, battery=60)], token=tenants["staff"])
        assert low.wait_for(removes(tracker.pk), timeout=5) is not None  # charged: above battery_max
    finally:
        low.close()
        silent.close()
    bad = SSEClient(b.base, STREAM + "?battery_max=101&silent_hours=0", token=tenants["owner"])
    assert bad.status == 400
    assert set(json.loads(bad.body)) == {"battery_max", "silent_hours"}


def test_last_event_id_inside_the_window_replays_what_was_missed_outside_it_resyncs(servers, tenants):
    a, b = servers
    tracker = tenants["a"].trackers[0]
    first = SSEClient(b.base, STREAM, token=tenants["owner"])
    post_json(f"{a.base}/api/location-reports/", [report(tracker.serial, latitude=44.0)], token=tenants["staff"])
    seen = first.wait_for(has_item(tracker.pk), timeout=5)
    assert seen is not None
    first.close()
    # Away: a change the client did not see.
    post_json(f"{a.base}/api/location-reports/", [report(tracker.serial, latitude=44.5, battery=31)],
              token=tenants["staff"])
    time.sleep(0.5)
    back = SSEClient(a.base, STREAM, token=tenants["owner"], last_event_id=seen.id)  # the other server
    try:
        event = back.next_event(5)
        assert event is not None and event.name == "changes"
        assert items_of(event)[tracker.pk]["latest_location"]["latitude"] == 44.5
        assert items_of(event)[tracker.pk]["battery_level"] == 31
    finally:
        back.close()
    # A cursor of another life of the feed, and one older than the window (LIVE_REPLAY_SECONDS=4).
    stale = SSEClient(b.base, STREAM, token=tenants["owner"], last_event_id="0123456789ab.1-0")
    try:
        assert stale.next_event(5).name == "resync"
    finally:
        stale.close()
    time.sleep(4.5)
    post_json(f"{a.base}/api/location-reports/", [report(tracker.serial, latitude=45.0)], token=tenants["staff"])
    late = SSEClient(b.base, STREAM, token=tenants["owner"], last_event_id=seen.id)
    try:
        assert late.next_event(5).name == "resync"
    finally:
        late.close()


def test_bad_filters_are_a_400_naming_the_parameter_and_no_credentials_a_403(servers, tenants):
    _, b = servers
    bad = SSEClient(b.base, STREAM + "?status=flying&brand_ids=x", token=tenants["owner"])
    assert bad.status == 400
    assert set(json.loads(bad.body)) == {"status", "brand_ids"}
    anonymous = SSEClient(b.base, STREAM)
    assert anonymous.status == 403
    wrong = SSEClient(b.base, STREAM, token="not-a-token")
    assert wrong.status == 403


def test_the_stream_ends_when_the_token_is_deleted_or_the_user_loses_the_client(servers, tenants, client_a):
    _, b = servers
    stream = SSEClient(b.base, STREAM, token=tenants["owner"])
    moved_user = make_user("live-mover", client=client_a)
    moved = SSEClient(b.base, STREAM, token=token_for(moved_user))
    try:
        assert stream.status == 200 and moved.status == 200
        Token.objects.filter(key=tenants["owner"]).delete()
        moved_user.profile.client = None
        moved_user.profile.save()
        assert stream.closed.wait(5), "the stream stayed open after its token was deleted"
        assert moved.closed.wait(5), "the stream stayed open after its user lost the client"
    finally:
        stream.close()
        moved.close()


def test_logging_out_ends_a_session_stream(servers, tenants, client_a):
    from django.test import Client

    _, b = servers
    browser = Client()
    browser.force_login(make_user("live-browser", client=client_a))
    stream = SSEClient(b.base, STREAM, session=browser.cookies["sessionid"].value)
    try:
        assert stream.status == 200
        time.sleep(2.5)
        assert not stream.closed.is_set() and stream.comments >= 1  # heartbeats (1 s here) keep it open
        browser.logout()
        assert stream.closed.wait(5), "the stream stayed open after logout"
    finally:
        stream.close()


def test_metrics_count_open_streams_events_and_the_fan_out_lag(servers, tenants):
    from prometheus_client.parser import text_string_to_metric_families

    a, b = servers
    tracker = tenants["a"].trackers[0]
    stream = SSEClient(b.base, STREAM, token=tenants["owner"])
    try:
        post_json(f"{a.base}/api/location-reports/", [report(tracker.serial)], token=tenants["staff"])
        assert stream.wait_for(has_item(tracker.pk), timeout=5) is not None
        with urllib.request.urlopen(f"{b.base}/metrics", timeout=5) as response:
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(response.read().decode())
                for s in family.samples
            }
    finally:
        stream.close()
    assert samples[("live_streams_open", ())] >= 1
    assert samples[("live_events_sent_total", (("event", "changes"),))] >= 1
    assert samples[("live_fanout_lag_seconds_count", ())] >= 1
