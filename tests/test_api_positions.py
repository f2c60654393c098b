"""GET /api/trackers/positions/: every matching tracker that has a location, in one columnar answer."""

from datetime import UTC, date, datetime

import pytest
from model_bakery import baker

import cache_layer.testing
from dashboard.models import Brand, LocationHistory, ProductionRun, Tracker
from tests.conftest import make_user
from tests.fleet import add_history, make_fleet, make_trackers

pytestmark = pytest.mark.django_db

URL = "/api/trackers/positions/"
EMPTY = {"total": 0, "id": [], "latitude": [], "longitude": [], "status": [], "timestamp": []}
# Authentication: the user with their profile (one join; the session comes from the cache).
AUTH = 1


@pytest.fixture
def fleets(client_a, client_b):
    """Client A: 4 trackers, 3 of which reported (one in Nice); client B: 2 trackers that reported."""
    mine = make_fleet(client_a, trackers=4, prefix="A")
    theirs = make_fleet(client_b, trackers=2, prefix="B")
    for tracker in mine.trackers[:2] + theirs.trackers:
        add_history(tracker, 3)
    add_history(mine.trackers[2], 2, city="Nice")
    Tracker.objects.filter(pk=mine.trackers[1].pk).update(current_status="lost")
    return mine, theirs


def test_it_answers_columns_in_id_order_with_rounded_coordinates(owner_api, fleets):
    mine, _ = fleets
    tracker = mine.trackers[0]
    LocationHistory.objects.create(
        tracker=tracker, timestamp=datetime(2030, 1, 1, 12, tzinfo=UTC), latitude=48.8566139, longitude=-2.352222
    )
    body = owner_api.get(URL).json()

    reported = sorted(t.id for t in mine.trackers[:3])  # the fourth never reported: left out
    assert body["total"] == 3
    assert body["id"] == reported
    assert all(len(body[key]) == 3 for key in ("latitude", "longitude", "status", "timestamp"))
    first = body["id"].index(tracker.id)
    assert (body["latitude"][first], body["longitude"][first]) == (48.85661, -2.35222)
    assert body["timestamp"][first] == "2030-01-01T12:00:00.000000Z"
    assert body["status"][body["id"].index(mine.trackers[1].id)] == "lost"


@pytest.mark.parametrize(
    "actor, expected",
    [("owner", "A"), ("other_user", "B"), ("staff", "AB"), ("nobody", "")],
)
def test_each_user_sees_their_scope_only(request, fleets, actor, expected):
    from rest_framework.test import APIClient

    mine, theirs = fleets
    user = make_user("nobody") if actor == "nobody" else request.getfixturevalue(actor)
    api = APIClient()
    api.force_login(user)
    ids = set(api.get(URL).json()["id"])
    allowed = {"A": {t.id for t in mine.trackers[:3]}, "B": {t.id for t in theirs.trackers}}
    assert ids == set().union(*(allowed[c] for c in expected))


def test_anonymous_gets_403(fleets, client):
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize(
    "query",
    ["", "status=lost", "status=in_transit,lost", "search=nice", "search=A-0000", "brand_ids={brand}",
     "production_run_ids={run}", "brand_ids={brand}&status=lost", "production_run_ids={other_run}", "search=zzz"],
)
def test_its_trackers_are_the_lists_trackers_that_have_a_location(staff_api, fleets, query):
    mine, theirs = fleets
    query = query.format(brand=mine.brand.id, run=mine.run.id, other_run=theirs.run.id)
    items = staff_api.get(f"/api/trackers/?size=5000&{query}").json()["items"]
    positions = staff_api.get(f"{URL}?{query}").json()
    assert positions["id"] == sorted(item["id"] for item in items if item["latest_location"] is not None)
    by_id = {item["id"]: item for item in items}
    assert positions["status"] == [by_id[i]["current_status"] for i in positions["id"]]
    assert positions["timestamp"] == [by_id[i]["latest_location"]["timestamp"] for i in positions["id"]]


def test_lazy_load_without_a_filter_is_empty_and_reads_no_tracker(staff_api, fleets, django_assert_num_queries):
    with django_assert_num_queries(AUTH):
        assert staff_api.get(f"{URL}?lazy_load=true").json() == EMPTY
    assert staff_api.get(f"{URL}?lazy_load=true&status=lost").json()["total"] == 1


def test_a_bad_filter_is_a_400_naming_it_and_paging_is_ignored(staff_api, fleets):
    response = staff_api.get(f"{URL}?status=bogus&brand_ids=x")
    assert response.status_code == 400
    assert set(response.json()) == {"status", "brand_ids"}
    assert staff_api.get(f"{URL}?page=abc&size=0&ordering=nope").json() == staff_api.get(URL).json()


def test_it_runs_two_queries_for_10_or_1000_trackers(settings, owner_api, client_a, django_assert_num_queries):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_ENABLED": False}  # every request computes
    fleet = make_fleet(client_a, trackers=10)
    for tracker in fleet.trackers:
        add_history(tracker, 2)
    for count in (10, 1000):
        if count == 1000:
            more = make_trackers(fleet.run, 990, start=10)
            LocationHistory.objects.bulk_create(
                LocationHistory(tracker=t, timestamp=datetime(2030, 1, 1, tzinfo=UTC), latitude=1, longitude=2)
                for t in more
            )
        with django_assert_num_queries(AUTH + 1):  # + the trackers joined to their latest locations
            assert owner_api.get(URL).json()["total"] == count


# --- Cached like the list ------------------------------------------------------------------


@pytest.fixture
def runs(client_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        brand = baker.make(Brand, client=client_a, name="Trail")
        run_a = baker.make(ProductionRun, brand=brand, name="RA", start_date=date(2025, 1, 1), end_date=None)
        run_b = baker.make(ProductionRun, brand=brand, name="RB", start_date=date(2025, 2, 1), end_date=None)
        trackers = {run.name: baker.make(Tracker, production_run=run, serial=f"T-{run.name}") for run in (run_a, run_b)}
        for tracker in trackers.values():
            LocationHistory.objects.create(
                tracker=tracker, timestamp=datetime(2025, 4, 1, tzinfo=UTC), latitude=1, longitude=2
            )
    cache_layer.testing.settle()
    return run_a, run_b, trackers


def test_a_hit_runs_no_query_and_an_ingest_refreshes_only_its_run(
    staff_api, runs, django_capture_on_commit_callbacks, django_assert_num_queries
):
    run_a, run_b, trackers = runs
    first = staff_api.get(f"{URL}?production_run_ids={run_a.id}")
    staff_api.get(f"{URL}?production_run_ids={run_b.id}")
    with django_assert_num_queries(AUTH):  # a hit: no tracker query
        assert staff_api.get(f"{URL}?production_run_ids={run_a.id}").content == first.content

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            "/api/location-reports/",
            [{"tracker": "T-RA", "timestamp": "2025-05-01T09:00:00Z", "latitude": 45.123456, "longitude": 5.5}],
            format="json",
        )
    assert response.status_code == 200, response.content
    with django_assert_num_queries(AUTH + 1):  # run A's entry went stale: computed again
        body = staff_api.get(f"{URL}?production_run_ids={run_a.id}").json()
    assert (body["latitude"], body["timestamp"]) == ([45.12346], ["2025-05-01T09:00:00.000000Z"])
    with django_assert_num_queries(AUTH):  # run B's entry is still current
        assert staff_api.get(f"{URL}?production_run_ids={run_b.id}").json()["latitude"] == [1.0]


def test_the_feed_and_the_list_have_separate_entries(staff_api, runs):
    run_a, _, _ = runs
    list_body = staff_api.get(f"/api/trackers/?production_run_ids={run_a.id}").json()
    positions = staff_api.get(f"{URL}?production_run_ids={run_a.id}").json()
    assert "items" in list_body and "items" not in positions
    assert staff_api.get(f"/api/trackers/?production_run_ids={run_a.id}").json() == list_body
