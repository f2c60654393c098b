"""Prometheus metrics of the running site: SQL, requests, scrape-time gauges, and the /metrics view.

Metric names of the cache layer and of the page's telemetry live beside their code
(cache_layer/metrics.py, dashboard/metrics.py); this module adds what only the project
sees (every SQL statement, every request) and exposes all of them.

Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does it when unset): each
process then writes its samples to files there, and /metrics adds up every process's.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar

from django.conf import settings
from django.db import connection as default_connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from cache_layer import health as cache_layer_health

logger = logging.getLogger(__name__)

DB_QUERY_SECONDS = Histogram(
    "db_query_seconds",
    "Duration of each SQL statement, through a connection execute_wrapper.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUEST_QUERIES = Histogram(
    "http_request_queries",
    "SQL statements run by one request, by URL route name.",
    ["route"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 20, 50, 100, 200, 500, 1000),
)
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from a request entering Django to its response, by URL route name and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)

# Multi-process mode drops prometheus-client's process collector: each worker sets these itself.
# liveall: one series per live worker (a `pid` label); livesum: every live worker together.
WORKER_RSS = Gauge(
    "worker_resident_memory_bytes",
    "Resident memory of each live web worker (pid label under gunicorn), updated by its requests.",
    multiprocess_mode="liveall",
)
WORKERS_RSS = Gauge(
    "workers_resident_memory_bytes",
    "Resident memory of all live web workers together.",
    multiprocess_mode="livesum",
)
RSS_EVERY_SECONDS = 1.0  # a request reads /proc at most this often per process

# Unknown methods and unresolved paths share one label value each, so a scanner
# cannot create a time series per path it tries.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"
STATIC_ROUTE = "<static>"  # whitenoise answers before URL resolution

# The statements counted for the request being served in this thread (None outside a request).
_request_query_count: ContextVar[list[int] | None] = ContextVar("request_query_count", default=None)


# --- SQL -------------------------------------------------------------------------------


def observe_query(execute: Callable, sql, params, many, context):
    """A connection execute_wrapper: times the statement and counts it for the current request."""
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        DB_QUERY_SECONDS.observe(time.perf_counter() - started)
        count = _request_query_count.get()
        if count is not None:
            count[0] += 1


def install_query_observer(sender, connection, **kwargs) -> None:
    """connection_created receiver: wrap every connection once (the wrapper object outlives reconnects).

    First in the list, so it is the outermost wrapper and stays put when code using
    `connection.execute_wrapper()` pops its own.
    """
    if observe_query not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, observe_query)


# --- Memory ----------------------------------------------------------------------------


def resident_memory_bytes() -> int:
    """This process's resident set size now (Linux /proc), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_rss_updated = [float("-inf")]


def update_worker_memory(now: float | None = None) -> None:
    """Set the RSS gauges, at most once per RSS_EVERY_SECONDS (a request pays ~10 µs when it does)."""
    now = time.monotonic() if now is None else now
    if now - _rss_updated[0] < RSS_EVERY_SECONDS:
        return
    _rss_updated[0] = now
    rss = resident_memory_bytes()
    WORKER_RSS.set(rss)
    WORKERS_RSS.set(rss)


# --- Requests --------------------------------------------------------------------------


def route_label(request: HttpRequest, response: HttpResponse | None) -> str:
    """The resolved URL's name (`namespace:name`, or the view's dotted path), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or UNMATCHED_ROUTE
    if response is not None and response.status_code < 400 and request.path.startswith(_static_prefix()):
        return STATIC_ROUTE
    return UNMATCHED_ROUTE


def _static_prefix() -> str:
    return "/" + settings.STATIC_URL.lstrip("/")


class RequestMetricsMiddleware:
    """Observes each request's latency and SQL statement count. First in MIDDLEWARE, so it times all."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        count = [0]
        token = _request_query_count.set(count)
        started = time.perf_counter()
        response = None
        try:
            response = self.get_response(request)
            return response
        finally:
            elapsed = time.perf_counter() - started
            _request_query_count.reset(token)
            route = route_label(request, response)
            method = request.method if request.method in KNOWN_METHODS else "other"
            REQUEST_SECONDS.labels(route=route, method=method).observe(elapsed)
            REQUEST_QUERIES.labels(route=route).observe(count[0])
            update_worker_memory()


# --- Gauges computed at scrape time ------------------------------------------------------


class HitRateWindow:
    """Hit rate per cache over the last `window` seconds, from snapshots of the hit and miss totals.

    Each scrape records the totals. The rate is the change since the newest snapshot at
    least `window` old (or, for a process younger than the window, its oldest snapshot;
    before any snapshot, the totals since the counters started). Monotonic clock only.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._snapshots: deque[tuple[float, dict[str, tuple[float, float]]]] = deque()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._snapshots.clear()

    def observe(self, totals: dict[str, tuple[float, float]], *, window: float) -> dict[str, float]:
        """Record `totals` ({cache: (hits, misses)}) and return {cache: percent} over the window.

        A cache without reads in the window has no value (no sample is better than a made-up 100 %).
        """
        now = self.clock()
        with self._lock:
            older = [snap for snap in self._snapshots if snap[0] <= now - window]
            if older:
                baseline = older[-1][1]
            elif self._snapshots:
                baseline = self._snapshots[0][1]
            else:
                baseline = {}
            self._snapshots.append((now, totals))
            # Keep only what can still be a baseline: the newest snapshot at least a window old, and younger ones.
            while len(self._snapshots) > 1 and self._snapshots[1][0] <= now - window:
                self._snapshots.popleft()

        rates = {}
        for cache, (hits, misses) in totals.items():
            base_hits, base_misses = baseline.get(cache, (0.0, 0.0))
            if hits < base_hits or misses < base_misses:  # the counters were reset (a restart)
                base_hits = base_misses = 0.0
            reads = (hits - base_hits) + (misses - base_misses)
            if reads > 0:
                rates[cache] = 100.0 * (hits - base_hits) / reads
        return rates


HIT_RATE = HitRateWindow()


def _cache_read_totals(families: Iterable[Metric]) -> dict[str, tuple[float, float]]:
    """{cache: (hits, misses)} summed over tables, from already collected metric families."""
    sums: dict[str, list[float]] = {}
    for family in families:
        for sample in family.samples:
            if sample.name in ("cache_hits_total", "cache_misses_total"):
                pair = sums.setdefault(sample.labels.get("cache", ""), [0.0, 0.0])
                pair[sample.name == "cache_misses_total"] += sample.value
    return {cache: (hits, misses) for cache, (hits, misses) in sums.items()}


def scrape_time_gauges(families: list[Metric]) -> list[Metric]:
    """Gauges that are a function of other figures at scrape time: computed here, not stored in files."""
    hit_rate = GaugeMetricFamily(
        "cache_hit_rate_percent",
        "Cache hits / (hits + misses) over the last CACHE_HIT_RATE_WINDOW_SECONDS, in percent.",
        labels=["cache"],
    )
    rates = HIT_RATE.observe(_cache_read_totals(families), window=settings.CACHE_HIT_RATE_WINDOW_SECONDS)
    for cache, percent in sorted(rates.items()):
        hit_rate.add_metric([cache], percent)
    limit = GaugeMetricFamily(
        "worker_resident_memory_limit_bytes",
        "WORKER_MEMORY_ALERT_BYTES: the worker memory above which WorkerMemoryHigh fires.",
    )
    limit.add_metric([], settings.WORKER_MEMORY_ALERT_BYTES)
    gauges: list[Metric] = [hit_rate, limit, *redis_memory_metrics()]

    if default_connection.vendor == "postgresql":  # the listener exists only on PostgreSQL
        try:
            age = cache_layer_health.listener_health().get("last_heartbeat_age")
        except Exception:  # the heartbeat's store is away: /health/ says so, /metrics still answers
            logger.warning("listener heartbeat unreadable", exc_info=True)
            return gauges
        heartbeat = GaugeMetricFamily(
            "cache_listener_heartbeat_age_seconds",
            "Seconds since the invalidation listener's last heartbeat (+Inf: never seen).",
        )
        heartbeat.add_metric([], float("inf") if age is None else float(age))
        gauges.append(heartbeat)
    return gauges


def redis_memory_metrics() -> list[Metric]:
    """Redis's memory figures, read at scrape time (one INFO round trip, the cache's socket timeout);
    none when Redis is away or not used, so /metrics still answers."""
    try:
        memory = cache_layer_health.redis_memory()
    except Exception:
        logger.warning("Redis memory figures unreadable", exc_info=True)
        return []
    if memory is None:
        return []
    used = GaugeMetricFamily("redis_used_memory_bytes", "Redis INFO used_memory: bytes Redis has allocated.")
    used.add_metric([], memory["used_memory"])
    bound = GaugeMetricFamily("redis_maxmemory_bytes", "Redis maxmemory (0: no bound; /health/ says degraded).")
    bound.add_metric([], memory["maxmemory"])
    evicted = CounterMetricFamily("redis_evicted_keys", "Keys Redis evicted to stay under maxmemory (INFO stats).")
    evicted.add_metric([], memory["evicted_keys"])
    return [used, bound, evicted]


class _Collected:
    """Already collected families, in the shape the exposition encoders take."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def collect_all() -> list[Metric]:
    """Every metric family of the site: this process's, or all processes' in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    families = list(registry.collect())
    return families + scrape_time_gauges(families)


# --- /metrics --------------------------------------------------------------------------


def metrics_allowed(request: HttpRequest) -> bool:
    """Localhost, or the bearer token METRICS_TOKEN; nobody else.

    A request that came through a proxy (X-Forwarded-For) is not local even when the
    proxy is on this host: it may carry anyone's request.
    """
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    if "X-Forwarded-For" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse(
            "Metrics are served to localhost and to the bearer token METRICS_TOKEN.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(_Collected(collect_all())), content_type=content_type)
