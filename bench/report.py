"""What a bench run found: each case's result, the run's report, the ratios and the Markdown table."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field


@dataclass
class CaseResult:
    name: str
    description: str
    status: str  # ok | n/a | error
    note: str = ""
    repeats: int = 0
    median_ms: float | None = None
    p95_ms: float | None = None
    queries: int | None = None
    bytes: int | None = None
    vs_baseline: float | None = None  # baseline median / this median: how many times faster
    vs_floor: float | None = None  # this median / floor median: how many times the floor
    samples_ms: list[float] = field(default_factory=list)
    cache_reads: dict = field(default_factory=dict)  # {cache: {hits, misses, hit_rate}} during this case
    profile: str = ""  # with --cprofile: cProfile's top functions


@dataclass
class BenchReport:
    profile: str
    database: str
    vendor: str
    cache_backend: str
    transport: str
    repeat: int
    trackers: int
    history_rows: int
    cases: list[CaseResult]
    cache_hit_rates: dict
    warnings: list[str]
    located_trackers: int = 0  # trackers with a latest location: the positions feed's rows

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


# Cases that return trackers with their latest location, as the original page did: comparable to the baseline.
TRACKER_LIST_CASES = ("floor", "baseline", "api_all", "api_filtered")


def add_ratios(results: list[CaseResult]) -> None:
    by_name = {r.name: r for r in results if r.median_ms}
    baseline, floor = by_name.get("baseline"), by_name.get("floor")
    for result in results:
        if not result.median_ms:
            continue
        if baseline and result.name.startswith(TRACKER_LIST_CASES):
            result.vs_baseline = baseline.median_ms / result.median_ms
        if floor and result.name.startswith(("api_all", "floor", "baseline")):  # the same rows as the floor
            result.vs_floor = result.median_ms / floor.median_ms


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 10:
        return f"{value:,.0f}×"
    return f"{value:.1f}×" if value >= 1 else f"{value:.2f}×"


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


# (numerator, denominator, what the ratio says), all from the same run
SAME_RUN_RATIOS = (
    ("api_page_last_uncached", "api_page_first_uncached", "the last page ÷ page 1 (size 1,000, uncached)"),
    ("api_all_cached_gzip", "lazy_empty", "the cached list, gzip accepted ÷ an authenticated `?lazy_load=true`"),
    ("positions_cached", "lazy_empty", "the cached positions feed ÷ an authenticated `?lazy_load=true`"),
    ("attention_warm", "lazy_empty", "warm /api/attention/ ÷ an authenticated `?lazy_load=true`"),
)


def issue_ratios(report: BenchReport) -> list[str]:
    """The ratios the issues name, and the positions feed's bytes per tracker, as lines under the table."""
    by_name = {r.name: r for r in report.cases if r.status == "ok" and r.median_ms}
    lines = [
        f"{what}: {by_name[top].median_ms / by_name[bottom].median_ms:.2f}×"
        for top, bottom, what in SAME_RUN_RATIOS
        if top in by_name and bottom in by_name
    ]
    feed = by_name.get("positions_cached")
    if feed and feed.bytes and report.located_trackers:
        lines.append(
            f"positions feed on the wire (gzip): {feed.bytes / report.located_trackers:.1f} bytes per tracker "
            f"({report.located_trackers:,} trackers with a location)"
        )
    return [*lines, ""] if lines else []


def format_table(report: BenchReport) -> str:
    """The Markdown table the command prints (and docs/performance.md shows)."""
    lines = [
        "| case | median ms | p95 ms | queries | bytes | × faster than baseline | × the floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.cases:
        if r.status != "ok":
            lines.append(f"| {r.description} | {r.status}: {r.note} | | | | | |")
            continue
        lines.append(
            f"| {r.description} | {r.median_ms:,.1f} | {r.p95_ms:,.1f} | "
            f"{'' if r.queries is None else r.queries} | {'' if r.bytes is None else f'{r.bytes:,}'} | "
            f"{_ratio(r.vs_baseline)} | {_ratio(r.vs_floor)} |"
        )
    lines.append("")
    lines.extend(issue_ratios(report))
    for cache, counts in report.cache_hit_rates.items():
        lines.append(
            f"{cache} cache hit rate over the run: {_percent(counts['hit_rate'])} "
            f"({counts['hits']:,} hits, {counts['misses']:,} misses); "
            f"without the cold case: {_percent(counts['hit_rate_without_cold_cases'])}"
        )
    if not report.cache_hit_rates:
        lines.append("cache hit rates: no cache reads counted (cache layer not built yet?)")
    return "\n".join(lines)


def describe(report: BenchReport) -> str:
    return (
        f"profile {report.profile}: {report.trackers:,} trackers, ~{report.history_rows:,} history rows · "
        f"{report.vendor} database {report.database} · cache {report.cache_backend} · {report.transport} · "
        f"repeat {report.repeat} (Python {platform.python_version()})"
    )
