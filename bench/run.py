"""A bench run: every case measured on the profile's database, interleaved, then the report."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import connection
from django.test.utils import override_settings

from bench.baseline import BENCH_URLCONF
from bench.cases import build_cases
from bench.measure import (
    HttpTransport,
    InProcessTransport,
    Measurement,
    api_token,
    hit_rates,
    local_cache_counters,
    login_session,
    parse_cache_counters,
    sum_hit_rates,
)
from bench.profiles import Profile, own_cache_prefix
from bench.report import BenchReport, CaseResult, add_ratios
from dashboard.models import LocationHistory, Tracker


def environment_warnings() -> list[str]:
    warnings = []
    if connection.vendor != "postgresql":
        warnings.append("running on SQLite: figures are not representative; use DATABASE_URL=postgres://…")
    if not hasattr(caches["default"], "delete_pattern"):
        warnings.append("running on the local-memory cache: figures are not representative; use REDIS_URL=redis://…")
    return warnings


def run_bench(
    profile: Profile,
    *,
    repeat: int,
    baseline_repeat: int,
    http_url: str | None = None,
    cprofile: tuple[str, ...] = (),
    log: Callable[[str], None] = print,
) -> BenchReport:
    """Measure every case on the profile's database (the default connection must point at it).

    1. The bench's own cache prefix, emptied before and after; the baseline's URL added.
    2. Each case: warm-up, a probe counting queries and bytes, N timed repeats; the cases that
       leave the others' state alone are interleaved round by round (same load for all).
    3. Ratios to the baseline and the floor, and the cache hit rates over the whole run.
    """
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("-is_superuser", "id").first()
    if staff is None:
        raise RuntimeError("the profile's database has no staff user: run with --reseed")
    cases = build_cases(profile, repeat=repeat, baseline_repeat=baseline_repeat)
    hosts = [*settings.ALLOWED_HOSTS, "testserver"]
    with own_cache_prefix(profile), override_settings(ROOT_URLCONF=BENCH_URLCONF, DEBUG=False, ALLOWED_HOSTS=hosts):
        in_process = InProcessTransport(staff)
        if http_url:
            remote = HttpTransport(http_url, token=api_token(staff), session_key=login_session(staff))
            read_counters = lambda: parse_cache_counters(remote.get_text("/metrics") or "")  # noqa: E731
        else:
            remote = None
            read_counters = local_cache_counters
        measurements = [
            Measurement(
                case,
                in_process if (case.in_process_only or remote is None) else remote,
                cprofile=case.name in cprofile,
            )
            for case in cases
        ]
        reads: dict[str, list] = {case.name: [] for case in cases}

        def counted(measurement: Measurement, step: Callable[[], None]) -> None:
            before = read_counters()
            step()
            reads[measurement.case.name].append(hit_rates(before, read_counters()))

        # 1. The comparable cases, interleaved round by round; 2. those that disturb the others'
        # state (emptying the cache, writing) one after the other, last.
        together = [m for m in measurements if not m.case.alone]
        log(f"  {len(together)} cases interleaved, {max(c.repeats for c in cases)} rounds…")
        for measurement in together:
            counted(measurement, measurement.start)
        while any(m.pending for m in together):
            for measurement in together:
                if measurement.pending:
                    counted(measurement, measurement.sample)
        # The cases that empty the cache go last, so that no other case starts on a cold cache.
        for measurement in sorted(measurements, key=lambda m: m.case.before_each is not None):
            if measurement.case.alone:
                log(f"  {measurement.case.description} × {measurement.case.repeats}…")
                counted(measurement, measurement.start)
                while measurement.pending:
                    counted(measurement, measurement.sample)
        results = [m.finish() for m in measurements]
        for result in results:
            result.cache_reads = sum_hit_rates(reads[result.name])
    add_ratios(results)
    return BenchReport(
        profile=profile.name,
        database=connection.settings_dict["NAME"],
        vendor=connection.vendor,
        cache_backend=settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        transport=(remote or in_process).label,
        repeat=repeat,
        trackers=Tracker.objects.count(),
        history_rows=LocationHistory.objects.count() if connection.vendor != "postgresql" else _estimated_history(),
        cases=results,
        cache_hit_rates=run_hit_rates(results),
        warnings=environment_warnings(),
    )


COLD_CASES = ("reference_cold",)  # they empty the cache on purpose: their misses are the point


def run_hit_rates(results: list[CaseResult]) -> dict[str, dict]:
    """Per cache: hits and misses over the whole run, and the hit rate without the cold cases."""
    rates: dict[str, dict] = {}
    for result in results:
        for cache, reads in result.cache_reads.items():
            entry = rates.setdefault(cache, {"hits": 0, "misses": 0, "warm_hits": 0, "warm_misses": 0})
            entry["hits"] += reads["hits"]
            entry["misses"] += reads["misses"]
            if result.name not in COLD_CASES:
                entry["warm_hits"] += reads["hits"]
                entry["warm_misses"] += reads["misses"]
    for entry in rates.values():
        reads, warm_reads = entry["hits"] + entry["misses"], entry["warm_hits"] + entry["warm_misses"]
        entry["hit_rate"] = entry["hits"] / reads if reads else None
        entry["hit_rate_without_cold_cases"] = entry["warm_hits"] / warm_reads if warm_reads else None
    return rates


def _estimated_history() -> int:
    with connection.cursor() as cursor:  # count(*) over millions of rows would take a while
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'location_history'")
        return int(cursor.fetchone()[0])
