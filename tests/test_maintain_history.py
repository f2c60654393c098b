"""manage.py maintain_history: partitions ahead, retention by whole partitions (PostgreSQL) or DELETE
(SQLite), idempotent, never losing a tracker or its last report, logged and measured."""

import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import history_partitions
from dashboard.history_partitions import add_months, month_start, partition_name
from dashboard.management.commands.maintain_history import maintain_once
from dashboard.metrics import HistoryMetrics
from dashboard.models import LocationHistory, Tracker, TrackerLatestLocation
from dashboard.services import MONTHS_AHEAD
from tests.fleet import add_history, iso, make_fleet

AGES_IN_DAYS = (400, 100, 65, 45, 31, 29, 10, 0)


@pytest.fixture
def aged_fleet(client_a):
    """Tracker 0 reported at each of AGES_IN_DAYS; tracker 1 only 100 days ago (its whole history is old)."""
    maintain_once()  # the partitions of the last year, before rows are written into them
    fleet = make_fleet(client_a, trackers=2)
    now = timezone.now()
    for age in AGES_IN_DAYS:
        add_history(fleet.trackers[0], 1, start=now - timedelta(days=age, minutes=1))
    add_history(fleet.trackers[1], 1, start=now - timedelta(days=100))
    return fleet


def tree() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relid::text FROM pg_partition_tree('location_history') WHERE isleaf ORDER BY 1")
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_30_day_window_drops_the_partitions_wholly_older_and_no_row(aged_fleet, settings, owner_api):
    settings.HISTORY_RETENTION_DAYS = 30
    now = timezone.now()
    cutoff = now - timedelta(days=30)
    last_reports = dict(Tracker.objects.values_list("id", "last_report_received"))
    latest = {row.tracker_id: (row.timestamp, row.latitude) for row in TrackerLatestLocation.objects.all()}
    assert len(latest) == 2

    with CaptureQueriesContext(connection) as captured:
        result = maintain_once(now=now)

    assert not [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith("DELETE FROM") and "location_history_default" not in q["sql"]
    ]
    assert result.dropped and all(name.startswith("location_history_p") for name in result.dropped)
    # Every month whose end is past the cutoff is kept, every other one is gone, the default stays.
    kept = {p.name for p in history_partitions.monthly_partitions()}
    assert all(p.end > cutoff for p in history_partitions.monthly_partitions())
    assert set(result.dropped).isdisjoint(tree()) and "location_history_default" in tree()
    assert partition_name(cutoff) in kept
    # Rows: each is kept exactly when its month reaches past the cutoff (retention works by months).
    for timestamp in LocationHistory.objects.values_list("timestamp", flat=True):
        assert timestamp >= month_start(cutoff)
    expected = sorted(
        age for age in AGES_IN_DAYS if add_months(month_start(now - timedelta(days=age, minutes=1)), 1) > cutoff
    )
    assert LocationHistory.objects.filter(tracker=aged_fleet.trackers[0]).count() == len(expected)
    # The trackers and their last report survive; the one whose whole history went answers an empty page.
    assert dict(Tracker.objects.values_list("id", "last_report_received")) == last_reports
    gone = aged_fleet.trackers[1]
    response = owner_api.get(f"/api/trackers/{gone.id}/history/")
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "page": 1, "size": 100, "pages": 0}
    # Their latest location too: the detail, the list and the map still show where each was last.
    assert {row.tracker_id: (row.timestamp, row.latitude) for row in TrackerLatestLocation.objects.all()} == latest
    detail = owner_api.get(f"/api/trackers/{gone.id}/").json()
    assert detail["last_report_received"] is not None
    assert detail["latest_location"]["timestamp"] == iso(latest[gone.id][0])
    listed = {item["id"]: item["latest_location"] for item in owner_api.get("/api/trackers/").json()["items"]}
    assert listed[gone.id]["latitude"] == latest[gone.id][1]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_second_run_finds_nothing_to_do(aged_fleet, settings):
    settings.HISTORY_RETENTION_DAYS = 30
    first = maintain_once()
    listing = tree()
    second = maintain_once()
    assert first.dropped
    assert (second.created, second.dropped, second.deleted) == ([], [], 0)
    assert tree() == listing


@pytest.mark.postgres
@pytest.mark.django_db
def test_with_retention_0_nothing_is_dropped_and_the_coming_months_exist(aged_fleet):
    before = LocationHistory.objects.count()
    result = maintain_once()
    assert result.dropped == [] and LocationHistory.objects.count() == before
    now = timezone.now()
    names = {p.name for p in history_partitions.monthly_partitions()}
    for months in range(-12, MONTHS_AHEAD + 1):  # back to the oldest report ingest accepts, and ahead
        assert partition_name(add_months(month_start(now), months)) in names


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_stray_row_in_the_default_partition_past_the_window_is_deleted(client_a, settings):
    tracker = make_fleet(client_a, trackers=1).trackers[0]
    # 2019: no partition was ever made for it (written before the retention was set).
    add_history(tracker, 2, start=timezone.now().replace(year=2019))
    newest = LocationHistory.objects.latest("timestamp")
    settings.HISTORY_RETENTION_DAYS = 30
    result = maintain_once()
    assert result.deleted == 1
    # The tracker's latest report stays: its latest-location row points at it.
    assert list(LocationHistory.objects.values_list("pk", flat=True)) == [newest.pk]
    assert TrackerLatestLocation.objects.get(tracker=tracker).timestamp == newest.timestamp


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite keeps a plain table")
def test_on_sqlite_rows_older_than_the_window_are_deleted(client_a, settings):
    fleet = make_fleet(client_a, trackers=2)
    now = timezone.now()
    for age in AGES_IN_DAYS:
        add_history(fleet.trackers[0], 1, start=now - timedelta(days=age, minutes=1))
    add_history(fleet.trackers[1], 1, start=now - timedelta(days=100))
    last_reports = dict(Tracker.objects.values_list("id", "last_report_received"))
    settings.HISTORY_RETENTION_DAYS = 30

    latest = {row.tracker_id: row.timestamp for row in TrackerLatestLocation.objects.all()}

    result = maintain_once(now=now)

    # Every old row goes but tracker 1's only one: its latest report, which its latest location follows.
    assert result.deleted == len([age for age in AGES_IN_DAYS if age >= 30])
    old = LocationHistory.objects.filter(timestamp__lt=now - timedelta(days=30))
    assert list(old.values_list("tracker_id", flat=True)) == [fleet.trackers[1].pk]
    assert LocationHistory.objects.filter(tracker=fleet.trackers[0]).count() == len(
        [age for age in AGES_IN_DAYS if age < 30]
    )
    assert dict(Tracker.objects.values_list("id", "last_report_received")) == last_reports
    assert {row.tracker_id: row.timestamp for row in TrackerLatestLocation.objects.all()} == latest
    assert maintain_once(now=now).deleted == 0


@pytest.mark.django_db
def test_the_command_logs_what_it_dropped(client_a, settings, caplog):
    tracker = make_fleet(client_a, trackers=1).trackers[0]
    maintain_once()
    add_history(tracker, 2, start=timezone.now() - timedelta(days=100))  # SQLite keeps the newest: the latest
    settings.HISTORY_RETENTION_DAYS = 30
    with caplog.at_level(logging.INFO, logger="dashboard.maintain_history"):
        call_command("maintain_history")
    messages = [record.getMessage() for record in caplog.records]
    if connection.vendor == "postgresql":
        month = partition_name(timezone.now() - timedelta(days=100))
        assert f"maintain_history: dropped partition {month}" in messages
    else:
        assert "maintain_history: deleted 1 rows older than the retention window" in messages
    assert any(message.startswith("maintain_history: ") and "oldest report kept" in message for message in messages)


@pytest.mark.django_db
def test_the_metrics_of_a_run_reach_metrics_in_multiprocess_mode(client_a, settings, tmp_path, monkeypatch, client):
    # As deployed: the command and the web processes share PROMETHEUS_MULTIPROC_DIR.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    tracker = make_fleet(client_a, trackers=1).trackers[0]
    first = maintain_once(metrics=HistoryMetrics())
    add_history(tracker, 1, start=timezone.now() - timedelta(days=100))
    add_history(tracker, 1, start=timezone.now() - timedelta(days=1))
    settings.HISTORY_RETENTION_DAYS = 30
    result = maintain_once(metrics=HistoryMetrics())  # a later run: a new process, the same files

    body = client.get("/metrics").content.decode()
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in body.splitlines()
        if line.startswith("location_history_")
    }
    assert samples["location_history_partitions"] == result.partitions
    assert samples["location_history_oldest_timestamp_seconds"] == result.oldest.timestamp()
    assert samples["location_history_maintained_timestamp_seconds"] > 0
    removed = (
        "location_history_partitions_dropped_total"
        if connection.vendor == "postgresql"
        else ("location_history_rows_deleted_total")
    )
    assert samples[removed] == (len(result.dropped) if connection.vendor == "postgresql" else 1)
    assert samples["location_history_partitions_created_total"] == len(first.created) + len(result.created)
    # One file per metric type, whatever the number of runs.
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "counter_maintainhistory.db",
        "gauge_mostrecent_maintainhistory.db",
    ]
