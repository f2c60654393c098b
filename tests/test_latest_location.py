"""TrackerLatestLocation is each tracker's newest history row, whatever wrote the history.

Each test compares the table with a brute-force "newest history row of each tracker" (highest
timestamp, then highest id), after writes through every path: ingest, the ORM, the bulk paths
and, on PostgreSQL, raw SQL from `psql` in another process.
"""

from __future__ import annotations

import random
import subprocess
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from dashboard.models import LocationHistory, Tracker, TrackerLatestLocation
from dashboard.services import location_reports_ingest
from tests.fleet import make_fleet

NOW = timezone.now().replace(microsecond=0)


def brute_force_latest() -> dict[int, tuple]:
    newest: dict[int, tuple] = {}
    for row in LocationHistory.objects.order_by("tracker_id", "-timestamp", "-id"):
        newest.setdefault(
            row.tracker_id,
            (row.id, row.timestamp, row.latitude, row.longitude, row.nearest_city, row.confidence),
        )
    return newest


def stored_latest() -> dict[int, tuple]:
    return {
        row.tracker_id: (row.history_id, row.timestamp, row.latitude, row.longitude, row.nearest_city, row.confidence)
        for row in TrackerLatestLocation.objects.all()
    }


def history(tracker: Tracker, minutes_ago: int, *, latitude: float = 45.0, city: str = "Lyon") -> LocationHistory:
    return LocationHistory(
        tracker=tracker,
        timestamp=NOW - timedelta(minutes=minutes_ago),
        latitude=latitude,
        longitude=4.0,
        nearest_city=city,
        confidence=0.5,
    )


@pytest.fixture
def fleet(client_a):
    return make_fleet(client_a, trackers=4)


def test_random_out_of_order_ingest_batches_leave_the_newest_report(fleet):
    rng = random.Random(11)
    trackers = fleet.trackers
    for _ in range(12):
        batch = [
            {
                "tracker": rng.choice(trackers).serial,
                # Minutes within the last day, in any order; repeats of an instant are duplicates.
                "timestamp": NOW - timedelta(minutes=rng.randrange(0, 1440)),
                "latitude": rng.uniform(-80, 80),
                "longitude": rng.uniform(-170, 170),
                "nearest_city": rng.choice(["Lyon", "Nice", ""]),
                "confidence": rng.choice([None, 0.25, 0.75]),
            }
            for _ in range(rng.randrange(1, 40))
        ]
        location_reports_ingest(reports=batch)
        assert stored_latest() == brute_force_latest()
    assert set(stored_latest()) == {tracker.id for tracker in trackers}


def test_an_older_report_leaves_the_latest_location_alone(fleet):
    tracker = fleet.trackers[0]
    report = {"tracker": tracker.serial, "latitude": 10.0, "longitude": 20.0, "nearest_city": "Nice"}
    location_reports_ingest(reports=[{**report, "timestamp": NOW}])
    location_reports_ingest(reports=[{**report, "timestamp": NOW - timedelta(hours=1), "latitude": 1.0}])

    latest = TrackerLatestLocation.objects.get(tracker=tracker)
    assert (latest.timestamp, latest.latitude) == (NOW, 10.0)
    tracker.refresh_from_db()
    assert tracker.last_report_received == NOW


def test_orm_saves_edits_and_deletes_keep_it_exact(fleet):
    tracker, other = fleet.trackers[:2]
    old, new = history(tracker, 30, latitude=1.0), history(tracker, 10, latitude=2.0)
    old.save()
    new.save()
    assert stored_latest() == brute_force_latest()
    assert TrackerLatestLocation.objects.get(tracker=tracker).latitude == 2.0

    new.timestamp = NOW - timedelta(minutes=40)  # edited to be the oldest: the other row is newest now
    new.save()
    assert TrackerLatestLocation.objects.get(tracker=tracker).history_id == old.id

    old.tracker = other  # moved to another tracker
    old.save()
    assert stored_latest() == brute_force_latest()

    old.delete()  # the other tracker's only row: no latest location left
    assert not TrackerLatestLocation.objects.filter(tracker=other).exists()
    assert stored_latest() == brute_force_latest()


def test_deleting_the_newest_row_falls_back_to_the_one_before(fleet):
    tracker = fleet.trackers[0]
    rows = LocationHistory.objects.bulk_create([history(tracker, minutes) for minutes in (50, 40, 30)])
    rows[-1].delete()
    assert TrackerLatestLocation.objects.get(tracker=tracker).history_id == rows[1].id
    LocationHistory.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).delete()
    assert not TrackerLatestLocation.objects.filter(tracker=tracker).exists()


def test_bulk_paths_keep_it_exact(fleet):
    rng = random.Random(5)
    trackers = fleet.trackers
    created = LocationHistory.objects.bulk_create(
        [history(tracker, minute, latitude=rng.uniform(-50, 50)) for tracker in trackers for minute in range(0, 60, 6)]
    )
    assert stored_latest() == brute_force_latest()

    # QuerySet.update(): every row of one tracker edited; another's newest row moved to a third tracker.
    LocationHistory.objects.filter(tracker=trackers[0]).update(latitude=3.0)
    assert stored_latest() == brute_force_latest()
    LocationHistory.objects.filter(tracker=trackers[1], timestamp__gte=NOW - timedelta(minutes=5)).update(
        tracker=trackers[2], timestamp=NOW + timedelta(seconds=1)
    )
    assert stored_latest() == brute_force_latest()

    # bulk_update(): shuffle timestamps of a sample.
    sample = rng.sample([row for row in created if row.tracker_id == trackers[3].id], 4)
    for offset, row in enumerate(sample):
        row.timestamp = NOW - timedelta(hours=5, minutes=offset)
    LocationHistory.objects.bulk_update(sample, ["timestamp"])
    assert stored_latest() == brute_force_latest()

    # QuerySet.delete() of the newest rows of every tracker, then of everything of one tracker.
    LocationHistory.objects.filter(timestamp__gte=NOW - timedelta(minutes=15)).delete()
    assert stored_latest() == brute_force_latest()
    LocationHistory.objects.filter(tracker=trackers[3]).delete()
    assert stored_latest() == brute_force_latest()
    assert not TrackerLatestLocation.objects.filter(tracker=trackers[3]).exists()


def test_deleting_a_tracker_deletes_its_latest_location(fleet):
    tracker = fleet.trackers[0]
    history(tracker, 5).save()
    tracker.delete()
    assert not TrackerLatestLocation.objects.filter(tracker_id=tracker.id).exists()
    assert stored_latest() == brute_force_latest()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_raw_sql_from_psql_keeps_it_exact(client_a):
    fleet = make_fleet(client_a, trackers=3)
    a, b, c = (tracker.id for tracker in fleet.trackers)
    database = connection.settings_dict
    script = f"""
        INSERT INTO location_history (tracker_id, "timestamp", latitude, longitude, nearest_city, confidence)
        SELECT t, now() - make_interval(mins => m), m, 1, 'psql', NULL
        FROM unnest(ARRAY[{a}, {b}, {c}]) t, generate_series(1, 20) m;
        -- out of order: an older report after newer ones
        INSERT INTO location_history (tracker_id, "timestamp", latitude, longitude, nearest_city)
        VALUES ({a}, now() - interval '3 days', 0, 0, 'old');
        UPDATE location_history SET "timestamp" = "timestamp" - interval '1 day'
        WHERE tracker_id = {b} AND latitude < 5;
        DELETE FROM location_history WHERE tracker_id = {a} AND latitude < 3;
        DELETE FROM location_history WHERE tracker_id = {c};
    """
    subprocess.run(
        [
            "psql", "-v", "ON_ERROR_STOP=1", "-q",
            "-h", database["HOST"] or "localhost", "-p", str(database["PORT"] or 5432),
            "-U", database["USER"], "-d", database["NAME"], "-c", script,
        ],
        check=True,
        env={"PGPASSWORD": database.get("PASSWORD") or "", "PATH": "/usr/bin:/bin"},
    )
    assert stored_latest() == brute_force_latest()
    assert set(stored_latest()) == {a, b}
    assert TrackerLatestLocation.objects.get(tracker_id=a).latitude == 3.0


@pytest.mark.postgres
@pytest.mark.django_db
def test_truncating_the_history_keeps_the_last_known_locations(fleet):
    # Retention (dropping whole partitions, or a TRUNCATE) never removes a tracker's last known location.
    history(fleet.trackers[0], 5).save()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses while deferred FK checks are queued
        cursor.execute("TRUNCATE location_history")
    assert TrackerLatestLocation.objects.filter(tracker=fleet.trackers[0]).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_ingest_batches_never_move_it_backwards(client_a):
    """Two threads ingest interleaved reports of the same trackers, newest and oldest mixed: the
    latest row ends at each tracker's newest report, whichever transaction committed last."""
    fleet = make_fleet(client_a, trackers=5)
    serials = [tracker.serial for tracker in fleet.trackers]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def ingest(offsets: range) -> None:
        try:
            start.wait()
            for offset in offsets:
                with transaction.atomic():
                    location_reports_ingest(
                        reports=[
                            {"tracker": serial, "timestamp": NOW - timedelta(seconds=offset), "latitude": offset / 10,
                             "longitude": 0}
                            for serial in serials
                        ]
                    )
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ingest, args=(r,)) for r in (range(0, 200, 2), range(199, 0, -2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert stored_latest() == brute_force_latest()
    assert {row.latitude for row in TrackerLatestLocation.objects.all()} == {0.0}


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_it_from_the_existing_history(client_a):
    from django.core.management import call_command

    fleet = make_fleet(client_a, trackers=3)
    LocationHistory.objects.bulk_create(
        [history(tracker, minutes) for tracker in fleet.trackers[:2] for minutes in (30, 20, 10)]
    )
    call_command("migrate", "dashboard", "0003", verbosity=0)
    try:
        with connection.cursor() as cursor:  # a report written while the table did not exist
            cursor.execute(
                'INSERT INTO location_history (tracker_id, "timestamp", latitude, longitude, nearest_city) '
                "VALUES (%s, %s, 7, 7, '')",
                [fleet.trackers[2].id, NOW],
            )
    finally:
        call_command("migrate", verbosity=0)
    assert stored_latest() == brute_force_latest()
    assert len(stored_latest()) == 3
