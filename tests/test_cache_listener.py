"""Writes from outside Django (raw SQL, TRUNCATE, psql) reach the cache through the triggers and the listener."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

import cache_layer
from cache_layer import health, invalidation
from cache_layer.listener import Listener
from tests.cache_helpers import subprocess_database_url
from tests.fleet import add_history, make_fleet

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def short_debounce(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "DEBOUNCE_SECONDS": 0.2}


@pytest.fixture
def running_listener():
    listener = Listener()
    listener.run_once(timeout=0.05)  # connected and listening before the test writes
    thread = threading.Thread(target=listener.run, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    yield listener
    listener.stopping = True
    thread.join(5)


def names():
    return [row["name"] for row in cache_layer.get("clients")]


def eventually(predicate, seconds=5.0):
    """Poll until `predicate()` holds (the listener's notification is asynchronous)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def warm(expected):
    invalidation.wait_for_reloads()
    assert names() == expected


def raw_sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_a_raw_sql_update_is_seen_after_the_notification(client_a, running_listener):
    warm(["Client A"])
    raw_sql("UPDATE clients SET name = %s WHERE id = %s", ["Raw SQL", client_a.pk])
    assert eventually(lambda: names() == ["Raw SQL"])


def test_a_raw_sql_insert_is_seen_after_the_notification(client_a, running_listener):
    warm(["Client A"])
    raw_sql("INSERT INTO clients (name) VALUES ('Inserted raw')")
    assert eventually(lambda: names() == ["Client A", "Inserted raw"])


def test_a_truncate_is_seen_after_the_notification(client_a, running_listener):
    warm(["Client A"])
    raw_sql("TRUNCATE clients CASCADE")
    assert eventually(lambda: names() == [])


def test_a_psql_session_outside_django_is_seen(client_a, running_listener):
    warm(["Client A"])
    subprocess.run(
        [
            "psql",
            subprocess_database_url(),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            f"UPDATE clients SET name = 'From psql' WHERE id = {client_a.pk}",
        ],
        check=True,
        timeout=30,
    )
    assert eventually(lambda: names() == ["From psql"])


def test_ingest_style_tracker_updates_send_no_notification():
    # The column-specific trigger: last_report_received updates never reach the listener.
    with connection.cursor() as cursor:
        cursor.execute("LISTEN cache_layer")
        cursor.execute("UPDATE trackers SET last_report_received = now()")
        cursor.execute("UPDATE trackers SET production_run_id = production_run_id")
    notified = [n.payload for n in connection.connection.notifies(timeout=0.5)]
    assert notified == ["trackers"]


def test_after_losing_its_connection_the_listener_reconnects_and_invalidates_everything(client_a):
    listener = Listener()
    listener.run_once(timeout=0.05)
    warm(["Client A"])
    raw_sql("SELECT pg_terminate_backend(%s)", [listener.backend_pid()])
    raw_sql("UPDATE clients SET name = 'Written in the gap' WHERE id = %s", [client_a.pk])  # its NOTIFY is lost
    assert names() == ["Client A"]  # nothing told the cache yet
    listener.run_once(timeout=0.05)  # notices the dead connection
    listener.run_once(timeout=0.05)  # reconnects, LISTENs, invalidates every table
    assert listener.reconnects == 1
    assert names() == ["Written in the gap"]
    raw_sql("UPDATE clients SET name = 'After the reconnect' WHERE id = %s", [client_a.pk])
    listener.run_once(timeout=1.0)  # listening again
    assert names() == ["After the reconnect"]
    listener.close()


def test_the_listener_heartbeat_feeds_health():
    assert health.listener_health()["stale"] is True
    listener = Listener()
    listener.run_once(timeout=0.05)
    listener.close()
    state = health.listener_health()
    assert state["stale"] is False and state["last_heartbeat_age"] < 30


def test_the_listen_command_stops_cleanly_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "manage.py", "listen_cache_invalidation", "--timeout", "0.1"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": subprocess_database_url()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert eventually(lambda: health.listener_health()["stale"] is False, seconds=30)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "Listener stopped." in out


def test_a_raw_sql_location_insert_refreshes_its_run_and_leaves_other_runs_cached(
    client_a, client_b, staff_api, running_listener, django_assert_num_queries
):
    fleet_a, fleet_b = make_fleet(client_a, trackers=1, prefix="A"), make_fleet(client_b, trackers=1, prefix="B")
    add_history(fleet_a.trackers[0], 1, city="Lyon")
    add_history(fleet_b.trackers[0], 1, city="Nice")
    invalidation.wait_for_reloads()
    url_a, url_b = (f"/api/trackers/?production_run_ids={f.run.pk}" for f in (fleet_a, fleet_b))
    assert latest_cities(staff_api.get(url_a)) == ["Lyon"]
    assert latest_cities(staff_api.get(url_b)) == ["Nice"]

    raw_sql(
        "INSERT INTO location_history (tracker_id, timestamp, latitude, longitude, nearest_city, confidence)"
        " VALUES (%s, now(), 48.85, 2.35, 'Paris', 0.9)",
        [fleet_a.trackers[0].pk],
    )

    assert eventually(lambda: latest_cities(staff_api.get(url_a)) == ["Paris"])
    # Authentication only (the user; the session comes from the cache): run B's entry is still current.
    with django_assert_num_queries(1):
        assert latest_cities(staff_api.get(url_b)) == ["Nice"]


def latest_cities(response):
    return [item["latest_location"]["nearest_city"] for item in response.json()["items"]]


def test_history_writes_name_only_their_runs_never_a_reference_table(client_a, client_b):
    fleet_a, fleet_b = make_fleet(client_a, trackers=2, prefix="A"), make_fleet(client_b, trackers=1, prefix="B")
    with connection.cursor() as cursor:
        cursor.execute("LISTEN cache_layer")
        cursor.execute(
            "INSERT INTO location_history (tracker_id, timestamp, latitude, longitude, nearest_city)"
            " SELECT id, now(), 1, 2, 'Raw' FROM trackers WHERE production_run_id = %s",
            [fleet_a.run.pk],
        )
        cursor.execute("UPDATE location_history SET nearest_city = 'Moved'")
        cursor.execute("DELETE FROM location_history")
        cursor.execute("TRUNCATE location_history")
    notified = [n.payload for n in connection.connection.notifies(timeout=0.5)]
    # Each statement commits on its own here: insert, update, delete name run A alone (however many
    # of its trackers), the truncate every run; run B and the reference tables are never named.
    run_a = f"scope:production_run:{fleet_a.run.pk}"
    assert [p for p in notified if p.startswith("scope:")] == [run_a, run_a, run_a, "scope:production_run:*"]
    assert f"scope:production_run:{fleet_b.run.pk}" not in notified
    # The live feed's notifications name run A's trackers, and never run B's.
    trackers_a = "rows:tracker:" + ",".join(sorted(str(t.pk) for t in fleet_a.trackers))
    assert [p for p in notified if p.startswith("rows:")] == [trackers_a, trackers_a, trackers_a, "rows:tracker:*"]
