"""GET /metrics: every metric with its type and labels, values that move when things happen, access rules."""

import math

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from cache_layer import health as cache_layer_health
from cache_layer.metrics import (
    CACHE_HITS,
    CACHE_INVALIDATION_FAILURES,
    CACHE_INVALIDATIONS,
    CACHE_MISSES,
    CACHE_RELOADS,
    CACHE_SERVED_BYTES,
    CACHE_SKIPPED,
    CACHE_STORED_BYTES,
)
from trackerdash import monitoring

# Name on /metrics → (type, labels besides a histogram's `le`). The alert rules use only these.
EXPOSED_METRICS = {
    "cache_hits_total": ("counter", {"cache", "table"}),
    "cache_misses_total": ("counter", {"cache", "table"}),
    "cache_reloads_total": ("counter", {"cache", "table"}),
    "cache_invalidations_total": ("counter", {"cache", "table"}),
    "cache_invalidation_failures_total": ("counter", {"cache", "table"}),
    "cache_hit_rate_percent": ("gauge", {"cache"}),
    "cache_skipped_total": ("counter", {"cache", "reason"}),
    "cache_stored_bytes_total": ("counter", {"cache", "table"}),
    "cache_served_bytes_total": ("counter", {"cache", "table"}),
    "worker_resident_memory_bytes": ("gauge", set()),  # + pid under gunicorn (multi-process mode)
    "workers_resident_memory_bytes": ("gauge", set()),
    "worker_resident_memory_limit_bytes": ("gauge", set()),
    "dashboard_load_seconds": ("histogram", set()),
    "dashboard_filter_to_data_seconds": ("histogram", set()),
    "filter_applications_total": ("counter", set()),
    "lazy_load_triggers_total": ("counter", set()),
    "empty_state_views_total": ("counter", set()),
    "db_query_seconds": ("histogram", set()),
    "http_request_queries": ("histogram", {"route"}),
    "http_request_duration_seconds": ("histogram", {"route", "method"}),
    "live_streams_open": ("gauge", set()),
    "live_fanout_lag_seconds": ("histogram", set()),
}
POSTGRES_ONLY_METRICS = {"cache_listener_heartbeat_age_seconds": ("gauge", set())}
REDIS_ONLY_METRICS = {
    "redis_used_memory_bytes": ("gauge", set()),
    "redis_maxmemory_bytes": ("gauge", set()),
    "redis_evicted_keys_total": ("counter", set()),
}
EXPOSED_METRIC_NAMES = set(EXPOSED_METRICS) | set(POSTGRES_ONLY_METRICS) | set(REDIS_ONLY_METRICS)


class Scrape:
    """One /metrics answer, parsed: sample values by name and labels, and each family's declared type."""

    def __init__(self, text: str):
        self.text = text
        self.samples: dict[tuple[str, frozenset], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        self.types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                self.types[name] = kind

    def value(self, name: str, default: float | None = 0.0, **labels) -> float | None:
        return self.samples.get((name, frozenset(labels.items())), default)

    def label_names(self, name: str) -> set[str]:
        return {key for (sample, labels) in self.samples if sample == name for key, _ in labels} - {"le"}


def scrape(client) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return Scrape(response.content.decode())


@pytest.fixture
def clock(monkeypatch):
    """The hit-rate window's clock, set by the test; the window starts empty."""
    now = [1000.0]
    monkeypatch.setattr(monitoring.HIT_RATE, "clock", lambda: now[0])
    monitoring.HIT_RATE.reset()
    yield now
    monitoring.HIT_RATE.reset()


def test_it_exposes_every_metric_with_its_type_and_labels(client, db):
    for counter in (CACHE_HITS, CACHE_MISSES, CACHE_RELOADS, CACHE_INVALIDATIONS, CACHE_INVALIDATION_FAILURES):
        counter.labels(cache="reference", table="brands").inc()
    for counter in (CACHE_STORED_BYTES, CACHE_SERVED_BYTES):
        counter.labels(cache="query", table="trackers").inc(10)
    CACHE_SKIPPED.labels(cache="query", reason="too_large").inc()
    client.get("/health/")  # a request, with SQL

    metrics = scrape(client)

    expected = dict(EXPOSED_METRICS)
    if connection.vendor == "postgresql":
        expected |= POSTGRES_ONLY_METRICS
    if django_settings.REDIS_URL:
        expected |= REDIS_ONLY_METRICS
    for name, (kind, labels) in expected.items():
        assert metrics.types.get(name) == kind, name
        sample_name = name if kind != "histogram" else f"{name}_count"
        assert metrics.label_names(sample_name) == labels, name


def test_a_request_reports_each_sql_statement_and_its_query_count(client, owner_api):
    before = scrape(client)
    with CaptureQueriesContext(connection) as queries:
        response = owner_api.get("/")  # the session, the user, the page
    assert response.status_code == 200
    ran = len(queries)  # before the next request empties the connection's query log
    after = scrape(client)

    assert ran >= 2
    assert after.value("db_query_seconds_count") - before.value("db_query_seconds_count") == ran
    assert after.value("db_query_seconds_sum") > before.value("db_query_seconds_sum")
    assert (
        after.value("http_request_queries_count", route="index")
        - before.value("http_request_queries_count", route="index")
        == 1
    )
    assert (
        after.value("http_request_queries_sum", route="index") - before.value("http_request_queries_sum", route="index")
        == ran
    )


def test_request_latency_is_labelled_by_route_name_never_by_path(client, superuser, settings):
    settings.WHITENOISE_USE_FINDERS = True  # static files without collectstatic
    client.force_login(superuser)
    before = scrape(client)
    assert client.get(f"/admin/auth/user/{superuser.pk}/change/").status_code == 200
    assert client.get("/no-such-page-xyzzy/").status_code == 404
    assert client.get("/static/leaflet/leaflet.css").status_code == 200
    assert client.get("/static/no-such-file-xyzzy.css").status_code == 404
    assert client.generic("BREW", "/health/").status_code == 405

    after = scrape(client)

    def requests(route, method):
        return after.value("http_request_duration_seconds_count", route=route, method=method) - before.value(
            "http_request_duration_seconds_count", route=route, method=method
        )

    assert requests("admin:auth_user_change", "GET") == 1
    assert requests("<unmatched>", "GET") == 2
    assert requests("<static>", "GET") == 1
    assert requests("health", "other") == 1
    assert "xyzzy" not in after.text  # (a number could contain digits: a word can't)
    assert f"/{superuser.pk}/" not in after.text
    assert "BREW" not in after.text


def test_hit_rate_gauge_is_hits_over_hits_and_misses_within_the_window(client, db, clock, settings):
    settings.CACHE_HIT_RATE_WINDOW_SECONDS = 60

    scrape(client)  # t=1000: where the window starts
    CACHE_HITS.labels(cache="reference", table="brands").inc(2)
    CACHE_HITS.labels(cache="reference", table="clients").inc(1)
    CACHE_MISSES.labels(cache="reference", table="brands").inc(1)
    CACHE_HITS.labels(cache="query", table="trackers").inc(1)
    clock[0] = 1010
    metrics = scrape(client)
    assert metrics.value("cache_hit_rate_percent", cache="reference") == 75.0  # 3 / (3 + 1), over all tables
    assert metrics.value("cache_hit_rate_percent", cache="query") == 100.0

    CACHE_HITS.labels(cache="reference", table="brands").inc(1)
    CACHE_MISSES.labels(cache="reference", table="brands").inc(3)
    clock[0] = 1100
    # The window is the last 60 s: since the scrape at 1010, 1 hit and 3 misses; the earlier reads are out.
    assert scrape(client).value("cache_hit_rate_percent", cache="reference") == 25.0

    clock[0] = 1200
    # No reads in the window: no value, rather than a made-up one.
    assert scrape(client).value("cache_hit_rate_percent", default=None, cache="reference") is None


def test_metrics_refuses_an_anonymous_remote_client(client, db):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403
    assert b"db_query_seconds" not in response.content


def test_metrics_refuses_a_request_relayed_by_a_local_proxy(client, db):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert response.status_code == 403


def test_metrics_answers_a_remote_client_with_the_token_and_no_one_with_a_wrong_one(client, db, settings):
    settings.METRICS_TOKEN = "t" * 40
    remote = {"REMOTE_ADDR": "203.0.113.9"}

    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {'t' * 40}", **remote).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {'x' * 40}", **remote).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ", **remote).status_code == 403


def test_metrics_answers_ipv6_localhost(client, db):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


@pytest.mark.postgres
def test_listener_heartbeat_age_is_a_gauge_and_infinite_before_any_heartbeat(client, db, monkeypatch):
    monkeypatch.setattr(cache_layer_health, "listener_health", lambda: {"last_heartbeat_age": 12.5, "stale": False})
    assert scrape(client).value("cache_listener_heartbeat_age_seconds") == 12.5

    monkeypatch.setattr(cache_layer_health, "listener_health", lambda: {"last_heartbeat_age": None, "stale": True})
    assert math.isinf(scrape(client).value("cache_listener_heartbeat_age_seconds"))


def test_a_short_metrics_token_fails_the_deployment_checks(settings):
    settings.METRICS_TOKEN = "short"

    issues = run_checks(include_deployment_checks=True)

    assert "trackerdash.W001" in {issue.id for issue in issues}


def test_a_window_of_zero_seconds_fails_the_system_checks(settings):
    settings.CACHE_HIT_RATE_WINDOW_SECONDS = 0

    assert "trackerdash.E001" in {issue.id for issue in run_checks()}


def test_a_worker_memory_bound_of_zero_fails_the_system_checks(settings):
    settings.WORKER_MEMORY_ALERT_BYTES = 0

    assert "trackerdash.E002" in {issue.id for issue in run_checks()}
