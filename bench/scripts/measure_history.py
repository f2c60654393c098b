"""Measure the partitioned location history (issue 12's figures). Not a test.

Run against a seeded PostgreSQL database whose location_history is partitioned (migration 0005):
    DATABASE_URL=postgres://.../td_history_convert .venv/bin/python bench/scripts/measure_history.py [--rounds 30]
(seed_demo --trackers 1500 --history 1000 first: 1.45 M rows). It changes the database:
it adds one tracker with a year of history, drops the months up to the oldest seeded one, then
the month holding most of the rest: reseed (seed_demo --reset ...) before running it again.

1. ingest: 1,000 reports (1,000 trackers) per batch through the ingest statement of
   dashboard/services.py into location_history and into an unpartitioned copy of it with the
   same rows, indexes and triggers, alternating, each batch rolled back: medians and ratio.
2. history page: one day of a tracker with a year of history (35,040 reports), in-process
   through the API view (staff, query cache irrelevant: history is not cached), the partitions
   its plan reads, and the same page with no range for comparison.
3. retention: list readers (GET /api/trackers/, query cache off, 2 threads) and a history reader
   (GET /api/trackers/{id}/history/, which does read location_history) loop while
   maintain_history with HISTORY_RETENTION_DAYS drops the months up to the oldest seeded one,
   then while the month holding most rows is dropped alone: durations, the readers' slowest
   request before and during, and the longest lock wait of any other session seen in pg_locks.
4. pg_partition_tree after the retention run, with each partition's rows.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")
os.environ["QUERY_CACHE_ENABLED"] = "false"  # every list read goes to the database

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from dashboard import history_partitions  # noqa: E402
from dashboard.management.commands.maintain_history import maintain_once  # noqa: E402
from dashboard.models import LocationHistory, ProductionRun, Tracker  # noqa: E402
from dashboard.services import _INSERT_NEW_POSTGRESQL  # noqa: E402

PLAIN = "location_history_unpartitioned_copy"
YEAR_TRACKER = "YEAR-OF-HISTORY"


def median_ms(samples):
    return statistics.median(samples) * 1000


def sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def make_plain_copy():
    """An unpartitioned location_history with the same rows, indexes and triggers."""
    sql(f"DROP TABLE IF EXISTS {PLAIN}")
    sql(f"CREATE TABLE {PLAIN} (LIKE location_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    sql(f"INSERT INTO {PLAIN} SELECT * FROM location_history")
    sql(f'ALTER TABLE {PLAIN} ADD PRIMARY KEY (id), ADD UNIQUE (tracker_id, "timestamp")')
    sql(f'CREATE INDEX ON {PLAIN} (tracker_id, "timestamp" DESC)')
    sql(f"ALTER TABLE {PLAIN} ADD FOREIGN KEY (tracker_id) REFERENCES trackers (id) DEFERRABLE INITIALLY DEFERRED")
    for (definition,) in sql(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'location_history'::regclass"
        " AND NOT tgisinternal AND tgparentid = 0"
    ):
        sql(definition.replace(" ON public.location_history ", f" ON public.{PLAIN} "))
    sql(f"ANALYZE {PLAIN}")


def measure_ingest(rounds):
    make_plain_copy()
    tracker_ids = list(Tracker.objects.order_by("id").values_list("id", flat=True)[:1000])
    timings = {"partitioned": [], "unpartitioned": []}
    statements = {
        "partitioned": _INSERT_NEW_POSTGRESQL,
        "unpartitioned": _INSERT_NEW_POSTGRESQL.replace("INTO location_history ", f"INTO {PLAIN} "),
    }
    base = timezone.now().replace(microsecond=0)
    for round_ in range(rounds):
        when = base + timedelta(seconds=round_)
        columns = [tracker_ids, [when] * 1000, [45.0] * 1000, [4.0] * 1000, ["Lyon"] * 1000, [0.9] * 1000]
        order = ("partitioned", "unpartitioned") if round_ % 2 == 0 else ("unpartitioned", "partitioned")
        for name in order:
            try:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        started = time.perf_counter()
                        cursor.execute(statements[name], columns)
                        rows = cursor.fetchall()
                        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the FK checks, as at commit
                        timings[name].append(time.perf_counter() - started)
                        assert len(rows) == 1000
                    raise _Rollback
            except _Rollback:
                pass
    part, plain = median_ms(timings["partitioned"]), median_ms(timings["unpartitioned"])
    print(f"ingest of 1,000 reports, median of {rounds} (rolled back each time):")
    print(f"  partitioned   {part:7.2f} ms")
    print(f"  unpartitioned {plain:7.2f} ms")
    print(f"  ratio partitioned / unpartitioned: {part / plain:.3f}")


class _Rollback(Exception):
    pass


def year_tracker():
    tracker = Tracker.objects.filter(serial=YEAR_TRACKER).first()
    if tracker is None:
        run = ProductionRun.objects.order_by("id").first()
        tracker = Tracker.objects.create(production_run=run, serial=YEAR_TRACKER, name="a year of reports")
        sql(
            "INSERT INTO location_history (tracker_id, timestamp, latitude, longitude, nearest_city, confidence)"
            " SELECT %s, now() - make_interval(mins => 15 * k), 45 + k / 100000.0, 4, 'Lyon', 0.9"
            " FROM generate_series(0, 35039) AS k",
            [tracker.pk],
        )
        sql("ANALYZE location_history")
    return tracker


def server_ms(statement, runs):
    """Median execution time PostgreSQL reports for a statement (EXPLAIN ANALYZE), in ms."""
    samples = []
    for _ in range(runs):
        plan = sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement)[0][0]
        samples.append(plan[0]["Execution Time"])
    return statistics.median(samples)


def measure_history_page(api, runs):
    tracker = year_tracker()
    rows = LocationHistory.objects.filter(tracker=tracker).count()
    day = (timezone.now() - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
    one_day = {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat(), "size": 100}
    url = f"/api/trackers/{tracker.id}/history/"
    print(f"history page of one tracker with {rows} reports over a year ({len(partitions_all())} monthly partitions):")
    for label, params in (("one day (since/until)", one_day), ("no range, page 1 of 100", {"size": 100})):
        api.get(url, params)  # warm
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            response = api.get(url, params)
            samples.append(time.perf_counter() - started)
        assert response.status_code == 200
        body = response.json()
        with CaptureQueriesContext(connection) as captured:
            api.get(url, params)
        history_sql = [q["sql"] for q in captured.captured_queries if "location_history" in q["sql"]]
        read = sorted({name for statement in history_sql for name in history_partitions.partitions_read(statement)})
        in_sql = sum(server_ms(statement, runs) for statement in history_sql)
        on_plain = sum(
            server_ms(statement.replace('"location_history"', f'"{PLAIN}"'), runs) for statement in history_sql
        )
        print(
            f"  {label:26s} median {median_ms(samples):6.2f} ms in-process (API), items {len(body['items'])},"
            f" total {body['total']}; its 2 history statements {in_sql:.3f} ms in PostgreSQL"
            f" (the same on the unpartitioned copy {on_plain:.3f} ms); partitions read: {', '.join(read)}"
        )
    floor = []
    for _ in range(runs):
        started = time.perf_counter()
        api.get("/api/trackers/", {"lazy_load": "true"})  # authenticated, reads no tracker: the request floor
        floor.append(time.perf_counter() - started)
    print(f"  an empty authenticated request (lazy_load=true, no filter) in the same run: {median_ms(floor):.2f} ms")
    sql(f"DROP TABLE {PLAIN}")


def partitions_all():
    return history_partitions.monthly_partitions()


def measure_retention(api):
    months = [
        p
        for p in partitions_all()
        if sql(f'SELECT EXISTS (SELECT 1 FROM "{p.name}" WHERE tracker_id <> %s)', [year_tracker().pk])[0][0]
    ]
    oldest = months[0]
    # Retention that drops exactly the months up to the oldest seeded one.
    days = (timezone.now() - oldest.end).days
    assert days >= 1, "the oldest seeded month is the current one: reseed (seed_demo --reset ...)"
    rows = sql(f'SELECT count(*) FROM "{oldest.name}"')[0][0]
    older = [p.name for p in partitions_all() if p.end <= oldest.end]
    print(
        f"retention run: HISTORY_RETENTION_DAYS={days} drops {len(older)} partitions up to {oldest.name}"
        f" ({rows} rows in it, {LocationHistory.objects.count()} in the table)"
    )
    stop = threading.Event()
    latencies = []  # (start, seconds)
    lock_waits = []

    history_latencies = []
    busy_tracker = Tracker.objects.order_by("id").first()

    def reader(url, params, into):
        client = APIClient()
        client.force_login(get_user_model().objects.filter(is_staff=True).first())
        while not stop.is_set():
            started = time.perf_counter()
            response = client.get(url, params)
            into.append((started, time.perf_counter() - started))
            assert response.status_code == 200
        connections.close_all()

    def lock_watcher():
        while not stop.is_set():
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "SELECT coalesce(max(extract(epoch FROM now() - a.query_start)), 0) FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()"
                    " AND a.query NOT LIKE 'DROP%%' AND a.query NOT LIKE 'SET CONSTRAINTS%%'"
                )
                lock_waits.append(float(cursor.fetchone()[0]))
            time.sleep(0.002)
        connections.close_all()

    threads = [
        threading.Thread(target=reader, args=("/api/trackers/", {"size": 100}, latencies)),
        threading.Thread(target=reader, args=("/api/trackers/", {"size": 100}, latencies)),
        # The history endpoint does read location_history: it is what a DROP could make wait.
        threading.Thread(target=reader, args=(f"/api/trackers/{busy_tracker.id}/history/", {}, history_latencies)),
        threading.Thread(target=lock_watcher),
    ]
    for thread in threads:
        thread.start()
    time.sleep(3)
    settings.HISTORY_RETENTION_DAYS = days
    drop_start = time.perf_counter()
    result = maintain_once()
    drop_end = time.perf_counter()
    time.sleep(2)
    # The month holding most of the seeded history, dropped alone as maintain_history does it.
    biggest = max(partitions_all(), key=lambda p: sql(f'SELECT count(*) FROM "{p.name}"')[0][0])
    biggest_rows = sql(f'SELECT count(*) FROM "{biggest.name}"')[0][0]
    single_start = time.perf_counter()
    history_partitions.partition_drop(biggest)
    single_end = time.perf_counter()
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join()

    def split(samples):
        before = [s for start, s in samples if start + s < drop_start]
        during = [
            s
            for start, s in samples
            if (start <= drop_end and start + s >= drop_start) or (start <= single_end and start + s >= single_start)
        ]
        return before, during

    before, during = split(latencies)
    history_before, history_during = split(history_latencies)
    print(
        f"  maintain_history: {drop_end - drop_start:.3f} s for the whole run, dropped {len(result.dropped)}:"
        f" {', '.join(result.dropped)}"
    )
    print(f"  list reads before: {len(before)}, median {median_ms(before):.1f} ms, slowest {max(before) * 1000:.1f} ms")
    print(f"  drop of {biggest.name} alone ({biggest_rows} rows): {(single_end - single_start) * 1000:.1f} ms")
    if during:
        print(f"  list reads overlapping either: {len(during)}, slowest {max(during) * 1000:.1f} ms")
    print(
        f"  history reads before: {len(history_before)}, median {median_ms(history_before):.1f} ms,"
        f" slowest {max(history_before) * 1000:.1f} ms; overlapping: {len(history_during)},"
        f" slowest {max(history_during or [0]) * 1000:.1f} ms"
    )
    print(
        f"  longest lock wait of any other session seen in pg_locks: {max(lock_waits) * 1000:.1f} ms"
        f" ({len(lock_waits)} samples)"
    )
    print(f"  rows left: {LocationHistory.objects.count()}")


def print_tree():
    print("pg_partition_tree('location_history') after the retention run:")
    for relid, level, rows in sql(
        "SELECT relid::text, level, (SELECT count(*) FROM location_history h WHERE h.tableoid = t.relid)"
        " FROM pg_partition_tree('location_history') t ORDER BY level, relid::text"
    ):
        print(f"  {'  ' * level}{relid:28s} {rows:>9} rows")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    assert history_partitions.is_partitioned(), "location_history is not partitioned: migrate first"
    maintain_once()  # the partitions of the window exist (HISTORY_RETENTION_DAYS unset: nothing dropped)
    api = APIClient()
    api.force_login(get_user_model().objects.filter(is_staff=True).first())
    year_tracker()  # before the unpartitioned copy is made, so that both hold its year
    measure_ingest(args.rounds)
    measure_history_page(api, args.rounds)
    measure_retention(api)
    print_tree()


if __name__ == "__main__":
    main()
