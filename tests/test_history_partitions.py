"""location_history partitioned by month on PostgreSQL: routing, uniqueness, the ORM, triggers, pruning."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import history_partitions
from dashboard.history_partitions import add_months, month_start, partition_name
from dashboard.management.commands.maintain_history import maintain_once
from dashboard.models import LocationHistory
from dashboard.services import MONTHS_AHEAD, location_reports_ingest
from tests.fleet import add_history, make_fleet

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def fleet(client_a):
    return make_fleet(client_a, trackers=2)


def stored_in(tracker, when) -> str:
    """The partition holding the tracker's report at `when`."""
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT tableoid::regclass::text FROM location_history WHERE tracker_id = %s AND "timestamp" = %s',
            [tracker.pk, when],
        )
        return cursor.fetchone()[0]


def ingest(tracker, when, **extra):
    return location_reports_ingest(
        reports=[{"tracker": tracker.serial, "timestamp": when, "latitude": 1.0, "longitude": 2.0, **extra}]
    )


def test_location_history_is_partitioned_by_month_with_id_and_timestamp_as_primary_key():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_partkeydef('location_history'::regclass),"
            " pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conname = 'location_history_pkey'))"
        )
        assert cursor.fetchone() == ('RANGE ("timestamp")', 'PRIMARY KEY (id, "timestamp")')
    assert history_partitions.is_partitioned()


def test_a_report_lands_in_its_months_partition_and_the_start_of_next_month_works(fleet):
    maintain_once()
    tracker = fleet.trackers[0]
    now = timezone.now()
    next_month = add_months(month_start(now), 1)  # the first instant of next month, in UTC

    assert ingest(tracker, now).accepted == 1
    assert ingest(tracker, next_month).accepted == 1
    assert ingest(tracker, next_month - timedelta(microseconds=1)).accepted == 1

    assert stored_in(tracker, now) == partition_name(now)
    assert stored_in(tracker, next_month) == partition_name(next_month)
    assert stored_in(tracker, next_month - timedelta(microseconds=1)) == partition_name(now)


def test_partitions_exist_months_ahead_and_a_report_beyond_them_lands_in_the_default_partition(fleet):
    maintain_once()
    tracker = fleet.trackers[0]
    last = add_months(month_start(timezone.now()), MONTHS_AHEAD)
    beyond = add_months(last, 1)
    assert partition_name(last) in {p.name for p in history_partitions.monthly_partitions()}

    assert ingest(tracker, beyond).accepted == 1  # never an error for lack of a partition
    assert stored_in(tracker, beyond) == "location_history_default"

    # When that month's partition is made, the stray row moves into it (PostgreSQL would refuse
    # the partition while the default one held a row of its range).
    assert history_partitions.partition_create(beyond)
    assert stored_in(tracker, beyond) == partition_name(beyond)
    assert LocationHistory.objects.filter(tracker=tracker).count() == 1


def test_uniqueness_holds_across_the_partitioned_table_and_repeats_count_as_duplicates(fleet):
    tracker = fleet.trackers[0]
    when = timezone.now() - timedelta(minutes=3)
    assert ingest(tracker, when).accepted == 1
    repeat = ingest(tracker, when)
    assert (repeat.accepted, repeat.duplicates) == (0, 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        LocationHistory.objects.create(tracker=tracker, timestamp=when, latitude=0, longitude=0)
    assert LocationHistory.objects.filter(tracker=tracker).count() == 1


def test_the_orm_keeps_id_as_the_primary_key(fleet):
    maintain_once()
    tracker = fleet.trackers[0]
    row = LocationHistory.objects.create(tracker=tracker, timestamp=timezone.now(), latitude=1, longitude=2)
    other = LocationHistory.objects.create(
        tracker=tracker, timestamp=timezone.now() - timedelta(days=40), latitude=3, longitude=4
    )
    assert row.pk and other.pk > row.pk  # one sequence for every partition

    row.nearest_city = "Lyon"
    row.save()
    assert LocationHistory.objects.get(pk=row.pk).nearest_city == "Lyon"
    # Moving a row's timestamp to another month moves it to that month's partition.
    LocationHistory.objects.filter(pk=row.pk).update(timestamp=other.timestamp + timedelta(seconds=1))
    assert stored_in(tracker, other.timestamp + timedelta(seconds=1)) == partition_name(other.timestamp)
    other.delete()
    assert list(LocationHistory.objects.values_list("pk", flat=True)) == [row.pk]
    tracker.delete()  # the cascade reaches every partition
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_cache_triggers_name_the_run_of_a_raw_insert_routed_to_a_partition(client_a, client_b):
    maintain_once()
    fleet_a, fleet_b = make_fleet(client_a, trackers=1, prefix="A"), make_fleet(client_b, trackers=1, prefix="B")
    tracker = fleet_a.trackers[0]
    next_month = add_months(month_start(timezone.now()), 1)
    far = add_months(next_month, 24)  # no partition: the default one
    with connection.cursor() as cursor:
        cursor.execute("LISTEN cache_layer")
        for when in (next_month, far):  # each statement commits on its own (autocommit)
            cursor.execute(
                "INSERT INTO location_history (tracker_id, timestamp, latitude, longitude, nearest_city)"
                " VALUES (%s, %s, 1, 2, 'Raw')",
                [tracker.pk, when],
            )
        cursor.execute("DELETE FROM location_history WHERE tracker_id = %s", [tracker.pk])
    # The query cache's scope notifications (the live feed's `rows:` ones are its own tests').
    notified = [n.payload for n in connection.connection.notifies(timeout=0.5) if n.payload.startswith("scope:")]
    run_a = f"scope:production_run:{fleet_a.run.pk}"
    assert notified == [run_a, run_a, run_a]
    assert f"scope:production_run:{fleet_b.run.pk}" not in notified


def test_a_one_day_history_page_reads_only_the_partition_of_its_day(owner_api, fleet):
    maintain_once()
    tracker = fleet.trackers[0]
    now = timezone.now()
    day = month_start(now) + timedelta(days=1)
    for months_back in range(0, 12):  # a year of history, two reports a month
        start = add_months(month_start(now), -months_back) + timedelta(days=1, hours=6)
        add_history(tracker, 2, start=start)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE location_history")

    with CaptureQueriesContext(connection) as captured:
        body = owner_api.get(
            f"/api/trackers/{tracker.id}/history/",
            # size 1: the page is full, so the bounded COUNT runs too and its plan is checked as well.
            {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat(), "size": 1},
        ).json()
    assert body["total"] == 2 and len(body["items"]) == 1
    history_queries = [q["sql"] for q in captured.captured_queries if "location_history" in q["sql"]]
    assert len(history_queries) == 2  # the page and the bounded count
    for sql in history_queries:
        assert history_partitions.partitions_read(sql) == {partition_name(day)}, sql
    # Without a range every month is read (the control: the test can tell the difference).
    everything = history_partitions.partitions_read(f"SELECT * FROM location_history WHERE tracker_id = {tracker.id}")
    assert len(everything) > 12
