"""Measure GET /api/trackers/{id}/trail/ (issue 14's trail figures: server time and bytes). Not a test.

Run against a migrated database (PostgreSQL for the figures; SQLite works too):
    DATABASE_URL=postgres://.../td_x REDIS_URL=redis://... CACHE_KEY_PREFIX=x \\
        .venv/bin/python bench/scripts/measure_trail.py [--rounds 15]
It adds (once; reused on later runs) a tracker `TRAIL-43200` with 43,200 reports, one a minute
for the 30 days up to now: a vehicle that stops for an hour every six and drives straight legs of
an hour at 30 km/h in between, with GPS noise of up to 1.5 m.

1. In-process through the API (staff, Django's test client; the trail is not cached): median
   wall-clock and CPU time of `--rounds` requests for 30 days (43,200 reports), 7 days and the
   default 24 h, at the default max_points (2,000) and at 500 and 10,000; points sent; bytes
   plain and gzip (the answer as the compression middleware sends it to a client that accepts gzip).
2. Where the 30-day request's time goes: the history statement in PostgreSQL (EXPLAIN ANALYZE),
   reading the reports into Python (as the view does: three JSON arrays; and, for comparison, as
   rows), the simplification, the whole query function; and the floor of an authenticated
   request (`/api/trackers/?lazy_load=true`, no tracker read) in the same run.
3. With `--base`, the same requests over HTTP through a running server on the same database
   (e.g. `CACHE_KEY_PREFIX=x .venv/bin/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:8311`).
4. The simplification's error: the largest distance between a report and where the returned
   trail, interpolated in time, puts the tracker at its instant (the tolerance is
   queries.TRAIL_TOLERANCE_M where the point budget allows).
"""

import argparse
import math
import os
import random
import statistics
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from dashboard import queries  # noqa: E402
from dashboard.models import LocationHistory, ProductionRun, Tracker  # noqa: E402
from dashboard.scope import ALL  # noqa: E402
from dashboard.simplification import simplify  # noqa: E402

SERIAL = "TRAIL-43200"
REPORTS = 43_200
METRES_PER_DEGREE = 111_195.0


def road_trip(start: datetime, count: int) -> list[tuple[datetime, float, float]]:
    noise = random.Random(7)
    lat, lon, path = 45.0, 4.0, []
    jitter = 1.5 / METRES_PER_DEGREE
    for minute in range(count):
        if minute % 360 >= 60:
            heading = (minute // 60) * 1.3
            lat += 500 / METRES_PER_DEGREE * math.cos(heading)
            lon += 500 / (METRES_PER_DEGREE * math.cos(math.radians(lat))) * math.sin(heading)
        path.append(
            (
                start + timedelta(minutes=minute),
                lat + noise.uniform(-jitter, jitter),
                lon + noise.uniform(-jitter, jitter),
            )
        )
    return path


def trail_tracker(serial: str = SERIAL) -> tuple[Tracker, datetime]:
    """The tracker with 43,200 reports, made once (SERIAL; another serial must exist): (tracker, its
    first report's instant)."""
    tracker = Tracker.objects.filter(serial=serial).first()
    if tracker is None:
        assert serial == SERIAL, f"no tracker {serial} (BENCH-TRAIL-30D: bench/scripts/measure_panel.py --long)"
        run = ProductionRun.objects.order_by("id").first()
        assert run is not None, "seed the database first (manage.py seed_demo)"
        tracker = Tracker.objects.create(production_run=run, serial=SERIAL, name="a month at one report a minute")
        start = timezone.now().replace(microsecond=0) - timedelta(minutes=REPORTS - 1)
        LocationHistory.objects.bulk_create(
            (
                LocationHistory(tracker=tracker, timestamp=moment, latitude=lat, longitude=lon, nearest_city="Lyon")
                for moment, lat, lon in road_trip(start, REPORTS)
            ),
            batch_size=5000,
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE location_history")
    first = LocationHistory.objects.filter(tracker=tracker).order_by("timestamp").values_list("timestamp", flat=True)
    return tracker, first[0]


def timed(call, rounds: int) -> tuple[float, float, object]:
    """(median wall-clock ms, median ms of this process's CPU, the last result). On a shared machine
    the CPU figure is the steadier one; it leaves out the database server's own time."""
    call()  # warm
    wall, cpu, result = [], [], None
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = call()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000, result


def replay_error_m(points: list[dict], path: list[tuple[float, float, float]]) -> float:
    kept = [
        (
            datetime.strptime(p["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp(),
            p["latitude"],
            p["longitude"],
        )
        for p in points
    ]
    worst, segment = 0.0, 0
    for moment, lat, lon in path:
        while segment < len(kept) - 2 and kept[segment + 1][0] <= moment:
            segment += 1
        (t0, lat0, lon0), (t1, lat1, lon1) = kept[segment], kept[segment + 1]
        ratio = (moment - t0) / (t1 - t0) if t1 > t0 else 0.0
        dlat = lat - (lat0 + ratio * (lat1 - lat0))
        dlon = (lon - (lon0 + ratio * (lon1 - lon0))) * math.cos(math.radians(lat))
        worst = max(worst, math.hypot(dlat, dlon) * METRES_PER_DEGREE)
    return worst


def measure_http(base: str, token: str, url: str, cases: list, rounds: int) -> None:
    """The same cases through a real server, gzip accepted (as a browser asks): time and bytes on the wire."""
    print(f"over HTTP ({base}, token, gzip accepted), median of {rounds}:")
    for label, path, params in [
        *((label, url, params) for label, params in cases),
        ("request floor (lazy_load=true)", "/api/trackers/", {"lazy_load": "true"}),
    ]:

        def get(path=path, params=params) -> bytes:
            request = urllib.request.Request(
                f"{base}{path}?{urllib.parse.urlencode(params)}",
                headers={"Authorization": f"Token {token}", "Accept-Encoding": "gzip"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()

        median, _, body = timed(get, rounds)
        print(f"  {label:31s} {median:7.1f} ms  {len(body):7d} bytes on the wire")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--serial",
        default=SERIAL,
        help=f"the tracker to measure (default {SERIAL}, made here); e.g. BENCH-TRAIL-30D, the noisy loop that "
        "bench/scripts/measure_panel.py --long writes, where the simplification spends the whole budget",
    )
    parser.add_argument("--base", help="also over HTTP: a server on the same database, e.g. http://127.0.0.1:8311")
    args = parser.parse_args()

    tracker, first = trail_tracker(args.serial)
    staff = get_user_model().objects.filter(is_staff=True).first() or get_user_model().objects.create_user(
        "trail-bench", password="unused-password", is_staff=True
    )
    api = APIClient()
    api.force_login(staff)
    url = f"/api/trackers/{tracker.id}/trail/"
    now = timezone.now()
    stored = LocationHistory.objects.filter(tracker=tracker).count()
    print(f"{connection.vendor}; tracker {args.serial}: {stored} reports")
    print(f"in-process through the API, median of {args.rounds} (this process's CPU):")
    cases = [
        ("30 days", {"since": first.isoformat()}),
        ("30 days, max_points=500", {"since": first.isoformat(), "max_points": 500}),
        ("30 days, max_points=10000", {"since": first.isoformat(), "max_points": 10000}),
        ("7 days", {"since": (now - timedelta(days=7)).isoformat()}),
        ("24 h (no since)", {}),
    ]
    for label, params in cases:
        median, cpu, response = timed(lambda params=params: api.get(url, params), args.rounds)
        body = response.json()
        gzipped = api.get(url, params, HTTP_ACCEPT_ENCODING="gzip")
        assert gzipped["Content-Encoding"] == "gzip"
        print(
            f"  {label:27s} {median:7.1f} ms ({cpu:6.1f} CPU)  reports {body['reports']:6d} -> points "
            f"{len(body['points']):5d}  bytes {len(response.content):7d} plain, {len(gzipped.content):6d} gzip"
        )
    floor, floor_cpu, _ = timed(lambda: api.get("/api/trackers/", {"lazy_load": "true"}), args.rounds)
    print(f"  an authenticated request reading no tracker (lazy_load=true): {floor:.1f} ms ({floor_cpu:.1f} CPU)")
    if args.base:
        measure_http(args.base, Token.objects.get_or_create(user=staff)[0].key, url, cases, args.rounds)

    print("where the 30-day request's time goes (medians):")
    params = {"since": first.isoformat()}
    with CaptureQueriesContext(connection) as captured:
        api.get(url, params)
    statement = next(q["sql"] for q in captured.captured_queries if "location_history" in q["sql"])
    if connection.vendor == "postgresql":
        samples = []
        for _ in range(args.rounds):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement)
                samples.append(cursor.fetchone()[0][0]["Execution Time"])
        print(f"  the history statement in PostgreSQL (EXPLAIN ANALYZE)   {statistics.median(samples):7.1f} ms")
    reports = LocationHistory.objects.filter(tracker=tracker, timestamp__gte=first)
    read, read_cpu, (times, latitudes, longitudes) = timed(lambda: queries.trail_columns(reports), args.rounds)
    print(f"  reading its {len(times)} reports as three JSON arrays (the view) {read:7.1f} ms ({read_cpu:6.1f} CPU)")
    as_rows = reports.order_by("timestamp").values_list(queries.EpochMicroseconds("timestamp"), "latitude", "longitude")
    rows_ms, rows_cpu, _ = timed(lambda: list(as_rows.all()), args.rounds)
    print(f"  the same as rows (not used)                             {rows_ms:7.1f} ms ({rows_cpu:6.1f} CPU)")
    as_datetimes = reports.order_by("timestamp").values_list("timestamp", "latitude", "longitude")
    slow, slow_cpu, _ = timed(lambda: list(as_datetimes.all()), args.rounds)
    print(f"  the same as rows with datetimes (not used)              {slow:7.1f} ms ({slow_cpu:6.1f} CPU)")
    simplified, simplified_cpu, kept = timed(
        lambda: simplify(times, latitudes, longitudes, max_points=2000, tolerance_m=queries.TRAIL_TOLERANCE_M),
        args.rounds,
    )
    print(
        f"  simplifying them to {len(kept)} points                    {simplified:7.1f} ms ({simplified_cpu:6.1f} CPU)"
    )
    whole, whole_cpu, _ = timed(lambda: queries.tracker_trail(ALL, tracker.id, since=first), args.rounds)
    print(f"  the whole query function (read, simplify, JSON)         {whole:7.1f} ms ({whole_cpu:6.1f} CPU)")

    path = [(microseconds / 1e6, lat, lon) for microseconds, lat, lon in zip(times, latitudes, longitudes)]
    for max_points in (2000, 500):
        answer = orjson.loads(queries.tracker_trail(ALL, tracker.id, since=first, max_points=max_points))
        print(
            f"largest replay error at max_points={max_points}: {replay_error_m(answer['points'], path):.2f} m"
            f" ({len(answer['points'])} points; tolerance {queries.TRAIL_TOLERANCE_M:g} m)"
        )


if __name__ == "__main__":
    main()
