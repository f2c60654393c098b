"""Ad-hoc measurement of GET /api/attention/ in-process (Django's test client). Not a test.

Run against a seeded database (seed_demo --trackers 1500 --history 200) on PostgreSQL + Redis:
    DATABASE_URL=postgres://... REDIS_URL=redis://... CACHE_KEY_PREFIX=measure \\
        .venv/bin/python bench/scripts/measure_attention.py [--runs 200]
Prints, for staff and a client's user, the median and p90 of: the warm answer, a revalidation
(If-None-Match: the current tag, a 304), the answer with the query cache off (the one COUNT query),
and the floor (`/api/trackers/?lazy_load=true`: authenticated, answered without the database);
each with its SQL queries and bytes. Every variant runs interleaved with the others, so all see
the same load on a shared machine; `queries.attention()` alone is the answer's own cost (the scope,
the tag and the entry: two cache round trips) without HTTP, authentication or DRF. The issue's
target: warm ≤ 3 ms in-process, no SQL beyond authentication.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from measure_tracker_list import timed  # noqa: E402  (sets Django up)
from rest_framework.test import APIClient  # noqa: E402

import cache_layer  # noqa: E402
from dashboard.models import Tracker  # noqa: E402

URL = "/api/attention/"
FLOOR = "/api/trackers/?lazy_load=true"


def client_for(user) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def revalidated(api, url: str) -> tuple[float, int, int]:
    """timed() for a request sending the current ETag (a 304; again when the clock's minute, and so
    the tag, turned between the two requests)."""
    for _ in range(3):
        tag = api.get(url)["ETag"]
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = api.get(url, HTTP_IF_NONE_MATCH=tag)
            elapsed = time.perf_counter() - started
        if response.status_code == 304:
            return elapsed * 1000, len(captured), len(response.content)
    raise AssertionError(f"no 304 for the current tag: {response.status_code}")


def answered_alone(user) -> tuple[float, int, int]:
    """The answer without HTTP, authentication or DRF: the scope, the tag and the entry."""
    from dashboard import queries
    from dashboard.scope import scope_for

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        counts = queries.attention(scope_for(user))
        counts.tag()
        body = counts.entry.body
        elapsed = time.perf_counter() - started
    return elapsed * 1000, len(captured), len(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    from django.conf import settings

    users = get_user_model().objects
    people = {
        "staff": users.filter(is_staff=True).first(),
        "client": users.filter(username__startswith="ops-").order_by("username").first(),
    }
    actors = {name: client_for(user) for name, user in people.items()}
    off = {"CACHE_LAYER": {**settings.CACHE_LAYER, "QUERY_CACHE_ENABLED": False}}
    print(
        f"database: {connection.vendor}; cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}; "
        f"trackers: {Tracker.objects.count()}; {args.runs} runs each, interleaved\n"
    )
    cache_layer.prewarm()
    variants = {}
    for name, api in actors.items():
        print(f"{name:<6} {URL} → {api.get(URL).json()}")
        variants[f"{name:<6} {URL} warm"] = lambda api=api: timed(api, URL)
        variants[f"{name:<6} {URL} If-None-Match (304)"] = lambda api=api: revalidated(api, URL)
        variants[f"{name:<6} {URL} query cache off"] = lambda api=api: _with(off, lambda: timed(api, URL))
        variants[f"{name:<6} floor {FLOOR}"] = lambda api=api: timed(api, FLOOR)
        variants[f"{name:<6} queries.attention() alone, warm"] = lambda user=people[name]: answered_alone(user)
    samples = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, once in variants.items():
            samples[name].append(once())
    print()
    row = "{:<48} median {:6.2f} ms  p90 {:6.2f} ms  {:2d} queries  {:>5} bytes"
    for name, got in samples.items():
        times = sorted(sample[0] for sample in got)
        p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
        print(row.format(name, statistics.median(times), p90, got[-1][1], got[-1][2]))


def _with(overrides: dict, call):
    with override_settings(**overrides):
        return call()


if __name__ == "__main__":
    main()
