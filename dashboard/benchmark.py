"""The benchmark harness behind `manage.py bench` (and the data of `make loadtest`).

It measures the dashboard's requests side by side with two reference points, in one run
on one machine, so that every performance claim is a ratio and never a wall-clock guess:

- the **baseline**: the original design, a DRF `ModelSerializer` whose latest location is a
  `SerializerMethodField` running one query per tracker (N+1). It exists only here, to be
  measured; nothing else in the project may serve data this way.
- the **floor**: the same tracker list as one SQL statement read through a cursor, the
  least any Django view could cost.

Each profile is seeded into its own database (the configured one's name + `_bench_<profile>`
on PostgreSQL, a sibling file on SQLite) and uses its own cache key prefix, so a bench never
touches the user's data or cached entries.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client as TestClient
from django.test.utils import override_settings
from django.urls import Resolver404, include, path, resolve
from django.utils import timezone
from rest_framework import generics, permissions, serializers

from dashboard.models import LocationHistory, ProductionRun, Tracker
from dashboard.seeding import demo_seed, reset_demo_data

# --- Profiles -------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    name: str
    trackers: int
    history: int
    clients: int = 3
    filtered_trackers: int = 500  # the filtered case picks production runs holding about this many
    ingest_batch: int = 1000


PROFILES = {
    "tiny": Profile("tiny", trackers=24, history=5, filtered_trackers=8, ingest_batch=20),
    "realistic": Profile("realistic", trackers=1500, history=1000),
    "large": Profile("large", trackers=15_000, history=500),
}


# --- The profile's own database -----------------------------------------------------------


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def profile_database_name(profile: Profile, configured: str | Path | None = None) -> str:
    """`trackerdash` → `trackerdash_bench_realistic`; `/x/db.sqlite3` → `/x/db.bench-realistic.sqlite3`."""
    configured = str(configured if configured is not None else settings.DATABASES["default"]["NAME"])
    if is_postgres():
        return f"{configured}_bench_{profile.name}"
    configured_path = Path(configured)
    return str(configured_path.with_name(f"{configured_path.stem}.bench-{profile.name}{configured_path.suffix}"))


def profile_database_url(profile: Profile) -> str:
    """The DATABASE_URL of the profile's database, for a server started on it (the load test)."""
    db = settings.DATABASES["default"]
    name = profile_database_name(profile)
    if not is_postgres():
        return f"sqlite:///{name}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{name}"


def _create_postgres_database(name: str) -> bool:
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone():
            return False
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        return True


@contextmanager
def use_database(name: str) -> Iterator[None]:
    """Point Django's default connection at database `name` for the duration, then back."""
    conn = connections["default"]
    original = conn.settings_dict["NAME"]
    conn.close()
    conn.settings_dict["NAME"] = name
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["NAME"] = original


def profile_is_seeded(profile: Profile) -> bool:
    return Tracker.objects.count() == profile.trackers and Tracker.objects.filter(locations__isnull=False).exists()


def prepare_profile_database(
    profile: Profile, *, reseed: bool = False, progress: Callable[[int], None] | None = None, log=print
) -> str:
    """Create, migrate and seed the profile's database (when needed); return its name.

    Must be called while the default connection still points at the configured database;
    the caller then switches to the returned name with `use_database`.
    """
    name = profile_database_name(profile)
    if is_postgres() and _create_postgres_database(name):
        log(f"Created database {name}.")
    with use_database(name), own_cache_prefix(profile):  # what seeding invalidates is the bench's own
        call_command("migrate", verbosity=0, interactive=False)
        if reseed or not profile_is_seeded(profile):
            log(f"Seeding profile {profile.name}: {profile.trackers} trackers × {profile.history} reports into {name}…")
            reset_demo_data()
            started = time.perf_counter()
            demo_seed(clients=profile.clients, trackers=profile.trackers, history=profile.history, progress=progress)
            log(f"Seeded in {time.perf_counter() - started:.1f} s.")
        else:
            log(f"Reusing the seeded database {name} (--reseed to rebuild it).")
        vacuum_trackers()
    return name


def vacuum_trackers() -> None:
    """`VACUUM (ANALYZE) trackers` on PostgreSQL: every ingest batch rewrites 1,000 tracker rows
    (`last_report_received`), and where autovacuum is off (as on the shared dev server) the dead
    rows of earlier runs pile up: 60,000 after two runs, 444 heap pages read for 500 trackers
    and stale row estimates, which made the filtered case ~3 ms slower with every run."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) trackers")


# --- The baseline: the original N+1 design (measured here, served nowhere) ------------------


class BaselineTrackerSerializer(serializers.ModelSerializer):
    """THE BASELINE. The original page's serializer: one latest-location query per tracker."""

    brand_id = serializers.IntegerField(source="production_run.brand_id")
    latest_location = serializers.SerializerMethodField()

    class Meta:
        model = Tracker
        fields = [
            "id",
            "serial",
            "name",
            "production_run_id",
            "brand_id",
            "current_status",
            "last_report_received",
            "battery_level",
            "latest_location",
        ]

    def get_latest_location(self, tracker: Tracker) -> dict | None:
        # The N+1 being measured: a query per tracker (the composite index makes each cheap).
        latest = tracker.locations.order_by("-timestamp", "-id").first()
        if latest is None:
            return None
        return {
            "timestamp": latest.timestamp,
            "latitude": latest.latitude,
            "longitude": latest.longitude,
            "nearest_city": latest.nearest_city,
            "confidence": latest.confidence,
        }


class BaselineTrackerList(generics.ListAPIView):
    """THE BASELINE view: every tracker in the user's scope, unpaginated, as the original page read them."""

    serializer_class = BaselineTrackerSerializer
    permission_classes = [permissions.IsAuthenticated]
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        trackers = Tracker.objects.select_related("production_run").order_by("-last_report_received", "id")
        user = self.request.user
        if user.is_staff:
            return trackers
        return trackers.filter(production_run__brand__client_id=getattr(user.profile, "client_id", None))


BASELINE_PATH = "/bench/baseline/trackers/"
# The project's URLs plus the baseline, only while the bench runs.
# (A module object: URL resolvers are cached by urlconf, which must be hashable.)
BENCH_URLCONF = types.ModuleType("dashboard.benchmark.urls")
BENCH_URLCONF.urlpatterns = [
    path(BASELINE_PATH.strip("/") + "/", BaselineTrackerList.as_view()),
    path("", include(settings.ROOT_URLCONF)),
]


# --- The floor: one SQL statement through a cursor ------------------------------------------

_FLOOR_COLUMNS = (
    "t.id, t.serial, t.name, t.production_run_id, pr.brand_id, t.current_status, t.last_report_received, "
    "t.battery_level, l.timestamp, l.latitude, l.longitude, l.nearest_city, l.confidence"
)
FLOOR_SQL = {
    "postgresql": f"""
        SELECT {_FLOOR_COLUMNS}
        FROM trackers t
        JOIN production_runs pr ON pr.id = t.production_run_id
        LEFT JOIN LATERAL (
            SELECT h.timestamp, h.latitude, h.longitude, h.nearest_city, h.confidence
            FROM location_history h WHERE h.tracker_id = t.id
            ORDER BY h.timestamp DESC, h.id DESC LIMIT 1
        ) l ON true
        ORDER BY t.last_report_received DESC NULLS LAST, t.id""",
    "sqlite": f"""
        SELECT {_FLOOR_COLUMNS}
        FROM trackers t
        JOIN production_runs pr ON pr.id = t.production_run_id
        LEFT JOIN location_history l ON l.id = (
            SELECT h.id FROM location_history h WHERE h.tracker_id = t.id
            ORDER BY h.timestamp DESC, h.id DESC LIMIT 1
        )
        ORDER BY t.last_report_received IS NULL, t.last_report_received DESC, t.id""",
}


def read_floor() -> int:
    """Every tracker with its latest location, as one statement; returns the row count."""
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL[connection.vendor])
        return len(cursor.fetchall())


def floor_once() -> tuple[int, None]:
    read_floor()
    return 200, None  # no HTTP: a status for the harness, no response bytes


# --- Cases ------------------------------------------------------------------------------------


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
    repeats: int = 1
    in_process_only: bool = False  # needs this process's database (baseline, floor)
    http_na: str = ""  # why the case can't be measured against a running server
    run: Callable[[], tuple[int | None, int | None]] | None = None  # non-HTTP case: → (status, bytes)
    alone: bool = False  # empties the cache or writes: measured after the interleaved cases, on its own


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


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest)."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


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
    from django.db.models import Count

    rows = ProductionRun.objects.annotate(n=Count("trackers")).values_list("n", "pk")
    return sorted((n, pk) for n, pk in rows if n)


# --- Transports: the Django test client in this process, or HTTP to a running server ------------


def login_session(user) -> str:
    """A logged-in session for `user` in the session store; returns its key (the cookie value)."""
    from importlib import import_module

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    # The backend that loads users: the last one (axes' backend, first, only refuses lockouts).
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


def api_token(user) -> str:
    from rest_framework.authtoken.models import Token

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
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.label = f"HTTP {base_url}"
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.token, self.session_key = token, session_key
        self.conn = None

    def _connection(self):
        import http.client

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
    from prometheus_client.parser import text_string_to_metric_families

    return _sum_cache_samples(s for family in text_string_to_metric_families(metrics_text) for s in family.samples)


def local_cache_counters() -> dict[str, dict[str, float]]:
    """The same, read from this process's counters (the in-process bench)."""
    from cache_layer import metrics

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


# --- The bench's own cache key prefix --------------------------------------------------------


def bench_cache_prefix(profile: Profile) -> str:
    return f"{settings.CACHE_KEY_PREFIX}-bench-{profile.name}"


def clear_bench_cache() -> None:
    """Empty the bench's own keys (never the whole Redis: it is shared)."""
    cache = caches["default"]
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # only keys under the current (bench) prefix
    else:
        cache.clear()  # local memory: this process only


@contextmanager
def own_cache_prefix(profile: Profile) -> Iterator[str]:
    cache = caches["default"]
    original = cache.key_prefix
    cache.key_prefix = bench_cache_prefix(profile)
    try:
        clear_bench_cache()
        yield cache.key_prefix
    finally:
        clear_bench_cache()
        cache.key_prefix = original


# --- Measuring -------------------------------------------------------------------------------


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
    import cProfile
    import io
    import pstats

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
    "api_filtered_uncached",
    "api_filtered_cached",
    "reference_cold",
    "reference_warm",
    "page",
    "ingest",
)


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


# --- A run -------------------------------------------------------------------------------------


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

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


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
    from django.contrib.auth import get_user_model

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
    _add_ratios(results)
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


# Cases that return trackers with their latest location, as the original page did: comparable to the baseline.
TRACKER_LIST_CASES = ("floor", "baseline", "api_all", "api_filtered")


def _add_ratios(results: list[CaseResult]) -> None:
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


def format_table(report: BenchReport) -> str:
    """The Markdown table the command prints (and the README shows)."""
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
