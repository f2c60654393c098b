"""Measuring one case: the transports (the test client in this process, or HTTP to a running
server), query counting, cache hit rates from the counters, cProfile, and `Measurement`."""

from __future__ import annotations

import cProfile
import http.client
import io
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection
from django.test import Client as TestClient
from django.test.utils import override_settings
from django.urls import Resolver404, resolve
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from bench.cases import Case
from bench.report import CaseResult
from cache_layer import metrics

# --- Transports: the Django test client in this process, or HTTP to a running server ------------


def login_session(user) -> str:
    """A logged-in session for `user` in the session store; returns its key (the cookie value)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


def api_token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


class InProcessTransport:
    """A full request through Django's handler and middleware (the test client), as `user`."""

    label = "in-process (Django test client)"

    def __init__(self, user):
        self.client = TestClient()
        self.client.force_login(user)

    def send(self, method: str, url: str, body: str | None = None) -> tuple[int, bytes]:
        if method == "GET":
            response = self.client.get(url)
        else:
            response = self.client.generic(method, url, body or "", content_type="application/json")
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, content


class HttpTransport:
    """Keep-alive HTTP to a running server: a token for /api/, a session cookie for pages."""

    def __init__(self, base_url: str, *, token: str, session_key: str):
        parts = urlsplit(base_url)
        self.label = f"HTTP {base_url}"
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.token, self.session_key = token, session_key
        self.conn = None

    def _connection(self):
        if self.conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.conn = cls(self.host, self.port, timeout=120)
        return self.conn

    def send(self, method: str, url: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json, text/html"}
        if url.startswith("/api/"):
            headers["Authorization"] = f"Token {self.token}"
        else:
            headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={self.session_key}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):  # a server may close an idle keep-alive connection: reconnect once
            try:
                conn = self._connection()
                conn.request(method, self.prefix + url, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, OSError):
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get_text(self, url: str) -> str | None:
        status, content = self.send("GET", url)
        return content.decode() if status == 200 else None


# --- Cache hit rates ------------------------------------------------------------------------


_COUNTER_KINDS = {"cache_hits_total": "hits", "cache_misses_total": "misses"}


def _sum_cache_samples(samples) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = {}
    for sample in samples:
        kind = _COUNTER_KINDS.get(sample.name)
        if kind and "cache" in sample.labels:
            entry = totals.setdefault(sample.labels["cache"], {"hits": 0.0, "misses": 0.0})
            entry[kind] += sample.value
    return totals


def parse_cache_counters(metrics_text: str) -> dict[str, dict[str, float]]:
    """{"reference": {"hits": h, "misses": m}, ...} summed over tables, from a /metrics page."""
    return _sum_cache_samples(s for family in text_string_to_metric_families(metrics_text) for s in family.samples)


def local_cache_counters() -> dict[str, dict[str, float]]:
    """The same, read from this process's counters (the in-process bench)."""
    counters = (metrics.CACHE_HITS, metrics.CACHE_MISSES)
    return _sum_cache_samples(s for counter in counters for family in counter.collect() for s in family.samples)


def sum_hit_rates(readings: list[dict[str, dict]]) -> dict[str, dict]:
    """Several `hit_rates` readings added up."""
    totals: dict[str, dict] = {}
    for reading in readings:
        for cache, counts in reading.items():
            entry = totals.setdefault(cache, {"hits": 0, "misses": 0})
            entry["hits"] += counts["hits"]
            entry["misses"] += counts["misses"]
    for entry in totals.values():
        reads = entry["hits"] + entry["misses"]
        entry["hit_rate"] = entry["hits"] / reads if reads else None
    return totals


def hit_rates(before: dict, after: dict) -> dict[str, dict]:
    """Hits and misses between two readings, and the hit rate (None when the cache was never read)."""
    rates = {}
    for cache in sorted(set(before) | set(after)):
        hits = after.get(cache, {}).get("hits", 0) - before.get(cache, {}).get("hits", 0)
        misses = after.get(cache, {}).get("misses", 0) - before.get(cache, {}).get("misses", 0)
        reads = hits + misses
        rates[cache] = {"hits": int(hits), "misses": int(misses), "hit_rate": hits / reads if reads else None}
    return rates


# --- Measuring -------------------------------------------------------------------------------


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest)."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def endpoint_exists(url: str) -> bool:
    try:
        resolve(url.split("?")[0])
    except Resolver404:
        return False
    return True


class _QueryCount:
    count = 0


@contextmanager
def count_queries() -> Iterator[_QueryCount]:
    """Every statement the default connection runs (CaptureQueriesContext keeps only the last 9,000)."""
    counted = _QueryCount()

    def wrapper(execute, sql, params, many, context):
        counted.count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counted


def profile_requests(once: Callable, before_each: Callable | None, *, repeats: int) -> str:
    """cProfile's top functions by cumulative time over `repeats` requests."""
    profiler = cProfile.Profile()
    for _ in range(repeats):
        if before_each:
            before_each()
        profiler.runcall(once)
    sections = []
    for order, count in (("cumulative", 30), ("tottime", 15)):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(count)
        sections.append(out.getvalue().split("\n\n", 1)[-1].strip())
    return f"{repeats} requests under cProfile:\n" + "\n\n".join(sections)


class Measurement:
    """One case being measured: `start()` (warm-up and probe), `sample()` × N, `finish()`.

    Split so that the run can interleave the cases' samples round by round: on a shared machine
    the load changes from second to second, and a ratio is only fair when both sides saw the same.
    """

    def __init__(self, case: Case, transport, *, cprofile: bool = False):
        self.case, self.transport, self.cprofile = case, transport, cprofile
        self.result = CaseResult(case.name, case.description, status="ok", repeats=case.repeats)

    @property
    def pending(self) -> bool:
        return self.result.status == "ok" and len(self.result.samples_ms) < self.case.repeats

    def _once(self) -> tuple[int, int | None]:
        if self.case.run is not None:
            return self.case.run()
        size = 0
        for url in self.case.paths:
            status, content = self.transport.send(self.case.method, url, self.case.body() if self.case.body else None)
            if status >= 300:
                return status, size
            size += len(content)
        return 200, size

    def _fail(self, status: str, note: str) -> None:
        self.result.status, self.result.note = status, note

    def start(self) -> None:
        """1. n/a when the endpoint isn't built; 2. an untimed warm-up; 3. a probe counting queries and bytes."""
        case, result = self.case, self.result
        missing = [url for url in case.paths if not endpoint_exists(url)]
        if missing:
            return self._fail("n/a", f"{missing[0].split('?')[0]} not built yet")
        if not isinstance(self.transport, InProcessTransport) and case.http_na:
            return self._fail("n/a", case.http_na)
        try:
            with override_settings(**case.settings):
                if case.before_each:
                    case.before_each()
                status, _ = self._once()
                if status < 300:
                    if case.before_each:
                        case.before_each()
                    with count_queries() as queries:
                        status, result.bytes = self._once()
                    if isinstance(self.transport, InProcessTransport) or case.in_process_only:
                        result.queries = queries.count
        except Exception as exc:  # the bench reports a broken endpoint; it does not stop on it
            return self._fail("error", f"{type(exc).__name__}: {exc}"[:200])
        if status == 404:
            return self._fail("n/a", "HTTP 404: not built yet")
        if status >= 300:
            return self._fail("error", f"HTTP {status}")

    def sample(self) -> None:
        """One timed repeat (the case's settings and `before_each` are outside the timing)."""
        try:
            with override_settings(**self.case.settings):
                if self.case.before_each:
                    self.case.before_each()
                started = time.perf_counter()
                status, _ = self._once()
                self.result.samples_ms.append((time.perf_counter() - started) * 1000)
        except Exception as exc:
            return self._fail("error", f"{type(exc).__name__}: {exc}"[:200])
        if status >= 300:
            self._fail("error", f"HTTP {status} on a repeat")

    def finish(self) -> CaseResult:
        result = self.result
        if result.status == "ok" and result.samples_ms:
            result.median_ms = statistics.median(result.samples_ms)
            result.p95_ms = percentile(result.samples_ms, 95)
            if self.cprofile:
                with override_settings(**self.case.settings):
                    result.profile = profile_requests(
                        self._once, self.case.before_each, repeats=min(self.case.repeats, 5)
                    )
        return result
