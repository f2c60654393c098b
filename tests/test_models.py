from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from model_bakery import baker

from dashboard.models import LocationHistory, Tracker, UserProfile


@pytest.fixture
def tracker(db):
    return baker.make(Tracker, serial="T-1", battery_level=50)


def _rejected(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, value", [("latitude", 90.5), ("latitude", -91), ("longitude", 180.1), ("longitude", -181)]
)
def test_location_history_rejects_coordinates_out_of_range(tracker, field, value):
    values = {"latitude": 10.0, "longitude": 10.0, field: value}
    _rejected(lambda: LocationHistory.objects.create(tracker=tracker, timestamp=timezone.now(), **values))
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("confidence", [-0.01, 1.01])
def test_location_history_rejects_confidence_out_of_range(tracker, confidence):
    _rejected(
        lambda: LocationHistory.objects.create(
            tracker=tracker, timestamp=timezone.now(), latitude=1, longitude=1, confidence=confidence
        )
    )


@pytest.mark.django_db
def test_location_history_keeps_one_row_per_tracker_and_instant(tracker):
    at = timezone.now()
    LocationHistory.objects.create(tracker=tracker, timestamp=at, latitude=1, longitude=1)
    _rejected(lambda: LocationHistory.objects.create(tracker=tracker, timestamp=at, latitude=2, longitude=2))
    assert LocationHistory.objects.filter(tracker=tracker).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("battery", [101, 1000])
def test_tracker_rejects_battery_above_100(tracker, battery):
    _rejected(lambda: Tracker.objects.filter(pk=tracker.pk).update(battery_level=battery))
    tracker.refresh_from_db()
    assert tracker.battery_level == 50


@pytest.mark.django_db
def test_tracker_rejects_unknown_status(tracker):
    _rejected(lambda: Tracker.objects.filter(pk=tracker.pk).update(current_status="teleported"))


@pytest.mark.django_db
def test_tracker_serial_is_unique(tracker):
    _rejected(lambda: baker.make(Tracker, serial="T-1"))


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["dashboard.StorageLocation", "dashboard.DeliveryLocation"])
def test_places_reject_coordinates_out_of_range(model):
    _rejected(lambda: baker.make(model, latitude=95, longitude=0))
    _rejected(lambda: baker.make(model, latitude=0, longitude=200))


@pytest.mark.django_db
def test_production_run_cannot_end_before_it_starts():
    _rejected(
        lambda: baker.make(
            "dashboard.ProductionRun", start_date=date(2026, 5, 1), end_date=date(2026, 5, 1) - timedelta(days=1)
        )
    )


@pytest.mark.django_db
def test_a_new_user_gets_a_profile_without_client_or_full_load():
    user = get_user_model().objects.create_user("newcomer", password="x")
    profile = UserProfile.objects.get(user=user)
    assert profile.client is None
    assert profile.prefers_full_load is False


@pytest.mark.django_db
def test_every_model_has_a_readable_str():
    history = baker.make(LocationHistory, latitude=1.5, longitude=2.5, tracker__serial="S-9", tracker__name="Box")
    assert str(history.tracker) == "S-9 Box"
    assert "(1.5000, 2.5000)" in str(history)
    run = baker.make("dashboard.ProductionRun", name="Run 1", brand__name="Nova")
    assert str(run) == "Run 1 (Nova)"
