"""The tracker query cache: one entry per scope and normalised filters, fresh per production run."""

import threading
import time
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from django.db import connection
from model_bakery import baker

import cache_layer.query
import cache_layer.testing
from cache_layer import invalidation
from cache_layer.listener import Listener
from dashboard.models import Brand, LocationHistory, ProductionRun, Tracker

pytestmark = pytest.mark.django_db

# Authentication only: 1 the user (the session comes from the cache; staff needs no profile for its scope).
STAFF_AUTH = 1
# A miss: the page with each latest location (a page that isn't full gives the total: no COUNT).
TRACKER_QUERIES = 1


# Newer than the history the tests build (2025), and inside REPORT_MAX_AGE_DAYS whenever the suite runs.
REPORT_DAY = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)


def report(tracker, hour, city):
    return {
        "tracker": tracker.serial,
        "timestamp": (REPORT_DAY + timedelta(hours=hour)).isoformat(),
        "latitude": 45.0,
        "longitude": 5.0,
        "nearest_city": city,
    }


@pytest.fixture
def fleet(client_a, client_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        brand_a = baker.make(Brand, client=client_a, name="Trail")
        run_a = baker.make(ProductionRun, brand=brand_a, name="RA", start_date=date(2025, 1, 1), end_date=None)
        run_b = baker.make(ProductionRun, brand=brand_a, name="RB", start_date=date(2025, 2, 1), end_date=None)
        brand_c = baker.make(Brand, client=client_b, name="Summit")
        run_c = baker.make(ProductionRun, brand=brand_c, name="RC", start_date=date(2025, 3, 1), end_date=None)
        trackers = {
            run.name: baker.make(Tracker, production_run=run, serial=f"T-{run.name}", battery_level=50)
            for run in (run_a, run_b, run_c)
        }
        for tracker in trackers.values():
            baker.make(
                LocationHistory,
                tracker=tracker,
                timestamp=datetime(2025, 4, 1, tzinfo=UTC),
                latitude=1,
                longitude=2,
                nearest_city="Lyon",
                confidence=0.5,
            )
    cache_layer.testing.settle()
    return {"RA": run_a, "RB": run_b, "RC": run_c, "brand_a": brand_a, "trackers": trackers}


def serials(response):
    return [item["serial"] for item in response.json()["items"]]


def cities(response):
    return {item["serial"]: (item["latest_location"] or {}).get("nearest_city") for item in response.json()["items"]}


def test_equivalent_filters_share_one_entry(staff_api, fleet, django_assert_num_queries):
    brand_a = fleet["brand_a"].pk
    first = staff_api.get(f"/api/trackers/?brand_ids={brand_a},{brand_a + 1000}")
    with django_assert_num_queries(STAFF_AUTH):  # no tracker query
        second = staff_api.get(f"/api/trackers/?brand_ids={brand_a + 1000}&brand_ids={brand_a}")
    assert second.content == first.content
    assert sorted(serials(second)) == ["T-RA", "T-RB"]


def test_explicit_defaults_share_the_entry_of_omitted_ones(staff_api, fleet, django_assert_num_queries):
    staff_api.get("/api/trackers/")
    explicit = "page=1&size=100&ordering=-last_report_received&include_latest_location=true&lazy_load=false"
    with django_assert_num_queries(STAFF_AUTH):
        assert sorted(serials(staff_api.get(f"/api/trackers/?{explicit}"))) == ["T-RA", "T-RB", "T-RC"]


def test_a_hit_returns_byte_identical_json_with_the_same_headers(staff_api, fleet):
    miss = staff_api.get("/api/trackers/?size=5000")
    hit = staff_api.get("/api/trackers/?size=5000")
    assert hit.content == miss.content
    assert hit["Content-Type"] == miss["Content-Type"]
    assert orjson.loads(hit.content)["total"] == 3


def test_each_scope_has_its_own_entry(owner_api, other_api, staff_api, fleet):
    run_a = fleet["RA"].pk
    assert sorted(serials(owner_api.get("/api/trackers/"))) == ["T-RA", "T-RB"]
    assert sorted(serials(staff_api.get("/api/trackers/"))) == ["T-RA", "T-RB", "T-RC"]
    assert serials(other_api.get("/api/trackers/")) == ["T-RC"]
    # Client A's cached entries never reach client B's user, whatever the filters.
    owner_api.get(f"/api/trackers/?production_run_ids={run_a}")
    assert serials(other_api.get(f"/api/trackers/?production_run_ids={run_a}")) == []


def test_an_ingest_refreshes_its_run_and_leaves_other_runs_cached(
    staff_api, fleet, django_capture_on_commit_callbacks, django_assert_num_queries
):
    run_a, run_b = fleet["RA"].pk, fleet["RB"].pk
    assert cities(staff_api.get(f"/api/trackers/?production_run_ids={run_a}")) == {"T-RA": "Lyon"}
    staff_api.get(f"/api/trackers/?production_run_ids={run_b}")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            "/api/location-reports/", [report(fleet["trackers"]["RA"], 9, "Grenoble")], format="json"
        )
    assert response.status_code in (200, 201), response.content
    with django_assert_num_queries(STAFF_AUTH + TRACKER_QUERIES):
        assert cities(staff_api.get(f"/api/trackers/?production_run_ids={run_a}")) == {"T-RA": "Grenoble"}
    with django_assert_num_queries(STAFF_AUTH):  # run B's entry is still current
        assert cities(staff_api.get(f"/api/trackers/?production_run_ids={run_b}")) == {"T-RB": "Lyon"}


@pytest.mark.parametrize("path", ["admin", "update"])
def test_a_tracker_moved_between_runs_leaves_neither_run_stale(
    path, staff_api, superuser, client, fleet, django_capture_on_commit_callbacks
):
    run_a, run_b, tracker = fleet["RA"], fleet["RB"], fleet["trackers"]["RA"]
    assert serials(staff_api.get(f"/api/trackers/?production_run_ids={run_a.pk}")) == ["T-RA"]
    assert serials(staff_api.get(f"/api/trackers/?production_run_ids={run_b.pk}")) == ["T-RB"]
    with django_capture_on_commit_callbacks(execute=True):
        if path == "admin":
            client.force_login(superuser)
            response = client.post(
                f"/admin/dashboard/tracker/{tracker.pk}/change/",
                {
                    "production_run": run_b.pk,
                    "serial": tracker.serial,
                    "name": "",
                    "current_status": "in_storage",
                    "battery_level": 50,
                },
            )
            assert response.status_code == 302, response.content
        else:
            Tracker.objects.filter(pk=tracker.pk).update(production_run=run_b)
    assert serials(staff_api.get(f"/api/trackers/?production_run_ids={run_a.pk}")) == []
    assert sorted(serials(staff_api.get(f"/api/trackers/?production_run_ids={run_b.pk}"))) == ["T-RA", "T-RB"]


def test_entries_expire_after_the_ttl(settings, staff_api, fleet, django_assert_num_queries):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_TTL": 2}  # TRACKER_QUERY_CACHE_TTL
    staff_api.get("/api/trackers/")
    with django_assert_num_queries(STAFF_AUTH):
        staff_api.get("/api/trackers/")
    time.sleep(2.1)
    with django_assert_num_queries(STAFF_AUTH + TRACKER_QUERIES):
        staff_api.get("/api/trackers/")


def test_the_query_cache_switched_off_runs_the_query_every_time(settings, staff_api, fleet, django_assert_num_queries):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_ENABLED": False}
    staff_api.get("/api/trackers/")
    with django_assert_num_queries(STAFF_AUTH + TRACKER_QUERIES):
        staff_api.get("/api/trackers/")


@pytest.mark.redis
def test_with_redis_stopped_results_come_from_the_database(
    private_redis, staff_api, fleet, django_capture_on_commit_callbacks, django_assert_num_queries
):
    staff_api.get("/api/trackers/")
    private_redis.stop()
    with django_capture_on_commit_callbacks(execute=True):
        Tracker.objects.filter(serial="T-RC").update(name="Renamed while Redis is down")
    # Auth, the session (from the database: the cache is down), the production runs (the entry's
    # scope comes from them), and the tracker queries.
    with django_assert_num_queries(STAFF_AUTH + 2 + TRACKER_QUERIES):
        response = staff_api.get("/api/trackers/")
    assert response.status_code == 200
    assert {item["name"] for item in response.json()["items"]} >= {"Renamed while Redis is down"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_raw_sql_tracker_update_is_seen_after_the_notification(settings, staff_api, fleet):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "DEBOUNCE_SECONDS": 0.1}
    listener = Listener()
    listener.run_once(timeout=0.05)
    invalidation.wait_for_reloads()
    run_a = fleet["RA"].pk
    url = f"/api/trackers/?production_run_ids={run_a}"
    assert [i["battery_level"] for i in staff_api.get(url).json()["items"]] == [50]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trackers SET battery_level = 7 WHERE production_run_id = %s", [run_a])
    assert f"scope:production_run:{run_a}" in listener.run_once(timeout=2.0)
    listener.close()
    assert [i["battery_level"] for i in staff_api.get(url).json()["items"]] == [7]


def test_one_lookup_serves_the_tag_and_the_entry_and_a_write_after_it_is_never_hidden():
    scopes = [("run", 1)]
    found = cache_layer.query.lookup(name="test", key="small", scopes=scopes)
    assert found.entry is None
    cache_layer.query.bump(scopes)  # a write commits between the read and the computation
    first = cache_layer.query.get_or_compute(name="test", key="small", scopes=scopes, compute=lambda: b"old",
                                             found=found)
    assert first.body == b"old"  # answered as of the read (its tag says the same generations)
    assert cache_layer.query.tag_of(name="test", key="small", seen=found.generations) != cache_layer.query.tag(
        name="test", key="small", scopes=scopes
    )
    # Stored under the generations read before the write: never served as current.
    again = cache_layer.query.lookup(name="test", key="small", scopes=scopes)
    assert again.entry is None
    second = cache_layer.query.get_or_compute(name="test", key="small", scopes=scopes, compute=lambda: b"new",
                                              found=again)
    assert second.body == b"new"
    assert cache_layer.query.lookup(name="test", key="small", scopes=scopes).entry.body == b"new"


def test_a_hot_miss_is_computed_once_while_identical_requests_wait(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "STAMPEDE_WAIT_SECONDS": 10.0}  # a loaded machine is slow
    computed = []
    start = threading.Barrier(10)

    def compute():
        computed.append(1)
        time.sleep(0.2)
        return b'{"items": []}'

    def request():
        start.wait()
        return cache_layer.query.get_or_compute(name="test", key="hot", scopes=[("run", 1)], compute=compute)

    results = []
    threads = [threading.Thread(target=lambda: results.append(request())) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [entry.plain for entry in results] == [b'{"items": []}'] * 10
    assert len(computed) == 1


def test_a_run_moved_to_another_brand_refreshes_its_trackers_brand(
    staff_api, fleet, client_a, django_capture_on_commit_callbacks
):
    other_brand = baker.make(Brand, client=client_a, name="Coast")
    url = f"/api/trackers/?production_run_ids={fleet['RA'].pk}"
    assert [i["brand_id"] for i in staff_api.get(url).json()["items"]] == [fleet["brand_a"].pk]
    with django_capture_on_commit_callbacks(execute=True):
        ProductionRun.objects.filter(pk=fleet["RA"].pk).update(brand=other_brand)
    assert [i["brand_id"] for i in staff_api.get(url).json()["items"]] == [other_brand.pk]


@pytest.mark.parametrize("path", ["bulk_create", "update", "bulk_update", "delete"])
def test_bulk_writes_to_location_history_refresh_the_cached_list_at_once(
    staff_api, fleet, path, django_capture_on_commit_callbacks
):
    """Without the listener (SQLite too): Django's bulk paths on history move their runs' entries."""
    tracker = fleet["trackers"]["RA"]
    url = f"/api/trackers/?production_run_ids={fleet['RA'].pk}"
    assert cities(staff_api.get(url)) == {"T-RA": "Lyon"}
    with django_capture_on_commit_callbacks(execute=True):
        history = LocationHistory.objects.filter(tracker=tracker)
        if path == "bulk_create":
            LocationHistory.objects.bulk_create(
                [
                    LocationHistory(
                        tracker=tracker,
                        timestamp=datetime(2025, 4, 2, tzinfo=UTC),
                        latitude=1,
                        longitude=2,
                        nearest_city="Nice",
                    )
                ]
            )
        elif path == "update":
            history.update(nearest_city="Nice")
        elif path == "bulk_update":
            row = history.get()
            row.nearest_city = "Nice"
            LocationHistory.objects.bulk_update([row], ["nearest_city"])
        else:
            history.delete()
    expected = None if path == "delete" else "Nice"
    assert cities(staff_api.get(url)) == {"T-RA": expected}


def test_deleting_a_tracker_resolves_its_history_rows_runs_once(
    fleet, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    tracker = fleet["trackers"]["RA"]
    LocationHistory.objects.bulk_create(
        [
            LocationHistory(tracker=tracker, timestamp=datetime(2025, 3, day, tzinfo=UTC), latitude=1, longitude=2)
            for day in range(1, 29)
        ]
    )
    # Not one "which run is this tracker in?" query per cascaded history row (29 rows here).
    with django_assert_max_num_queries(12), django_capture_on_commit_callbacks(execute=True):
        tracker.delete()
    assert not LocationHistory.objects.filter(tracker_id=tracker.pk).exists()
