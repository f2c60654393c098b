"""What needs attention: the `battery_max` and `silent_hours` filters of the list, the positions feed, the
export and the stream, and `GET /api/attention/` (counts of low battery, silent, never reported).

Every answer is checked against a brute-force count over the fixture's trackers; the clock that
`silent_hours` counts back from is frozen and moved (`dashboard.queries.wall_clock`)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from model_bakery import baker

import cache_layer.testing
from cache_layer import invalidation
from cache_layer.listener import Listener
from dashboard import queries
from dashboard.live import Stream
from dashboard.models import Brand, LocationHistory, ProductionRun, Tracker
from dashboard.queries import LiveTracker, TrackerFilters
from dashboard.scope import ALL, Scope
from tests.cache_helpers import backend_round_trips
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

# Authentication only: the user (the session comes from the cache; staff needs no profile for its scope).
AUTH = 1
# The frozen clock: mid-minute, so the minute it counts back from is 30 s earlier.
NOW = float(int(time.time()) // 60 * 60 + 30)
AS_OF = datetime.fromtimestamp(NOW // 60 * 60, UTC)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Spec:
    serial: str
    battery: int | None
    silent_for: timedelta | None  # the last report, this long before AS_OF; None: never reported


# Client A (two runs) and client B, around both thresholds: 20 % and 24 h (the boundary is inclusive).
SPECS = {
    "A1": [
        Spec("A-never", None, None),
        Spec("A-empty", 0, HOUR),
        Spec("A-19", 19, 24 * HOUR - timedelta(seconds=1)),
        Spec("A-20", 20, 24 * HOUR),
        Spec("A-21", 21, 25 * HOUR),
    ],
    "A2": [Spec("A-old", 100, 100 * 24 * HOUR), Spec("A-boxed", 50, None)],
    "B": [Spec("B-low", 5, HOUR), Spec("B-never", 90, None), Spec("B-quiet", 10, 48 * HOUR)],
}
CLIENT_OF_RUN = {"A1": "A", "A2": "A", "B": "B"}


@pytest.fixture
def frozen(monkeypatch):
    """The attention filters' clock, frozen at NOW; `frozen["now"] += …` moves it."""
    clock = {"now": NOW}
    monkeypatch.setattr(queries, "wall_clock", lambda: clock["now"])
    return clock


@pytest.fixture
def fleet(client_a, client_b, frozen, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        runs = {}
        for name, client in (("A1", client_a), ("A2", client_a), ("B", client_b)):
            brand = baker.make(Brand, client=client, name=f"Brand {name}")
            runs[name] = baker.make(ProductionRun, brand=brand, name=name, start_date=date(2026, 1, 1), end_date=None)
        for run_name, specs in SPECS.items():
            for spec in specs:
                reported = None if spec.silent_for is None else AS_OF - spec.silent_for
                tracker = baker.make(
                    Tracker,
                    production_run=runs[run_name],
                    serial=spec.serial,
                    name=spec.serial,
                    current_status="in_transit",
                    battery_level=spec.battery,
                    last_report_received=reported,
                )
                if reported is not None:
                    LocationHistory.objects.create(tracker=tracker, timestamp=reported, latitude=45.0, longitude=5.0)
    cache_layer.testing.settle()
    return runs


def expected(clients: set[str], *, battery_max=None, silent_hours=None, reported_only=False) -> list[str]:
    """The serials a filter must answer, by brute force over SPECS."""
    found = []
    for run_name, specs in SPECS.items():
        if CLIENT_OF_RUN[run_name] not in clients:
            continue
        for spec in specs:
            if battery_max is not None and (spec.battery is None or spec.battery > battery_max):
                continue
            if silent_hours is not None and spec.silent_for is not None and spec.silent_for < silent_hours * HOUR:
                continue
            if reported_only and spec.silent_for is None:
                continue
            found.append(spec.serial)
    return sorted(found)


def query(**params) -> str:
    return "&".join(f"{name}={value}" for name, value in params.items() if value is not None)


def list_serials(api, params: str) -> list[str]:
    response = api.get(f"/api/trackers/?size=5000&{params}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == len(body["items"])
    return sorted(item["serial"] for item in body["items"])


def position_serials(api, params: str) -> list[str]:
    response = api.get(f"/api/trackers/positions/?{params}")
    assert response.status_code == 200, response.content
    serial_of = dict(Tracker.objects.values_list("id", "serial"))
    return sorted(serial_of[tracker_id] for tracker_id in response.json()["id"])


def export_serials(api, params: str) -> list[str]:
    response = api.get(f"/api/trackers/export.csv?{params}")
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    return sorted(row["serial"] for row in rows)


# --- The filters on the list, the positions feed and the export -----------------------------


@pytest.mark.parametrize("battery_max", [None, 0, 19, 20, 100])
@pytest.mark.parametrize("silent_hours", [None, 1, 24, 25, 876000])
def test_each_filter_answers_what_a_brute_force_count_says(staff_api, fleet, battery_max, silent_hours):
    params = query(battery_max=battery_max, silent_hours=silent_hours)
    everyone = {"A", "B"}

    assert list_serials(staff_api, params) == expected(everyone, battery_max=battery_max, silent_hours=silent_hours)
    assert export_serials(staff_api, params) == expected(everyone, battery_max=battery_max, silent_hours=silent_hours)
    assert position_serials(staff_api, params) == expected(
        everyone, battery_max=battery_max, silent_hours=silent_hours, reported_only=True
    )


def test_the_filters_combine_with_the_others(owner_api, fleet):
    run = fleet["A1"].pk
    assert list_serials(owner_api, f"battery_max=20&silent_hours=24&production_run_ids={run}") == ["A-20"]
    assert list_serials(owner_api, "battery_max=20&search=a-1") == ["A-19"]
    assert list_serials(owner_api, f"silent_hours=876000&production_run_ids={run}") == ["A-never"]


@pytest.mark.parametrize(
    "actor, clients",
    [("owner_api", {"A"}), ("other_api", {"B"}), ("staff_api", {"A", "B"}), ("nobody_api", set())],
)
def test_each_user_filters_their_own_scope_only(request, fleet, actor, clients):
    api = request.getfixturevalue(actor)
    for params in ("battery_max=20", "silent_hours=24", "silent_hours=876000"):
        name, value = params.split("=")
        assert list_serials(api, params) == expected(clients, **{name: int(value)})
        assert position_serials(api, params) == expected(clients, **{name: int(value)}, reported_only=True)
        assert export_serials(api, params) == expected(clients, **{name: int(value)})


@pytest.fixture
def nobody_api(db):
    """A user with no client who is not staff: sees nothing."""
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_login(make_user("nobody"))
    return api


@pytest.mark.parametrize(
    "params, name",
    [
        ("battery_max=-1", "battery_max"),
        ("battery_max=101", "battery_max"),
        ("battery_max=low", "battery_max"),
        ("battery_max=2.5", "battery_max"),
        ("battery_max=99999999999999999999999", "battery_max"),
        ("silent_hours=0", "silent_hours"),
        ("silent_hours=876001", "silent_hours"),
        ("silent_hours=-24", "silent_hours"),
        ("silent_hours=1e3", "silent_hours"),
    ],
)
@pytest.mark.parametrize("url", ["/api/trackers/", "/api/trackers/positions/", "/api/trackers/export.csv"])
def test_a_bad_value_is_a_400_naming_the_parameter(staff_api, fleet, url, params, name):
    response = staff_api.get(f"{url}?{params}", HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert list(response.json()) == [name]


def test_a_blank_value_is_no_filter(staff_api, fleet):
    assert list_serials(staff_api, "battery_max=&silent_hours=") == expected({"A", "B"})


@pytest.mark.parametrize("name, value", [("battery_max", 20), ("silent_hours", 24)])
def test_they_count_as_filters_for_lazy_mode(staff_api, fleet, name, value):
    params = f"lazy_load=true&{name}={value}"
    assert list_serials(staff_api, params) == expected({"A", "B"}, **{name: value})
    assert position_serials(staff_api, params) == expected({"A", "B"}, **{name: value}, reported_only=True)
    assert staff_api.get("/api/trackers/?lazy_load=true").json()["total"] == 0
    # The stream: a lazy stream with this filter matches (without a filter it matches nothing).
    assert live(battery=10, reported_ago=None).matches(ALL, TrackerFilters(lazy_load=True, **{name: value}), now=NOW)
    assert not live(battery=10, reported_ago=None).matches(ALL, TrackerFilters(lazy_load=True), now=NOW)


# --- Part of the query cache's key; silent_hours as time passes ---------------------------------


def test_each_value_has_its_own_cache_entry(staff_api, fleet, django_assert_num_queries):
    for value in (19, 20):
        list_serials(staff_api, f"battery_max={value}")
    with django_assert_num_queries(2 * AUTH):  # two requests, both hits
        assert list_serials(staff_api, "battery_max=19") == ["A-19", "A-empty", "B-low", "B-quiet"]
        assert list_serials(staff_api, "battery_max=20") == ["A-19", "A-20", "A-empty", "B-low", "B-quiet"]


def test_silent_hours_counts_back_from_the_minute_and_a_cached_answer_never_outlives_it(
    staff_api, fleet, frozen, django_assert_num_queries
):
    url = "/api/trackers/?silent_hours=24&size=5000"
    first = staff_api.get(url)
    assert "A-19" not in list_serials(staff_api, "silent_hours=24")  # silent for 24 h less a second
    frozen["now"] += 29  # the same minute: the same answer, from the cache
    with django_assert_num_queries(AUTH):
        again = staff_api.get(url)
    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert staff_api.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    frozen["now"] += 1  # the next minute, and no write at all: A-19 has now been silent for 24 h
    later = staff_api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    assert later.status_code == 200 and later["ETag"] != first["ETag"]
    assert "A-19" in {item["serial"] for item in later.json()["items"]}
    assert position_serials(staff_api, "silent_hours=24") == sorted(["A-19", "A-20", "A-21", "A-old", "B-quiet"])


def test_a_report_takes_a_tracker_out_of_silent_hours_at_once(
    staff_api, fleet, frozen, django_capture_on_commit_callbacks
):
    assert "A-21" in list_serials(staff_api, "silent_hours=24")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            "/api/location-reports/",
            [{"tracker": "A-21", "timestamp": (AS_OF - timedelta(minutes=5)).isoformat(), "latitude": 45.0,
              "longitude": 5.0, "battery_level": 3}],
            format="json",
        )
    assert response.status_code == 200, response.content

    assert "A-21" not in list_serials(staff_api, "silent_hours=24")
    assert "A-21" in list_serials(staff_api, "battery_max=3")


# --- GET /api/attention/ --------------------------------------------------------------------


def counts(clients: set[str], *, low=20, silent=24) -> dict[str, int]:
    return {
        "low_battery": len(expected(clients, battery_max=low)),
        "silent": len(expected(clients, silent_hours=silent)),
        "never_reported": len(expected(clients, silent_hours=876000)),
    }


def test_the_counts_are_the_lists_totals_with_each_filter(owner_api, fleet):
    body = owner_api.get("/api/attention/").json()

    assert body == {"low_battery": 3, "silent": 5, "never_reported": 2} == counts({"A"})
    assert body["low_battery"] == owner_api.get("/api/trackers/?battery_max=20").json()["total"]
    assert body["silent"] == owner_api.get("/api/trackers/?silent_hours=24").json()["total"]
    assert body["never_reported"] == owner_api.get("/api/trackers/?silent_hours=876000").json()["total"]


@pytest.mark.parametrize(
    "actor, clients",
    [("owner_api", {"A"}), ("other_api", {"B"}), ("staff_api", {"A", "B"}), ("nobody_api", set())],
)
def test_each_user_counts_their_own_scope_only(request, fleet, actor, clients):
    assert request.getfixturevalue(actor).get("/api/attention/").json() == counts(clients)


def test_anonymous_gets_403(fleet, client):
    assert client.get("/api/attention/").status_code == 403


def test_the_thresholds_come_from_the_settings(settings, owner_api, fleet):
    settings.LOW_BATTERY_PERCENT = 50
    settings.SILENT_AFTER_HOURS = 1
    assert owner_api.get("/api/attention/").json() == counts({"A"}, low=50, silent=1) == {
        "low_battery": 5, "silent": 7, "never_reported": 2
    }


def test_a_warm_answer_runs_no_sql_beyond_authentication(owner_api, fleet, django_assert_num_queries):
    first = owner_api.get("/api/attention/")
    with django_assert_num_queries(AUTH):  # the user with their profile (its client: the scope), in one join
        again = owner_api.get("/api/attention/")
    assert again.content == first.content


def test_staff_warm_answer_runs_only_the_user_query(staff_api, fleet, django_assert_num_queries):
    staff_api.get("/api/attention/")
    with django_assert_num_queries(AUTH):
        assert staff_api.get("/api/attention/").json() == counts({"A", "B"})


def test_a_warm_answer_is_two_cache_round_trips_beyond_the_session(staff_api, fleet):
    staff_api.get("/api/attention/")
    with backend_round_trips() as floor:
        staff_api.get("/api/trackers/?lazy_load=true")  # authenticated, answered without any cache
    with backend_round_trips() as warm:
        response = staff_api.get("/api/attention/")
    # The production runs in scope (the reference cache's generation), then the entry with the runs'
    # generations in ONE read: its ETag and its body.
    assert len(warm) == len(floor) + 2
    assert response.has_header("ETag")


def test_a_miss_is_one_query(staff_api, fleet, django_assert_num_queries):
    staff_api.get("/api/trackers/")  # the reference cache warm
    with django_assert_num_queries(AUTH + 1):  # + one filtered COUNT of each chip
        staff_api.get("/api/attention/")


def test_it_answers_a_weak_etag_and_304_for_the_current_one(staff_api, fleet, django_assert_num_queries):
    first = staff_api.get("/api/attention/")
    assert first["ETag"].startswith('W/"')
    assert set(first["Cache-Control"].replace(" ", "").split(",")) == {"private", "no-cache"}

    with django_assert_num_queries(AUTH):
        again = staff_api.get("/api/attention/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304 and again.content == b"" and again["ETag"] == first["ETag"]


def ingest(api, capture, serial: str, *, battery: int, ago: timedelta = timedelta(minutes=5)):
    with capture(execute=True):
        response = api.post(
            "/api/location-reports/",
            [{"tracker": serial, "timestamp": (AS_OF - ago).isoformat(), "latitude": 45.0, "longitude": 5.0,
              "battery_level": battery}],
            format="json",
        )
    assert response.status_code == 200, response.content


def test_an_ingest_in_scope_refreshes_the_counts_and_another_tenants_does_not(
    owner_api, staff_api, fleet, django_capture_on_commit_callbacks
):
    first = owner_api.get("/api/attention/")
    ingest(staff_api, django_capture_on_commit_callbacks, "B-quiet", battery=4)
    assert owner_api.get("/api/attention/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    ingest(staff_api, django_capture_on_commit_callbacks, "A-21", battery=4)  # low now, and not silent
    after = owner_api.get("/api/attention/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert after.status_code == 200
    assert after.json() == {"low_battery": 4, "silent": 4, "never_reported": 2}


def test_the_silent_count_moves_with_the_clock_alone(staff_api, fleet, frozen):
    first = staff_api.get("/api/attention/")
    frozen["now"] += 30  # the next minute: A-19 has been silent for 24 h
    later = staff_api.get("/api/attention/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert later.status_code == 200
    assert later.json()["silent"] == first.json()["silent"] + 1 == counts({"A", "B"})["silent"] + 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_raw_sql_battery_change_reaches_the_counts_through_the_listener(settings, staff_api, fleet):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "DEBOUNCE_SECONDS": 0.1}
    listener = Listener()
    listener.run_once(timeout=0.05)
    invalidation.wait_for_reloads()
    assert staff_api.get("/api/attention/").json()["low_battery"] == 5
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trackers SET battery_level = 1 WHERE serial = 'A-old'")
    assert f"scope:production_run:{fleet['A2'].pk}" in listener.run_once(timeout=2.0)
    listener.close()

    assert staff_api.get("/api/attention/").json()["low_battery"] == 6


# --- The stream matches them in memory ---------------------------------------------------------


def live(tracker_id=1, *, battery=50, reported_ago: float | None = 3600.0, digest=1) -> LiveTracker:
    return LiveTracker(
        id=tracker_id, client_id=7, brand_id=3, production_run_id=5, current_status="in_transit",
        serial=f"a-{tracker_id:05d}", name="crate", nearest_city="lyon", digest=digest,
        battery_level=battery, last_report=None if reported_ago is None else NOW - reported_ago,
    )


CLIENT_7 = Scope(client_id=7, is_all=False, key="client:7")


@pytest.mark.parametrize("battery, matches", [(None, False), (0, True), (20, True), (21, False)])
def test_a_stream_matches_battery_max_at_or_below(battery, matches):
    assert live(battery=battery).matches(CLIENT_7, TrackerFilters(battery_max=20), now=NOW) is matches


@pytest.mark.parametrize(
    "reported_ago, matches", [(None, True), (3600.0, False), (24 * 3600 - 1, False), (24 * 3600, True), (1e9, True)]
)
def test_a_stream_matches_silent_hours_at_the_time_of_the_change(reported_ago, matches):
    filters = TrackerFilters(silent_hours=24, as_of=int(NOW) - 7 * 24 * 3600)  # opened a week ago: not its clock
    assert live(reported_ago=reported_ago).matches(CLIENT_7, filters, now=NOW) is matches


def test_a_silent_tracker_that_reports_leaves_a_silent_stream(frozen):
    stream = Stream(scope=ALL, filters=TrackerFilters(silent_hours=24))
    known = {1: live(1, reported_ago=30 * 3600), 2: live(2, reported_ago=None)}
    batch = {
        1: (live(1, reported_ago=0, digest=2), b'{"id":1}', b'{"id":1}'),
        2: (live(2, reported_ago=None, digest=2), b'{"id":2}', b'{"id":2}'),
    }
    assert stream.changes(batch, known, [1, 2]) == b'{"items":[{"id":2}],"removed":[1]}'


def test_a_tracker_drained_below_battery_max_joins_the_stream(frozen):
    stream = Stream(scope=CLIENT_7, filters=TrackerFilters(battery_max=20))
    batch = {1: (live(1, battery=19, digest=2), b'{"id":1}', b'{"id":1}')}
    assert stream.changes(batch, {1: live(1, battery=21)}, [1]) == b'{"items":[{"id":1}],"removed":[]}'


def test_live_trackers_reads_the_battery_and_the_last_report(fleet):
    ids = Tracker.objects.filter(serial__in=["A-20", "A-never"]).values_list("id", flat=True)
    found = queries.live_trackers(list(ids))
    by_serial = {row[0].serial: row[0] for row in found.values()}
    assert (by_serial["a-20"].battery_level, by_serial["a-20"].last_report) == (20, (AS_OF - 24 * HOUR).timestamp())
    assert (by_serial["a-never"].battery_level, by_serial["a-never"].last_report) == (None, None)


# --- The settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("LOW_BATTERY_PERCENT", "101", "LOW_BATTERY_PERCENT must be a whole percent from 0 to 100."),
        ("LOW_BATTERY_PERCENT", "-1", "LOW_BATTERY_PERCENT must be a whole percent from 0 to 100."),
        ("SILENT_AFTER_HOURS", "0", "SILENT_AFTER_HOURS must be a whole number of hours from 1 to 876000"),
        ("SILENT_AFTER_HOURS", "876001", "SILENT_AFTER_HOURS must be a whole number of hours from 1 to 876000"),
    ],
)
def test_a_threshold_out_of_range_stops_the_process_at_start(variable, value, message):
    setup = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='trackerdash.settings'; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", setup], env={**os.environ, variable: value}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert message in result.stderr
