"""Ad-hoc measurement of the reference cache and the tracker query cache. Not a test.

Run against a seeded database (seed_demo --trackers 1500 --history 1000) on PostgreSQL + Redis:
    DATABASE_URL=postgres://... REDIS_URL=redis://... CACHE_KEY_PREFIX=measure \\
        .venv/bin/python bench/scripts/measure_caches.py [--runs 30]
Prints medians of warm / cold / database-only `/api/reference/`, the reloads caused by
1,000-row edits (the edit is undone afterwards), and cached / uncached / N+1 `/api/trackers/`.
Every variant runs interleaved with the others, so all see the same load on a shared machine.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import clear_url_caches  # noqa: E402
from measure_tracker_list import timed  # noqa: E402  (sets Django up)
from measure_tracker_list import urlpatterns as baseline_urls  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

import cache_layer  # noqa: E402
from cache_layer import invalidation, query  # noqa: E402
from dashboard.models import Brand, ProductionRun, Tracker  # noqa: E402

CACHE_OFF = {"ENABLED": False}


def client_for(user) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def interleaved(runs: int, variants: dict) -> dict:
    """name → (median ms, queries, bytes); each variant is (url, api, before-callable, settings)."""
    samples = {name: [] for name in variants}
    for _ in range(runs):
        for name, (api, url, before, overrides) in variants.items():
            before()
            with override_settings(**overrides):
                samples[name].append(timed(api, url))
    return {name: (statistics.median(s[0] for s in got), got[-1][1], got[-1][2]) for name, got in samples.items()}


def reloads(table: str) -> float:
    return REGISTRY.get_sample_value("cache_reloads_total", {"cache": "reference", "table": table}) or 0.0


def nothing() -> None:
    pass


def reference_reads(runs: int, user, off: dict) -> str:
    """The six lists alone (no HTTP, no authentication): warm cache, cold cache, database."""
    from dashboard.queries import reference_payload

    samples = {"warm": [], "cold": [], "database": []}
    for _ in range(runs):
        for name in samples:
            if name == "cold":
                invalidation.invalidate_all(reload=False)
            with override_settings(**(off if name == "database" else {})):
                started = time.perf_counter()
                reference_payload(user)
                samples[name].append((time.perf_counter() - started) * 1000)
    medians = ", ".join(f"{name} {statistics.median(s):.2f} ms" for name, s in samples.items())
    return f"reference_payload(staff) alone, medians: {medians}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    from django.conf import settings

    import trackerdash.urls as root

    root.urlpatterns += baseline_urls
    clear_url_caches()
    users = get_user_model().objects
    staff = client_for(users.filter(is_staff=True).first())
    ops = client_for(users.filter(username__startswith="ops-").order_by("username").first())
    off = {"CACHE_LAYER": {**settings.CACHE_LAYER, **CACHE_OFF}}
    row = "{:<44} median {:7.2f} ms  {:5d} queries  {:>7} bytes"
    print(f"trackers: {Tracker.objects.count()}; runs: {ProductionRun.objects.count()}; {args.runs} runs each\n")

    cache_layer.prewarm()
    result = interleaved(
        args.runs,
        {
            "staff  /api/reference/ warm": (staff, "/api/reference/", nothing, {}),
            "staff  /api/reference/ cold": (
                staff,
                "/api/reference/",
                lambda: invalidation.invalidate_all(reload=False),
                {},
            ),
            "staff  /api/reference/ database only": (staff, "/api/reference/", nothing, off),
            "client /api/reference/ warm": (ops, "/api/reference/", nothing, {}),
            "client /api/reference/ cold": (
                ops,
                "/api/reference/",
                lambda: invalidation.invalidate_all(reload=False),
                {},
            ),
            "client /api/reference/ database only": (ops, "/api/reference/", nothing, off),
        },
    )
    for name, (ms, queries, size) in result.items():
        print(row.format(name, ms, queries, size))
    print(reference_reads(args.runs, users.filter(is_staff=True).first(), off))

    trackers = list(Tracker.objects.order_by("id")[:1000])
    original = {t.pk: t.production_run_id for t in trackers}
    runs = list(ProductionRun.objects.order_by("id")[:2])
    cache_layer.prewarm()
    before = reloads("production_runs")
    for tracker in trackers:  # 1,000 saves, each its own transaction, as fast as they go
        tracker.production_run = runs[0] if tracker.production_run_id != runs[0].pk else runs[1]
        tracker.save()
    invalidation.wait_for_reloads(60)
    print(
        f"\n1,000 tracker saves moving runs, one transaction each: {reloads('production_runs') - before:.0f} "
        f"reload(s) of production_runs (debounce {settings.CACHE_DEBOUNCE_SECONDS} s)"
    )
    before = reloads("production_runs")
    for tracker in trackers:
        tracker.production_run_id = original[tracker.pk]
    Tracker.objects.bulk_update(trackers, ["production_run"], batch_size=1000)
    invalidation.wait_for_reloads(60)
    print(f"one bulk_update of 1,000 trackers: {reloads('production_runs') - before:.0f} reload(s)")
    before = sum(reloads(t) for t in cache_layer.registry.names())
    Tracker.objects.filter(pk__in=original).update(battery_level=50)
    invalidation.wait_for_reloads(60)
    print(
        f"one update() of 1,000 trackers' battery (ingest-like): "
        f"{sum(reloads(t) for t in cache_layer.registry.names()) - before:.0f} reference reload(s)\n"
    )

    brand = Brand.objects.order_by("id").first()
    filtered = f"/api/trackers/?size=5000&brand_ids={brand.pk}&status=in_transit"
    off_query = {"CACHE_LAYER": {**settings.CACHE_LAYER, "QUERY_CACHE_ENABLED": False}}
    staff.get("/api/trackers/?size=5000")
    staff.get(filtered)
    result = interleaved(
        args.runs,
        {
            "GET /api/trackers/?size=5000 cached": (staff, "/api/trackers/?size=5000", nothing, {}),
            "GET /api/trackers/?size=5000 uncached": (staff, "/api/trackers/?size=5000", nothing, off_query),
            "GET /api/trackers/ filtered, cached": (staff, filtered, nothing, {}),
            "GET /api/trackers/ filtered, uncached": (staff, filtered, nothing, off_query),
        },
    )
    baseline = interleaved(
        max(3, args.runs // 10), {"N+1 ModelSerializer baseline": (staff, "/baseline/", nothing, {})}
    )
    result.update(baseline)
    for name, (ms, queries, size) in result.items():
        print(row.format(name, ms, queries, size))
    base = baseline["N+1 ModelSerializer baseline"][0]
    print(
        f"\nratio to N+1: cached {base / result['GET /api/trackers/?size=5000 cached'][0]:.0f}x, "
        f"uncached {base / result['GET /api/trackers/?size=5000 uncached'][0]:.0f}x"
    )
    query.invalidate_all()


if __name__ == "__main__":
    main()
