"""The measured cases: what each requests, how often, under which settings.

A new case is a `Case` in `build_cases` and its name in `CASE_NAMES` (in table order).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from bench.baseline import BASELINE_PATH, floor_once
from bench.profiles import Profile, clear_bench_cache
from dashboard.models import ProductionRun, Tracker, TrackerLatestLocation


@dataclass
class Case:
    """One measured line: a request (or several, summed) repeated N times."""

    name: str
    description: str
    paths: list[str] = field(default_factory=list)
    method: str = "GET"
    body: Callable[[], str] | None = None  # a fresh payload per request (ingest)
    before_each: Callable[[], None] | None = None  # untimed, e.g. empty the cache for a cold read
    settings: dict = field(default_factory=dict)  # settings overridden while the case runs
    headers: dict = field(default_factory=dict)  # request headers, e.g. Accept-Encoding (bytes are on the wire)
    repeats: int = 1
    in_process_only: bool = False  # needs this process's database (baseline, floor)
    http_na: str = ""  # why the case can't be measured against a running server
    run: Callable[[], tuple[int | None, int | None]] | None = None  # non-HTTP case: → (status, bytes)
    alone: bool = False  # empties the cache or writes: measured after the interleaved cases, on its own


def pick_filtered_runs(target: int, most: int = 10) -> tuple[list[int], int]:
    """Up to `most` production runs (as many as possible) whose trackers add up to about `target`."""
    counts = _run_counts()
    best: tuple[float, list[int], int] = (float("inf"), [], 0)
    for k in range(min(most, len(counts)), 0, -1):
        for start in range(len(counts) - k + 1):
            window = counts[start : start + k]
            total = sum(c for c, _ in window)
            # Prefer more runs: a miss of 10 % is worth one run less.
            score = abs(total - target) / max(target, 1) + (most - k) * 0.1
            if score < best[0]:
                best = (score, [pk for _, pk in window], total)
    return sorted(best[1]), best[2]


def _run_counts() -> list[tuple[int, int]]:
    rows = ProductionRun.objects.annotate(n=Count("trackers")).values_list("n", "pk")
    return sorted((n, pk) for n, pk in rows if n)


def ingest_payloads(profile: Profile) -> Callable[[], str]:
    """A fresh batch per call: one report per tracker, at an instant no other report has."""
    serials = list(Tracker.objects.order_by("id").values_list("serial", flat=True)[: profile.ingest_batch])
    # Seeded reports fall on whole seconds; these never do, so a batch is never a duplicate.
    base = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    batch_number = iter(range(1, 10**5))

    def payload() -> str:
        instant = (base + timedelta(microseconds=next(batch_number) * 10 + 1)).isoformat()
        return json.dumps(
            [
                {
                    "tracker": serial,
                    "timestamp": instant,
                    "latitude": round(48.85 + k * 1e-4, 6),
                    "longitude": round(2.35 + k * 1e-4, 6),
                    "nearest_city": "Paris",
                    "confidence": 0.9,
                }
                for k, serial in enumerate(serials)
            ]
        )

    return payload


CASE_NAMES = (
    "floor",
    "baseline",
    "api_all_uncached",
    "api_all_cached",
    "api_all_cached_gzip",
    "api_filtered_uncached",
    "api_filtered_cached",
    "api_page_first_uncached",
    "api_page_last_uncached",
    "positions_uncached",
    "positions_cached",
    "attention_warm",
    "lazy_empty",
    "reference_cold",
    "reference_warm",
    "page",
    "ingest",
)


GZIP = {"Accept-Encoding": "gzip"}


def query_cache_settings(enabled: bool) -> dict:
    """The query cache's switch, both as the project setting and as cache_layer reads it."""
    return {
        "QUERY_CACHE_ENABLED": enabled,
        "CACHE_LAYER": {**getattr(settings, "CACHE_LAYER", {}), "QUERY_CACHE_ENABLED": enabled},
    }


def build_cases(profile: Profile, *, repeat: int, baseline_repeat: int) -> list[Case]:
    trackers = Tracker.objects.count()
    run_ids, filtered = pick_filtered_runs(profile.filtered_trackers)
    page_size = 5000  # the API's largest page: "all trackers" is as many pages as that takes
    pages = max(1, -(-trackers // page_size))
    all_paths = [f"/api/trackers/?size={page_size}" + (f"&page={n}" if pages > 1 else "") for n in range(1, pages + 1)]
    all_label = f"all {trackers:,} trackers" + (f" ({pages} pages of {page_size:,})" if pages > 1 else "")
    filtered_path = f"/api/trackers/?size={page_size}&production_run_ids={','.join(map(str, run_ids))}"
    filtered_label = f"{len(run_ids)} production runs, {filtered:,} trackers"
    uncached, cached = query_cache_settings(False), query_cache_settings(True)
    last_page = max(1, -(-trackers // 1000))  # page k must cost what page 1 costs
    located = TrackerLatestLocation.objects.count()
    http_uncontrolled = "the server's cache can't be switched over HTTP"
    return [
        Case(
            "floor",
            f"FLOOR: one SQL statement through a cursor ({trackers:,} trackers)",
            run=floor_once,
            repeats=repeat,
            in_process_only=True,
        ),
        Case(
            "baseline",
            f"BASELINE: N+1 DRF ModelSerializer ({trackers:,} trackers)",
            paths=[BASELINE_PATH],
            repeats=min(repeat, baseline_repeat),
            in_process_only=True,
        ),
        Case(
            "api_all_uncached",
            f"GET /api/trackers/ {all_label}, uncached",
            paths=all_paths,
            settings=uncached,
            repeats=repeat,
            http_na=http_uncontrolled,
        ),
        Case(
            "api_all_cached",
            f"GET /api/trackers/ {all_label}, cached",
            paths=all_paths,
            settings=cached,
            repeats=repeat,
        ),
        Case(
            "api_all_cached_gzip",
            f"GET /api/trackers/ {all_label}, cached, gzip accepted (bytes on the wire)",
            paths=all_paths,
            settings=cached,
            headers=GZIP,
            repeats=repeat,
        ),
        Case(
            "api_filtered_uncached",
            f"GET /api/trackers/ {filtered_label}, uncached",
            paths=[filtered_path],
            settings=uncached,
            repeats=repeat,
            http_na=http_uncontrolled,
        ),
        Case(
            "api_filtered_cached",
            f"GET /api/trackers/ {filtered_label}, cached",
            paths=[filtered_path],
            settings=cached,
            repeats=repeat,
        ),
        Case(
            "api_page_first_uncached",
            f"GET /api/trackers/?size=1000 page 1 of {last_page}, uncached",
            paths=["/api/trackers/?size=1000&page=1"],
            settings=uncached,
            repeats=repeat,
            http_na=http_uncontrolled,
        ),
        Case(
            "api_page_last_uncached",
            f"GET /api/trackers/?size=1000 page {last_page} of {last_page}, uncached",
            paths=[f"/api/trackers/?size=1000&page={last_page}"],
            settings=uncached,
            repeats=repeat,
            http_na=http_uncontrolled,
        ),
        Case(
            "positions_uncached",
            f"GET /api/trackers/positions/ {located:,} trackers, uncached, gzip accepted",
            paths=["/api/trackers/positions/"],
            settings=uncached,
            headers=GZIP,
            repeats=repeat,
            http_na=http_uncontrolled,
        ),
        Case(
            "positions_cached",
            f"GET /api/trackers/positions/ {located:,} trackers, cached, gzip accepted",
            paths=["/api/trackers/positions/"],
            settings=cached,
            headers=GZIP,
            repeats=repeat,
        ),
        Case(
            "attention_warm",
            "GET /api/attention/ warm (the top bar's counts: low battery, silent, never reported)",
            paths=["/api/attention/"],
            settings=cached,
            repeats=repeat,
        ),
        Case(
            "lazy_empty",
            "GET /api/trackers/?lazy_load=true (authenticated, no tracker read: the request floor)",
            paths=["/api/trackers/?lazy_load=true"],
            headers=GZIP,
            repeats=repeat,
        ),
        Case(
            "reference_cold",
            "GET /api/reference/ cold (cache emptied first)",
            paths=["/api/reference/"],
            before_each=clear_bench_cache,
            repeats=repeat,
            http_na=http_uncontrolled,
            alone=True,
        ),
        Case("reference_warm", "GET /api/reference/ warm", paths=["/api/reference/"], repeats=repeat),
        Case("page", "GET / the dashboard page", paths=["/"], repeats=repeat),
        Case(
            "ingest",
            f"POST /api/location-reports/ {profile.ingest_batch:,} reports",
            paths=["/api/location-reports/"],
            method="POST",
            body=ingest_payloads(profile),
            repeats=repeat,
            alone=True,
        ),
    ]
