"""Conditional GET: the tracker list, the reference data and the scope summary carry an ETag from the
caches' generations and `Cache-Control: private, no-cache`; `If-None-Match` with the current tag is a 304
with no body and no tracker query, and a write the answer covers makes the tag stale (a 200 with a new one)."""

from datetime import UTC, datetime, timedelta

import pytest

import cache_layer.testing
from dashboard.models import Brand, LocationHistory
from tests import test_cache_query

# Runs RA and RB of client A, RC of client B, a tracker with one report in each: the query cache's own fleet.
fleet = test_cache_query.fleet

pytestmark = pytest.mark.django_db

# Authentication only: the user (the session comes from the cache; staff needs no profile for its scope).
STAFF_AUTH = 1


def report(tracker, hours_ago: int, city: str) -> dict:
    return {
        "tracker": tracker.serial,
        "timestamp": (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(),
        "latitude": 45.0,
        "longitude": 5.0,
        "nearest_city": city,
    }


def ingest(api, capture, *reports):
    with capture(execute=True):
        response = api.post("/api/location-reports/", list(reports), format="json")
    assert response.status_code == 200, response.content


def test_the_list_answers_with_a_weak_etag_and_must_be_revalidated(staff_api, fleet):
    response = staff_api.get(f"/api/trackers/?production_run_ids={fleet['RA'].pk}")

    assert response.status_code == 200
    assert response["ETag"].startswith('W/"') and response["ETag"].endswith('"')
    assert set(response["Cache-Control"].replace(" ", "").split(",")) == {"private", "no-cache"}


def test_the_current_tag_is_a_304_with_no_body_and_no_tracker_query(staff_api, fleet, django_assert_num_queries):
    url = f"/api/trackers/?production_run_ids={fleet['RA'].pk}"
    first = staff_api.get(url)

    with django_assert_num_queries(STAFF_AUTH):  # the user; no tracker, no reference query
        again = staff_api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert "private" in again["Cache-Control"]


def test_a_write_the_list_covers_makes_the_tag_stale(staff_api, fleet, django_capture_on_commit_callbacks):
    url = f"/api/trackers/?production_run_ids={fleet['RA'].pk}"
    first = staff_api.get(url)
    ingest(staff_api, django_capture_on_commit_callbacks, report(fleet["trackers"]["RA"], 1, "Lyon"))

    after = staff_api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    assert after.status_code == 200
    assert after["ETag"] != first["ETag"]
    assert after.json()["items"][0]["latest_location"]["nearest_city"] == "Lyon"
    assert staff_api.get(url, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304


def test_a_write_to_another_run_leaves_the_tag_current(staff_api, fleet, django_capture_on_commit_callbacks):
    url = f"/api/trackers/?production_run_ids={fleet['RA'].pk}"
    first = staff_api.get(url)
    ingest(staff_api, django_capture_on_commit_callbacks, report(fleet["trackers"]["RB"], 1, "Nice"))

    assert staff_api.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert LocationHistory.objects.filter(tracker=fleet["trackers"]["RB"], nearest_city="Nice").exists()


def test_a_tag_names_the_scope_and_the_filters(owner_api, other_api, staff_api, fleet):
    owners = owner_api.get("/api/trackers/")
    others = other_api.get("/api/trackers/")
    filtered = owner_api.get(f"/api/trackers/?production_run_ids={fleet['RA'].pk}")

    assert len({owners["ETag"], others["ETag"], filtered["ETag"]}) == 3
    # Another client's tag is never a 304 for this user: the body would be another tenant's.
    assert owner_api.get("/api/trackers/", HTTP_IF_NONE_MATCH=others["ETag"]).status_code == 200
    assert [item["serial"] for item in others.json()["items"]] == ["T-RC"]


def test_the_lazy_empty_page_is_tagged_by_its_bytes(staff_api, fleet, django_assert_num_queries):
    first = staff_api.get("/api/trackers/?lazy_load=true")

    with django_assert_num_queries(STAFF_AUTH):
        again = staff_api.get("/api/trackers/?lazy_load=true&page=4", HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304


def test_reference_data_is_a_304_until_a_reference_table_changes(
    owner_api, fleet, django_assert_num_queries, django_capture_on_commit_callbacks
):
    first = owner_api.get("/api/reference/")
    assert first.status_code == 200
    with django_assert_num_queries(1):  # the user with their profile; no reference table is read
        assert owner_api.get("/api/reference/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    with django_capture_on_commit_callbacks(execute=True):
        Brand.objects.filter(pk=fleet["brand_a"].pk).update(name="Trail & Co")
    cache_layer.testing.settle()
    after = owner_api.get("/api/reference/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert after.status_code == 200
    assert after["ETag"] != first["ETag"]
    assert [brand["name"] for brand in after.json()["brands"]] == ["Trail & Co"]


def test_the_scope_summary_is_a_304_until_the_preference_changes(owner_api, fleet):
    first = owner_api.get("/api/me/scope/")
    assert owner_api.get("/api/me/scope/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    owner_api.patch("/api/me/preferences/", {"prefers_full_load": True}, format="json")
    after = owner_api.get("/api/me/scope/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert after.status_code == 200
    assert after.json()["prefers_full_load"] is True


def test_with_the_cache_off_there_is_no_tag_and_every_request_gets_the_body(staff_api, fleet, settings):
    url = f"/api/trackers/?production_run_ids={fleet['RA'].pk}"
    tag = staff_api.get(url)["ETag"]
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "ENABLED": False}

    response = staff_api.get(url, HTTP_IF_NONE_MATCH=tag)

    assert response.status_code == 200
    assert "ETag" not in response
    assert [item["serial"] for item in response.json()["items"]] == ["T-RA"]


def test_a_bad_parameter_is_still_a_400_whatever_the_tag(staff_api, fleet):
    tag = staff_api.get("/api/trackers/")["ETag"]

    response = staff_api.get("/api/trackers/?size=0", HTTP_IF_NONE_MATCH=tag)

    assert response.status_code == 400
    assert "size" in response.json()
