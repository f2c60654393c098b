"""Counts carried by reference rows follow trackers and runs; ingest leaves the reference cache alone."""

from datetime import UTC, date, datetime, timedelta

import pytest
from model_bakery import baker

import cache_layer.testing
from dashboard.models import Brand, ProductionRun, Tracker

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(client_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # as if committed: nothing left to invalidate
        brand = baker.make(Brand, client=client_a, name="Trail")
        run_1 = baker.make(ProductionRun, brand=brand, name="R1", start_date=date(2025, 1, 1), end_date=None)
        run_2 = baker.make(ProductionRun, brand=brand, name="R2", start_date=date(2025, 2, 1), end_date=None)
        tracker = baker.make(Tracker, production_run=run_1, serial="T-1", battery_level=50)
    cache_layer.testing.settle()
    return brand, run_1, run_2, tracker


def counts(api, url, field):
    return {row["name"]: row[field] for row in api.get(url).json()}


def test_adding_a_tracker_changes_its_runs_tracker_count(owner_api, fleet, django_capture_on_commit_callbacks):
    _, run_1, _, _ = fleet
    assert counts(owner_api, "/api/production-runs/", "tracker_count") == {"R1": 1, "R2": 0}
    with django_capture_on_commit_callbacks(execute=True):
        baker.make(Tracker, production_run=run_1, serial="T-2", battery_level=50)
    assert counts(owner_api, "/api/production-runs/", "tracker_count") == {"R1": 2, "R2": 0}


@pytest.mark.parametrize("path", ["save", "save_update_fields_column", "update", "bulk_update"])
def test_moving_a_tracker_moves_its_count(owner_api, fleet, path, django_capture_on_commit_callbacks):
    _, _, run_2, tracker = fleet
    counts(owner_api, "/api/production-runs/", "tracker_count")
    with django_capture_on_commit_callbacks(execute=True):
        if path == "save":
            tracker = Tracker.objects.get(pk=tracker.pk)
            tracker.production_run = run_2
            tracker.save()
        elif path == "save_update_fields_column":  # update_fields may name the column attribute
            tracker = Tracker.objects.get(pk=tracker.pk)
            tracker.production_run_id = run_2.pk
            tracker.save(update_fields=["production_run_id"])
        elif path == "update":
            Tracker.objects.filter(pk=tracker.pk).update(production_run=run_2)
        else:
            tracker.production_run = run_2
            Tracker.objects.bulk_update([tracker], ["production_run"])
    assert counts(owner_api, "/api/production-runs/", "tracker_count") == {"R1": 0, "R2": 1}


def test_adding_a_run_changes_its_brands_run_count(owner_api, fleet, django_capture_on_commit_callbacks):
    brand, *_ = fleet
    assert counts(owner_api, "/api/brands/", "production_run_count") == {"Trail": 2}
    with django_capture_on_commit_callbacks(execute=True):
        baker.make(ProductionRun, brand=brand, name="R3", start_date=date(2025, 3, 1), end_date=None)
    assert counts(owner_api, "/api/brands/", "production_run_count") == {"Trail": 3}


def test_a_tracker_edit_that_does_not_move_it_leaves_the_runs_cached(
    owner_api, fleet, django_capture_on_commit_callbacks, django_assert_num_queries
):
    *_, tracker = fleet
    owner_api.get("/api/reference/")
    with django_capture_on_commit_callbacks(execute=True):
        tracker = Tracker.objects.get(pk=tracker.pk)
        tracker.battery_level = 10
        tracker.save()
    # 1 the user with their profile (its scope, one join; the session comes from the cache) — no reference SQL.
    with django_assert_num_queries(1):
        body = owner_api.get("/api/reference/").json()
    assert {r["name"]: r["tracker_count"] for r in body["production_runs"]} == {"R1": 1, "R2": 0}


def test_an_ingest_batch_leaves_every_reference_entry_cached(
    staff_api, fleet, django_capture_on_commit_callbacks, django_assert_num_queries
):
    assert staff_api.get("/api/reference/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            "/api/location-reports/",
            [
                {
                    "tracker": "T-1",
                    "timestamp": (datetime.now(UTC) - timedelta(days=1)).isoformat(),  # REPORT_MAX_AGE_DAYS
                    "latitude": 1,
                    "longitude": 2,
                }
            ],  # noqa: E501
            format="json",
        )
    assert response.status_code in (200, 201), response.content
    assert Tracker.objects.get(serial="T-1").last_report_received is not None
    # 1 the user (the session comes from the cache) — and no reference SQL: staff needs no profile.
    with django_assert_num_queries(1):
        body = staff_api.get("/api/reference/").json()
    assert {r["name"]: r["tracker_count"] for r in body["production_runs"]} == {"R1": 1, "R2": 0}
