"""GET /health/: 200 when the database answers (ok or degraded), 503 when it doesn't."""

import tomllib
from pathlib import Path

import pytest
from django.db import connection

from cache_layer import health as cache_layer_health
from tests.test_serve import unused_port


@pytest.fixture
def listener_heartbeat(monkeypatch):
    """Sets the age of the listener's last heartbeat, as cache_layer reports it."""

    def set_age(age):
        monkeypatch.setattr(cache_layer_health, "listener_health", lambda: {"last_heartbeat_age": age, "stale": None})

    return set_age


@pytest.fixture
def cache_status(monkeypatch):
    def set_status(status):
        monkeypatch.setattr(cache_layer_health, "cache_health", lambda: {"status": status})

    return set_status


def test_health_is_ok_with_everything_up(client, db, cache_status, listener_heartbeat):
    cache_status("ok")
    listener_heartbeat(2.5)

    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"status": "ok"}
    assert body["cache"] == {"status": "ok"}
    version = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    assert body["version"] == version["version"]
    if connection.vendor == "postgresql":
        assert body["listener"] == {"status": "ok", "last_heartbeat_age": 2.5, "stale_after": 30}
    else:  # the listener is PostgreSQL's only
        assert body["listener"] == {"status": "not_used"}


def test_health_answers_anyone_without_a_login(client, db):
    response = client.get("/health/", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_degraded_cache_is_reported_and_still_answers_200(client, db, monkeypatch, listener_heartbeat):
    state = {"status": "degraded", "error": "Error 111 connecting to redis.internal:6379", "failures": 3}
    monkeypatch.setattr(cache_layer_health, "cache_health", lambda: state)
    listener_heartbeat(1.0)

    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["cache"] == {"status": "degraded", "failures": 3}  # no host names for the public


def test_a_cache_whose_state_cannot_be_read_counts_as_degraded(client, db, monkeypatch):
    def broken():
        raise ConnectionError("redis away")

    monkeypatch.setattr(cache_layer_health, "cache_health", broken)

    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["cache"] == {"status": "degraded", "error": "ConnectionError"}


@pytest.mark.postgres
def test_a_listener_without_a_recent_heartbeat_is_stale(client, db, settings, cache_status, listener_heartbeat):
    settings.LISTENER_STALE_SECONDS = 30
    cache_status("ok")

    listener_heartbeat(29.0)
    assert client.get("/health/").json()["listener"]["status"] == "ok"

    listener_heartbeat(31.0)
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["listener"] == {"status": "stale", "last_heartbeat_age": 31.0, "stale_after": 30}

    listener_heartbeat(None)  # never seen
    assert client.get("/health/").json()["listener"]["status"] == "stale"


def test_health_is_503_when_the_database_is_unreachable(client, db, monkeypatch, tmp_path):
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        monkeypatch.setitem(settings_dict, "PORT", unused_port())  # nothing listens there
    else:
        monkeypatch.setitem(settings_dict, "NAME", str(tmp_path / "no-such-dir" / "db.sqlite3"))

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == {"status": "error", "error": "OperationalError"}
    assert "127.0.0.1" not in response.content.decode()  # no connection details for the public


@pytest.fixture
def unbounded_redis(settings):
    """A private redis-server with Redis's defaults: no maxmemory, noeviction."""
    from tests.private_redis import PrivateRedis

    server = PrivateRedis("--maxmemory", "0", "--maxmemory-policy", "noeviction")
    server.start()
    settings.CACHES = {**settings.CACHES, "private": server.cache_settings()}
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "CACHE_ALIAS": "private"}
    yield server
    server.stop()


@pytest.mark.redis
def test_a_redis_without_maxmemory_makes_the_cache_degraded(client, db, unbounded_redis, listener_heartbeat):
    listener_heartbeat(1.0)

    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["cache"] == {
        "status": "degraded",
        "failures": 0,
        "maxmemory": 0,
        "maxmemory_policy": "noeviction",
    }

    unbounded_redis.client().config_set("maxmemory", "100mb")
    unbounded_redis.client().config_set("maxmemory-policy", "allkeys-lru")
    assert client.get("/health/").json()["cache"] == {
        "status": "ok",
        "failures": 0,
        "maxmemory": 100 * 1024 * 1024,
        "maxmemory_policy": "allkeys-lru",
    }


@pytest.mark.redis
def test_a_bounded_redis_that_refuses_writes_when_full_makes_the_cache_degraded(client, db, unbounded_redis):
    unbounded_redis.client().config_set("maxmemory", "100mb")  # bounded, but noeviction: writes fail when full

    assert client.get("/health/").json()["cache"]["status"] == "degraded"


@pytest.mark.redis
def test_health_answers_while_its_redis_is_away_without_memory_figures(client, db, unbounded_redis):
    unbounded_redis.stop()

    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["cache"]["status"] == "degraded"
    assert "maxmemory" not in response.json()["cache"]
