"""Ingest refuses reports older than REPORT_MAX_AGE_DAYS or than the retention window, naming the row."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dashboard.models import LocationHistory, Tracker
from tests.fleet import make_fleet

URL = "/api/location-reports/"


@pytest.fixture
def tracker(client_a):
    return make_fleet(client_a, trackers=1).trackers[0]


def report(tracker, when):
    return {"tracker": tracker.serial, "timestamp": when.isoformat(), "latitude": 48.85, "longitude": 2.35}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "when",
    [datetime(1, 1, 1, tzinfo=UTC), timezone.now() - timedelta(days=400)],
    ids=["year-1", "400-days-old"],
)
def test_a_report_older_than_report_max_age_is_a_bad_row_and_nothing_is_stored(staff_api, tracker, when):
    batch = [report(tracker, timezone.now() - timedelta(minutes=1)), report(tracker, when)]
    response = staff_api.post(URL, batch, format="json")

    assert response.status_code == 400
    assert response.json() == {"1": {"timestamp": ["Reports older than 366 days (REPORT_MAX_AGE_DAYS) are refused."]}}
    assert not LocationHistory.objects.exists()
    tracker.refresh_from_db()
    assert tracker.last_report_received is None


@pytest.mark.django_db
def test_a_report_just_inside_the_window_is_accepted(staff_api, tracker):
    # A device that buffered its reports offline for a year uploads them: the oldest still gets in.
    when = (timezone.now() - timedelta(days=366) + timedelta(minutes=1)).replace(microsecond=0)
    response = staff_api.post(URL, [report(tracker, when)], format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert list(LocationHistory.objects.values_list("timestamp", flat=True)) == [when]


@pytest.mark.django_db
def test_report_max_age_days_sets_the_window(staff_api, tracker, settings):
    settings.REPORT_MAX_AGE_DAYS = 7
    response = staff_api.post(
        URL,
        [report(tracker, timezone.now() - timedelta(days=6)), report(tracker, timezone.now() - timedelta(days=8))],
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"1": {"timestamp": ["Reports older than 7 days (REPORT_MAX_AGE_DAYS) are refused."]}}


@pytest.mark.django_db
def test_a_report_older_than_the_retention_window_is_refused_too(staff_api, tracker, settings):
    # It would be stored only to be dropped by the next maintain_history run.
    settings.HISTORY_RETENTION_DAYS = 30
    inside = (timezone.now() - timedelta(days=29)).replace(microsecond=0)
    response = staff_api.post(
        URL, [report(tracker, inside), report(tracker, timezone.now() - timedelta(days=31))], format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"1": {"timestamp": ["Reports older than 30 days (HISTORY_RETENTION_DAYS) are refused."]}}
    assert not LocationHistory.objects.exists()

    assert staff_api.post(URL, [report(tracker, inside)], format="json").json() == {"accepted": 1, "duplicates": 0}
    assert Tracker.objects.get(pk=tracker.pk).last_report_received == inside
