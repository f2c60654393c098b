"""GET /api/trackers/ and its detail, history and export: filters, paging, scope, query counts."""

import csv
import io
import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from model_bakery import baker

from dashboard.filters import TrackerFilterSet
from dashboard.models import LocationHistory, Tracker
from dashboard.queries import TrackerFilters, normalise_tracker_filters
from tests.fleet import add_history, iso, make_fleet, make_trackers


@pytest.fixture(autouse=True)
def _without_the_query_cache(settings):
    # These tests count the list's own SQL; tests/test_cache_query.py covers the query cache.
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_ENABLED": False}


@pytest.fixture(autouse=True)
def _json_support_probed(db):
    # SQLite probes its JSON functions once per connection, on first use: not a query of the list.
    assert connection.features.has_json_object_function


@pytest.fixture
def fleets(client_a, client_b):
    return make_fleet(client_a, prefix="A"), make_fleet(client_b, prefix="B", trackers=2)


def _serials(body):
    return [item["serial"] for item in body["items"]]


def _export(api, query=""):
    response = api.get(f"/api/trackers/export.csv{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- Shape and latest location -----------------------------------------------------------


@pytest.mark.django_db
def test_list_item_carries_the_contract_fields_and_the_latest_location(owner_api, fleets):
    mine, _ = fleets
    tracker = mine.trackers[0]
    add_history(tracker, 3, start=timezone.now() - timedelta(hours=1), city="Lyon")

    body = owner_api.get("/api/trackers/").json()
    assert (body["total"], body["page"], body["size"], body["pages"]) == (3, 1, 100, 1)
    first = body["items"][0]
    assert first["serial"] == tracker.serial  # the only one that reported comes first
    assert set(first) == {
        "id",
        "serial",
        "name",
        "production_run_id",
        "brand_id",
        "current_status",
        "last_report_received",
        "battery_level",
        "latest_location",
    }
    assert first["brand_id"] == mine.brand.id
    latest = LocationHistory.objects.filter(tracker=tracker).order_by("-timestamp").first()
    assert first["latest_location"] == {
        "timestamp": iso(latest.timestamp),
        "latitude": latest.latitude,
        "longitude": latest.longitude,
        "nearest_city": "Lyon",
        "confidence": 0.5,
    }
    assert first["last_report_received"] == first["latest_location"]["timestamp"]
    assert [item["latest_location"] for item in body["items"][1:]] == [None, None]


@pytest.mark.django_db
def test_latest_location_matches_brute_force_on_random_histories(staff_api, client_a):
    """Several hundred trackers, random timestamps inserted out of order; some never report."""
    rng = random.Random(20261126)
    fleet = make_fleet(client_a, trackers=0)
    trackers = make_trackers(fleet.run, 300)
    base = timezone.now() - timedelta(days=30)
    rows = []
    for tracker in trackers[:270]:
        minutes = rng.sample(range(0, 40_000), rng.randint(1, 12))  # distinct: one row per instant
        for minute in minutes:  # random order, so ids do not follow time
            rows.append(
                LocationHistory(
                    tracker=tracker,
                    timestamp=base + timedelta(minutes=minute, microseconds=rng.randint(0, 999_999)),
                    latitude=rng.uniform(-90, 90),
                    longitude=rng.uniform(-180, 180),
                    nearest_city=rng.choice(["Lyon", "Nice", "Oslo"]),
                    confidence=rng.choice([None, rng.random()]),
                )
            )
    rng.shuffle(rows)
    LocationHistory.objects.bulk_create(rows)

    expected = {tracker.id: None for tracker in trackers}
    for row in LocationHistory.objects.all():
        best = expected[row.tracker_id]
        if best is None or (row.timestamp, row.id) > (best.timestamp, best.id):
            expected[row.tracker_id] = row

    items = staff_api.get("/api/trackers/?size=5000").json()["items"]
    assert len(items) == 300
    for item in items:
        best = expected[item["id"]]
        if best is None:
            assert item["latest_location"] is None
        else:
            location = item["latest_location"]
            assert location["timestamp"] == iso(best.timestamp)
            assert (location["latitude"], location["longitude"]) == pytest.approx((best.latitude, best.longitude))
            assert location["nearest_city"] == best.nearest_city
            assert location["confidence"] == (None if best.confidence is None else pytest.approx(best.confidence))


@pytest.mark.django_db
def test_include_latest_location_false_leaves_it_out_and_never_reads_history(owner_api, fleets):
    add_history(fleets[0].trackers[0], 2)
    with CaptureQueriesContext(connection) as captured:
        items = owner_api.get("/api/trackers/?include_latest_location=false").json()["items"]
    assert items and all("latest_location" not in item for item in items)
    assert not any("location_history" in query["sql"] for query in captured.captured_queries)


# --- Filters -----------------------------------------------------------------------------


@pytest.fixture
def mixed_fleet(client_a):
    fleet = make_fleet(client_a, trackers=0)
    other_brand = baker.make("dashboard.Brand", client=client_a, name="Other brand")
    other_run = baker.make("dashboard.ProductionRun", brand=other_brand, name="Other run", start_date="2026-01-01")
    make_trackers(fleet.run, 2, prefix="RUN1")
    make_trackers(other_run, 2, prefix="RUN2")
    Tracker.objects.filter(serial="RUN1-00000").update(current_status="lost")
    Tracker.objects.filter(serial="RUN2-00001").update(current_status="delivered", name="Blue crate")
    add_history(Tracker.objects.get(serial="RUN2-00000"), 1, city="Göteborg")
    return fleet, other_brand, other_run


@pytest.mark.django_db
def test_filters_combine_and_accept_both_list_forms(owner_api, mixed_fleet):
    fleet, other_brand, other_run = mixed_fleet

    def serials(query):
        return sorted(_serials(owner_api.get(f"/api/trackers/?{query}").json()))

    assert serials(f"brand_ids={fleet.brand.id}") == ["RUN1-00000", "RUN1-00001"]
    both = ["RUN1-00000", "RUN1-00001", "RUN2-00000", "RUN2-00001"]
    assert serials(f"brand_ids={fleet.brand.id},{other_brand.id}") == both
    assert serials(f"brand_ids={fleet.brand.id}&brand_ids={other_brand.id}") == both
    assert serials(f"production_run_ids={other_run.id}") == ["RUN2-00000", "RUN2-00001"]
    assert serials("status=lost,delivered") == ["RUN1-00000", "RUN2-00001"]
    assert serials("status=lost&status=delivered") == ["RUN1-00000", "RUN2-00001"]
    assert serials(f"status=lost&production_run_ids={other_run.id}") == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "search, expected",
    [("run2-00001", ["RUN2-00001"]), ("BLUE", ["RUN2-00001"]), ("göteborg", ["RUN2-00000"]), ("  ", None)],
)
def test_search_matches_serial_name_or_latest_city_case_insensitively(owner_api, mixed_fleet, search, expected):
    body = owner_api.get("/api/trackers/", {"search": search}).json()
    if expected is None:  # a blank search is no filter
        assert body["total"] == 4
    else:
        assert sorted(_serials(body)) == expected


@pytest.mark.django_db
def test_search_treats_like_wildcards_and_sql_as_text(owner_api, mixed_fleet):
    for text in ["%", "_", "' OR 1=1 --", '"; DROP TABLE trackers; --']:
        response = owner_api.get("/api/trackers/", {"search": text})
        assert response.status_code == 200
        assert response.json()["total"] == 0
    assert Tracker.objects.count() == 4


@pytest.mark.django_db
def test_equivalent_parameters_normalise_to_one_key():
    def normal(query):
        filterset = TrackerFilterSet(data=query, queryset=Tracker.objects.none())
        assert filterset.is_valid(), filterset.errors
        return normalise_tracker_filters(filterset.form.cleaned_data)

    from django.http import QueryDict

    a = normal(QueryDict("brand_ids=2,1&status=lost&status=delivered,lost"))
    b = normal(QueryDict("brand_ids=1&brand_ids=2&brand_ids=2&status=delivered,lost&page=1&size=100"))
    assert a == b and hash(a) == hash(b) and a.key() == b.key()
    assert a == TrackerFilters(brand_ids=(1, 2), statuses=("delivered", "lost"))
    assert normal(QueryDict("")) == TrackerFilters()
    assert normal(QueryDict("lazy_load=true&page=3&size=7")) == normal(QueryDict("lazy_load=1"))


# --- Paging and ordering -----------------------------------------------------------------


@pytest.mark.django_db
def test_default_order_is_newest_report_first_and_never_reported_last(owner_api, client_a):
    fleet = make_fleet(client_a, trackers=4)
    now = timezone.now()
    old, new, never, newest = fleet.trackers
    add_history(old, 1, start=now - timedelta(days=3))
    add_history(new, 1, start=now - timedelta(days=1))
    add_history(newest, 1, start=now - timedelta(hours=1))

    assert _serials(owner_api.get("/api/trackers/").json()) == [newest.serial, new.serial, old.serial, never.serial]
    ascending = _serials(owner_api.get("/api/trackers/?ordering=last_report_received").json())
    assert ascending == [old.serial, new.serial, newest.serial, never.serial]
    assert _serials(owner_api.get("/api/trackers/?ordering=-serial").json()) == sorted(
        [t.serial for t in fleet.trackers], reverse=True
    )


@pytest.mark.django_db
def test_pages_split_the_list_without_overlap(owner_api, client_a):
    fleet = make_fleet(client_a, trackers=7)
    pages = [owner_api.get(f"/api/trackers/?size=3&page={page}&ordering=serial").json() for page in (1, 2, 3, 4)]
    assert [len(page["items"]) for page in pages] == [3, 3, 1, 0]
    assert all((page["total"], page["pages"], page["size"]) == (7, 3, 3) for page in pages)
    assert sum((_serials(page) for page in pages), []) == sorted(t.serial for t in fleet.trackers)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("page", "queries", "items"),
    [
        (1, 3, 3),  # the user with their profile, the page, COUNT (a full page can't tell the total)
        (3, 2, 1),  # the user with their profile, the page (the last one: offset + its rows = the total)
        (4, 3, 0),  # the user with their profile, the page (empty), COUNT
    ],
)
def test_a_page_counts_the_matches_only_when_its_rows_cannot_tell_the_total(
    owner_api, client_a, django_assert_num_queries, page, queries, items
):
    make_fleet(client_a, trackers=7)
    with django_assert_num_queries(queries):
        body = owner_api.get(f"/api/trackers/?size=3&page={page}&ordering=serial").json()
    assert (len(body["items"]), body["total"], body["pages"]) == (items, 7, 3)


# --- Lazy load ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_lazy_load_without_filter_is_the_empty_page_and_runs_no_tracker_query(
    staff_api, fleets, django_assert_num_queries
):
    # the user; nothing else (the session comes from the cache, staff needs no profile, no tracker is read).
    with django_assert_num_queries(1):
        response = staff_api.get("/api/trackers/?lazy_load=true&page=3&ordering=serial")
    assert response.json() == {"items": [], "total": 0, "page": 1, "size": 0, "pages": 0}


@pytest.mark.django_db
def test_lazy_load_with_a_filter_answers_normally(owner_api, fleets):
    mine, _ = fleets
    for query in [f"brand_ids={mine.brand.id}", f"production_run_ids={mine.run.id}", "status=in_transit", "search=A-"]:
        body = owner_api.get(f"/api/trackers/?lazy_load=true&{query}").json()
        assert body["total"] == 3, query


# --- Constant number of queries ----------------------------------------------------------


def _list_queries(api, django_assert_num_queries):
    # the user with their profile (the scope, one join; the session comes from the cache), the page
    # with its latest-location subquery (not full: its rows are the total, no COUNT).
    with django_assert_num_queries(2):
        response = api.get("/api/trackers/?size=5000")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_the_list_runs_the_same_queries_for_10_and_1000_trackers(owner_api, client_a, django_assert_num_queries):
    fleet = make_fleet(client_a, trackers=10)
    for tracker in fleet.trackers:
        add_history(tracker, 1)
    assert _list_queries(owner_api, django_assert_num_queries)["total"] == 10

    more = make_trackers(fleet.run, 990, start=10)
    now = timezone.now()
    LocationHistory.objects.bulk_create(
        LocationHistory(tracker=tracker, timestamp=now, latitude=1.0, longitude=1.0) for tracker in more
    )
    assert _list_queries(owner_api, django_assert_num_queries)["total"] == 1000


@pytest.mark.django_db
def test_the_list_runs_the_same_queries_for_1_and_500_history_rows(owner_api, client_a, django_assert_num_queries):
    fleet = make_fleet(client_a, trackers=10)
    for tracker in fleet.trackers:
        add_history(tracker, 1)
    _list_queries(owner_api, django_assert_num_queries)

    LocationHistory.objects.all().delete()
    for tracker in fleet.trackers:
        add_history(tracker, 500)
    items = _list_queries(owner_api, django_assert_num_queries)["items"]
    assert all(item["latest_location"] is not None for item in items)


@pytest.mark.django_db
def test_a_filtered_search_still_runs_one_query_beyond_authentication(
    owner_api, mixed_fleet, django_assert_num_queries
):
    fleet, _, _ = mixed_fleet
    # the user with their profile (the session comes from the cache), the page (not full: no COUNT).
    with django_assert_num_queries(2):
        owner_api.get(f"/api/trackers/?brand_ids={fleet.brand.id}&status=lost&search=run")


# --- Detail, history, export -------------------------------------------------------------


@pytest.mark.django_db
def test_detail_is_one_list_item_with_its_storage_and_delivery_location(owner_api, fleets):
    fleet = fleets[0]
    tracker = fleet.trackers[0]
    tracker.storage_location = fleet.storage
    tracker.delivery_location = fleet.delivery
    tracker.save()
    add_history(tracker, 2)
    detail = owner_api.get(f"/api/trackers/{tracker.id}/").json()
    listed = owner_api.get(f"/api/trackers/?search={tracker.serial}").json()["items"]
    assert detail.pop("storage_location_id") == fleet.storage.id
    assert detail.pop("delivery_location_id") == fleet.delivery.id
    assert [detail] == listed


@pytest.mark.django_db
def test_unknown_or_huge_tracker_id_is_a_404(owner_api, fleets):
    assert owner_api.get("/api/trackers/999999/").status_code == 404
    assert owner_api.get(f"/api/trackers/{'9' * 30}/").status_code == 404
    assert owner_api.get(f"/api/trackers/{'9' * 30}/history/").status_code == 404


@pytest.mark.django_db
def test_history_is_newest_first_paginated_and_windowed(owner_api, fleets):
    tracker = fleets[0].trackers[0]
    start = timezone.now() - timedelta(hours=2)
    add_history(tracker, 10, start=start)

    body = owner_api.get(f"/api/trackers/{tracker.id}/history/?size=4").json()
    assert (body["total"], body["pages"], len(body["items"])) == (10, 3, 4)
    stamps = [item["timestamp"] for item in body["items"]]
    assert stamps == sorted(stamps, reverse=True)

    since = (start + timedelta(minutes=3)).isoformat()
    until = (start + timedelta(minutes=5)).isoformat()
    windowed = owner_api.get(f"/api/trackers/{tracker.id}/history/", {"since": since, "until": until}).json()
    assert windowed["total"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["since=yesterday", "until=2026-13-01", "page=0", "size=5001", "size=x"])
def test_bad_history_parameters_are_a_400_naming_them(owner_api, fleets, query):
    tracker = fleets[0].trackers[0]
    response = owner_api.get(f"/api/trackers/{tracker.id}/history/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


@pytest.mark.django_db
def test_export_streams_every_matching_tracker_with_its_latest_location(owner_api, client_a):
    fleet = make_fleet(client_a, trackers=0)
    trackers = make_trackers(fleet.run, 150)
    add_history(trackers[0], 2, city="Lyon")

    rows = _export(owner_api, "?size=1&ordering=serial")  # paging does not limit an export
    assert len(rows) == 150
    assert rows[0]["serial"] == trackers[0].serial
    assert rows[0]["latest_nearest_city"] == "Lyon"
    assert rows[0]["latest_timestamp"] == rows[0]["last_report_received"]
    assert rows[1]["latest_timestamp"] == ""
    assert _export(owner_api, "?status=lost") == []


@pytest.mark.django_db
def test_export_rejects_bad_filters_like_the_list(owner_api):
    response = owner_api.get("/api/trackers/export.csv?brand_ids=abc")
    assert response.status_code == 400
    assert "brand_ids" in response.json()


# --- Scope matrix ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_other_client_sees_none_of_this_clients_trackers_anywhere(owner_api, other_api, staff_api, fleets):
    mine, theirs = fleets
    tracker = mine.trackers[0]
    add_history(tracker, 2)
    mine_serials = {t.serial for t in mine.trackers}

    assert not mine_serials & set(_serials(other_api.get("/api/trackers/?size=5000").json()))
    for query in [f"brand_ids={mine.brand.id}", f"production_run_ids={mine.run.id}", f"search={tracker.serial}"]:
        assert other_api.get(f"/api/trackers/?{query}").json()["total"] == 0, query
        assert _export(other_api, f"?{query}") == [], query
    assert not mine_serials & {row["serial"] for row in _export(other_api)}
    assert other_api.get(f"/api/trackers/{tracker.id}/").status_code == 404
    assert other_api.get(f"/api/trackers/{tracker.id}/history/").status_code == 404

    assert owner_api.get(f"/api/trackers/{tracker.id}/history/").json()["total"] == 2
    assert staff_api.get("/api/trackers/").json()["total"] == 5
    assert len(_export(staff_api)) == 5
    assert staff_api.get(f"/api/trackers/{theirs.trackers[0].id}/").status_code == 200


@pytest.mark.django_db
def test_a_user_with_neither_client_nor_staff_sees_no_trackers(fleets):
    from rest_framework.test import APIClient

    from tests.conftest import make_user

    api = APIClient()
    api.force_login(make_user("loner"))
    assert api.get("/api/trackers/").json()["total"] == 0
    assert _export(api) == []
    assert api.get(f"/api/trackers/{fleets[0].trackers[0].id}/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/api/trackers/", "/api/trackers/1/", "/api/trackers/1/history/", "/api/trackers/export.csv"]
)
def test_anonymous_gets_no_trackers(url):
    from rest_framework.test import APIClient

    assert APIClient().get(url).status_code in (401, 403)
