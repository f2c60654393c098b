"""Every bad parameter or ingest row is a 400 naming it (never a 500), and stores nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.filters import TrackerFilterSet
from dashboard.models import LocationHistory, Tracker
from tests.fleet import make_fleet


@pytest.fixture
def fleet(client_a):
    return make_fleet(client_a, trackers=2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, field",
    [
        ({"brand_ids": "abc"}, "brand_ids"),
        ({"brand_ids": "1,,x"}, "brand_ids"),
        ({"brand_ids": "1,,2"}, "brand_ids"),
        ({"brand_ids": "1" * 30}, "brand_ids"),
        ({"brand_ids": "9223372036854775808"}, "brand_ids"),
        ({"brand_ids": "-1"}, "brand_ids"),
        ({"brand_ids": "0"}, "brand_ids"),
        ({"brand_ids": "１"}, "brand_ids"),  # a full-width digit is not an id
        ({"production_run_ids": "1.5"}, "production_run_ids"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "1" * 30}, "page"),
        ({"page": str(2**63 - 1), "size": "5000"}, "page"),  # its offset would overflow BIGINT
        ({"page": "2000000000000000", "size": "5000"}, "page"),
        ({"size": "0"}, "size"),
        ({"size": "100000"}, "size"),
        ({"status": "bogus"}, "status"),
        ({"status": "lost,bogus"}, "status"),
        ({"ordering": "password"}, "ordering"),
        ({"ordering": "production_run__brand__client__name"}, "ordering"),
        ({"include_latest_location": "maybe"}, "include_latest_location"),
        ({"lazy_load": "perhaps"}, "lazy_load"),
        ({"search": "x" * 10_000}, "search"),
        ({"search": "x" * 201}, "search"),
        ({"search": "a\x00b"}, "search"),  # PostgreSQL can't hold NUL: must not reach it
        ({"brand_ids": "1\x00"}, "brand_ids"),
    ],
)
@pytest.mark.parametrize("url", ["/api/trackers/", "/api/trackers/export.csv"])
def test_a_bad_tracker_parameter_is_a_400_naming_it(owner_api, fleet, url, params, field):
    response = owner_api.get(url, params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "search",
    [
        "'; DROP TABLE trackers; --",
        "1' OR '1'='1",
        "%' UNION SELECT password FROM auth_user --",
        "\\",
        "\x00"[:0] + "][",
    ],
)
def test_sql_ish_searches_are_plain_text(owner_api, fleet, search):
    response = owner_api.get("/api/trackers/", {"search": search})
    assert response.status_code == 200
    assert response.json()["total"] == 0
    assert Tracker.objects.count() == 2


@pytest.mark.django_db
def test_search_of_exactly_200_characters_is_accepted(owner_api, fleet):
    assert owner_api.get("/api/trackers/", {"search": "x" * 200}).status_code == 200


def _row(serial, **changes):
    row = {
        "tracker": serial,
        "timestamp": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "latitude": 10.0,
        "longitude": 10.0,
    }
    row.update(changes)
    return {key: value for key, value in row.items() if value is not None}


BAD_ROWS = [
    ({"latitude": 91}, "latitude"),
    ({"latitude": -90.5}, "latitude"),
    ({"longitude": -181}, "longitude"),
    ({"longitude": "east"}, "longitude"),
    ({"confidence": 1.5}, "confidence"),
    ({"timestamp": None}, "timestamp"),
    ({"latitude": None}, "latitude"),
    ({"timestamp": "last tuesday"}, "timestamp"),
    ({"timestamp": "far-future"}, "timestamp"),
    ({"tracker": "UNKNOWN-SERIAL"}, "tracker"),
    ({"tracker": None}, "tracker"),
    ({"tracker": "A-\x00"}, "tracker"),
    ({"nearest_city": "x" * 201}, "nearest_city"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("changes, field", BAD_ROWS)
def test_a_bad_ingest_row_is_a_400_naming_its_index_and_field_and_stores_nothing(staff_api, fleet, changes, field):
    serial = fleet.trackers[0].serial
    if changes.get("timestamp") == "far-future":
        changes = {"timestamp": (timezone.now() + timedelta(minutes=10)).isoformat()}
    batch = [_row(serial), _row(serial, **changes)]
    response = staff_api.post("/api/location-reports/", batch, format="json")

    assert response.status_code == 400
    assert field in response.json()["1"]
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
def test_a_timestamp_within_five_minutes_ahead_is_accepted(staff_api, fleet):
    row = _row(fleet.trackers[0].serial, timestamp=(timezone.now() + timedelta(minutes=4)).isoformat())
    assert staff_api.post("/api/location-reports/", [row], format="json").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"tracker": "x"}, "a string", 42, []])
def test_an_ingest_body_that_is_not_a_list_of_reports_is_a_400(staff_api, fleet, body):
    response = staff_api.post("/api/location-reports/", body, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


@pytest.mark.django_db
def test_more_than_10000_rows_is_a_400_and_stores_nothing(staff_api, fleet):
    row = _row(fleet.trackers[0].serial)
    response = staff_api.post("/api/location-reports/", [row] * 10_001, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
def test_malformed_json_is_a_400(staff_api):
    response = staff_api.generic("POST", "/api/location-reports/", "[{", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_bad_parameter_after_a_good_request_is_still_named(owner_api):
    # The form class is built once and shared; each request's form and errors are its own.
    assert owner_api.get("/api/trackers/?size=10").status_code == 200
    bad = owner_api.get("/api/trackers/?size=0&page=x")
    assert bad.status_code == 400
    assert set(bad.json()) == {"size", "page"}
    assert owner_api.get("/api/trackers/?size=10").status_code == 200
    assert TrackerFilterSet.bound_form({}).__class__ is TrackerFilterSet().get_form_class()
