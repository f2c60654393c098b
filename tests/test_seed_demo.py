import random
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min

from dashboard.models import Brand, Client, LocationHistory, Tracker, TrackerStatus
from dashboard.seeding import battery_at_last_report


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_it_makes_exactly_the_requested_counts_and_prints_logins():
    output = seed("--clients", "2", "--trackers", "60", "--history", "15")
    assert Client.objects.count() == 2
    assert Tracker.objects.count() == 60
    per_tracker = set(Tracker.objects.annotate(n=Count("locations")).values_list("n", flat=True))
    assert per_tracker <= {0, 15}
    reporting = Tracker.objects.filter(last_report_received__isnull=False).count()
    assert reporting > 0
    assert LocationHistory.objects.count() == 15 * reporting
    users = get_user_model().objects.all()
    assert users.filter(is_staff=True, username="admin").exists()
    assert sorted(u.profile.client.name for u in users.filter(is_staff=False)) == sorted(
        Client.objects.values_list("name", flat=True)
    )
    assert "admin / demo-password" in output
    assert "60 trackers" in output


@pytest.mark.django_db
def test_histories_are_in_time_order_inside_coordinate_ranges_and_match_the_tracker():
    seed("--clients", "2", "--trackers", "40", "--history", "12", "--seed", "7")
    for tracker in Tracker.objects.all():
        rows = list(tracker.locations.order_by("id").values_list("timestamp", "latitude", "longitude", "confidence"))
        if not rows:
            assert tracker.last_report_received is None
            assert tracker.current_status == TrackerStatus.IN_STORAGE
            continue
        timestamps = [r[0] for r in rows]
        assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)
        assert tracker.last_report_received == timestamps[-1]
        assert all(-90 <= lat <= 90 and -180 <= lng <= 180 and 0 <= conf <= 1 for _, lat, lng, conf in rows)
    bounds = LocationHistory.objects.aggregate(Min("latitude"), Max("latitude"))
    assert bounds["latitude__min"] >= -90 and bounds["latitude__max"] <= 90


@pytest.mark.django_db
def test_statuses_are_consistent_with_the_history():
    seed("--clients", "1", "--trackers", "120", "--history", "10", "--seed", "3")
    for tracker in Tracker.objects.exclude(last_report_received=None).select_related(
        "delivery_location", "storage_location"
    ):
        last = tracker.locations.order_by("-timestamp").first()
        at_delivery = (
            abs(last.latitude - tracker.delivery_location.latitude) < 0.1
            and abs(last.longitude - tracker.delivery_location.longitude) < 0.1
        )
        at_storage = (
            abs(last.latitude - tracker.storage_location.latitude) < 0.1
            and abs(last.longitude - tracker.storage_location.longitude) < 0.1
        )
        if tracker.current_status == TrackerStatus.DELIVERED:
            assert at_delivery, tracker
        if tracker.current_status in (TrackerStatus.IN_STORAGE, TrackerStatus.RETURNED):
            assert at_storage, tracker


@pytest.mark.django_db
def test_batteries_are_drained_as_a_fleet_drains_them():
    seed("--clients", "2", "--trackers", "400", "--history", "2", "--seed", "5")
    never = Tracker.objects.filter(last_report_received=None)
    assert never.exists() and set(never.values_list("battery_level", flat=True)) == {None}  # no report told it
    reporting = Tracker.objects.exclude(last_report_received=None)
    levels = list(reporting.values_list("battery_level", flat=True))
    assert all(1 <= level <= 100 for level in levels)  # a tracker that reports has something left
    assert 2 <= sum(level <= 20 for level in levels) <= len(levels) // 5  # some need attention, most don't
    assert len(set(levels)) > 30  # a spread, not a few fixed values
    lost = list(reporting.filter(current_status=TrackerStatus.LOST).values_list("battery_level", flat=True))
    others = [level for level in reporting.exclude(current_status=TrackerStatus.LOST).values_list(
        "battery_level", flat=True)]
    assert sum(lost) / len(lost) < sum(others) / len(others)  # lost trackers drained faster


def test_the_battery_model_keeps_a_reporting_tracker_alive_and_lost_ones_lower():
    rng = random.Random(1)
    fleet = [battery_at_last_report(TrackerStatus.IN_TRANSIT, rng) for _ in range(5000)]
    lost = [battery_at_last_report(TrackerStatus.LOST, rng) for _ in range(5000)]
    assert min(fleet + lost) >= 1 and max(fleet + lost) <= 100
    assert 0.01 < sum(level <= 20 for level in fleet) / len(fleet) < 0.06
    assert 0.3 < sum(level <= 20 for level in lost) / len(lost) < 0.6


@pytest.mark.django_db
def test_it_refuses_a_second_run_without_reset_and_changes_nothing():
    seed("--clients", "1", "--trackers", "5", "--history", "3")
    before = (Tracker.objects.count(), LocationHistory.objects.count(), Brand.objects.count())
    with pytest.raises(CommandError, match="already has data"):
        seed("--clients", "3", "--trackers", "50", "--history", "3")
    assert (Tracker.objects.count(), LocationHistory.objects.count(), Brand.objects.count()) == before
    assert "nothing seeded" in seed("--if-empty")


@pytest.mark.django_db
def test_reset_replaces_the_data():
    seed("--clients", "1", "--trackers", "5", "--history", "3")
    seed("--reset", "--clients", "2", "--trackers", "8", "--history", "2")
    assert Tracker.objects.count() == 8
    assert Client.objects.count() == 2
    assert get_user_model().objects.filter(username="admin").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_writes_history_with_copy_on_postgres():
    seed("--clients", "2", "--trackers", "30", "--history", "20")
    reporting = Tracker.objects.exclude(last_report_received=None).count()
    assert LocationHistory.objects.count() == 20 * reporting
