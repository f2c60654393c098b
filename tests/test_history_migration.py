"""Migration 0005 converts a populated location_history to the partitioned table and back, keeping every row."""

import pytest
from django.core.management import call_command
from django.db import connection

from tests.fleet import make_fleet

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHECKSUM = (
    "SELECT count(*), md5(string_agg(concat_ws(',', tracker_id, \"timestamp\", latitude, longitude), ';'"
    ' ORDER BY tracker_id, "timestamp")) FROM location_history'
)


def one(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def triggers():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'location_history'::regclass AND NOT tgisinternal ORDER BY 1"
        )
        return [name for (name,) in cursor.fetchall()]


def test_the_conversion_keeps_every_row_both_ways(client_a):
    call_command("migrate", "dashboard", "0004", verbosity=0)
    assert one("SELECT relkind FROM pg_class WHERE relname = 'location_history'") == ("r",)
    tracker_ids = [tracker.pk for tracker in make_fleet(client_a, trackers=20).trackers]
    with connection.cursor() as cursor:
        # 20 trackers × 2,000 reports an hour apart (about 3 months), plus what old data holds:
        # a report from year 1 (accepted before ingest refused them) and one years ahead.
        cursor.execute(
            "INSERT INTO location_history (tracker_id, timestamp, latitude, longitude, nearest_city, confidence)"
            " SELECT t, now() - make_interval(hours => k), (k %% 179) - 89 + (t %% 100) / 1000.0,"
            " (k %% 359) - 179, 'X', 0.5"
            " FROM unnest(%s::bigint[]) AS t, generate_series(0, 1999) AS k",
            [tracker_ids],
        )
        cursor.execute(
            "INSERT INTO location_history (tracker_id, timestamp, latitude, longitude, nearest_city)"
            " VALUES (%s, '0001-01-01T00:00:00Z', 1, 2, ''), (%s, now() + interval '5 years', 3, 4, '')",
            [tracker_ids[0], tracker_ids[1]],
        )
    before = one(CHECKSUM)
    before_triggers = triggers()
    (last_id,) = one("SELECT max(id) FROM location_history")
    assert before[0] == 40_002

    call_command("migrate", "dashboard", "0005", verbosity=0)

    assert one("SELECT relkind FROM pg_class WHERE relname = 'location_history'") == ("p",)
    assert one(CHECKSUM) == before
    assert triggers() == before_triggers
    assert {"cache_layer_history_insert", "dashboard_latest_location_insert"} <= set(before_triggers)
    (partitions,) = one("SELECT count(*) FROM pg_partition_tree('location_history') WHERE isleaf")
    assert partitions >= 5  # the months of the rows, the year-1 month, the one ahead, the default
    (in_default,) = one("SELECT count(*) FROM location_history_default")
    assert in_default == 0  # every month that held rows got its partition
    # New rows continue the ids (the sequence moved over).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO location_history (tracker_id, timestamp, latitude, longitude, nearest_city)"
            " VALUES (%s, now() + interval '1 second', 0, 0, '') RETURNING id",
            [tracker_ids[0]],
        )
        (new_id,) = cursor.fetchone()
        assert new_id > last_id
        # The latest-location trigger runs on the partitioned table.
        cursor.execute("SELECT history_id FROM tracker_latest_locations WHERE tracker_id = %s", [tracker_ids[0]])
        assert cursor.fetchone() == (new_id,)
        cursor.execute("DELETE FROM location_history WHERE id = %s", [new_id])

    call_command("migrate", "dashboard", "0004", verbosity=0)

    assert one("SELECT relkind FROM pg_class WHERE relname = 'location_history'") == ("r",)
    assert one(CHECKSUM) == before
    assert triggers() == before_triggers
    assert one("SELECT to_regproc('location_history_create_partition')") == (None,)
    call_command("migrate", verbosity=0)
    assert one("SELECT relkind FROM pg_class WHERE relname = 'location_history'") == ("p",)
