"""Operations tests that need the other branches: cache_layer (branch `cache`), the REST API (`api`)
and the telemetry endpoint (`page`). Each skips, naming what it waits for, until that code is merged.
"""

import importlib.util
import time
from datetime import UTC, datetime, timedelta

import pytest
from model_bakery import baker

from tests.test_metrics import scrape


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


needs_cache_layer = pytest.mark.skipif(_missing("cache_layer.store"), reason="needs cache_layer (branch cache)")
needs_api = pytest.mark.skipif(_missing("dashboard.api"), reason="needs the REST API (branch api)")
needs_telemetry = pytest.mark.skipif(_missing("dashboard.telemetry"), reason="needs POST /api/telemetry/ (branch page)")


def reference_reads(metrics) -> tuple[float, float]:
    """(hits, misses) of the reference cache, summed over tables."""
    hits = misses = 0.0
    for (name, labels), value in metrics.samples.items():
        if dict(labels).get("cache") == "reference":
            hits += value if name == "cache_hits_total" else 0
            misses += value if name == "cache_misses_total" else 0
    return hits, misses


# --- /health/ against the real cache layer -----------------------------------------------


@pytest.mark.redis
@needs_cache_layer
def test_health_reports_a_degraded_cache_while_its_redis_is_down_then_recovers(client, db, private_redis):
    assert client.get("/health/").json()["cache"]["status"] == "ok"

    private_redis.stop()
    response = client.get("/health/")

    assert response.status_code == 200  # the database answers: still in service
    assert response.json()["status"] == "degraded"
    assert response.json()["cache"]["status"] == "degraded"

    private_redis.start()
    for _ in range(50):  # the circuit breaker's cooldown, then the next probe reaches Redis
        if client.get("/health/").json()["cache"]["status"] == "ok":
            break
        time.sleep(0.1)
    assert client.get("/health/").json()["cache"]["status"] == "ok"


@pytest.mark.postgres
@needs_cache_layer
def test_health_and_metrics_report_a_stale_listener_from_its_real_heartbeat(client, db):
    from cache_layer import listener, store

    store.set(listener.heartbeat_key(), time.time() - 120, timeout=None)
    body = client.get("/health/").json()
    assert body["status"] == "degraded"
    assert body["listener"]["status"] == "stale"
    assert body["listener"]["last_heartbeat_age"] >= 119
    assert scrape(client).value("cache_listener_heartbeat_age_seconds") >= 119

    store.set(listener.heartbeat_key(), time.time(), timeout=None)
    assert client.get("/health/").json()["listener"]["status"] == "ok"


# --- /metrics moving with real use -------------------------------------------------------


@needs_cache_layer
@needs_api
def test_metrics_count_a_reference_cache_miss_then_hits(client, owner_api, client_a):
    baker.make("dashboard.Brand", client=client_a, name="Acme")
    before = reference_reads(scrape(client))

    assert owner_api.get("/api/brands/").status_code == 200  # cold: a miss, then the reload
    assert owner_api.get("/api/brands/").status_code == 200  # warm: hits
    after = reference_reads(scrape(client))

    assert after[1] > before[1]
    assert after[0] > before[0]
    assert scrape(client).value("cache_hit_rate_percent", default=None, cache="reference") is not None


@needs_telemetry
def test_a_telemetry_beacon_moves_the_dashboard_metrics(client, owner_api):
    before = scrape(client)
    beacon = {
        "events": [
            {"type": "dashboard_load", "seconds": 0.42},
            {"type": "filter_to_data", "seconds": 1.3},
            {"type": "filter_applied"},
            {"type": "lazy_load"},
            {"type": "empty_state"},
        ]
    }

    assert owner_api.post("/api/telemetry/", beacon, format="json").status_code == 204
    after = scrape(client)

    def moved(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("dashboard_load_seconds_count") == 1
    assert moved("dashboard_load_seconds_sum") == pytest.approx(0.42)
    assert moved("dashboard_filter_to_data_seconds_count") == 1
    assert moved("filter_applications_total") == 1
    assert moved("lazy_load_triggers_total") == 1
    assert moved("empty_state_views_total") == 1


# --- Rollback switches: same answers with each flag off ----------------------------------


@pytest.fixture
def fleet(client_a, client_b):
    """Two brands of client A (three runs, trackers with and without history) and one of client B."""
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    trackers = []
    for brand_name, runs in (("Acme", 2), ("Bolt", 1)):
        brand = baker.make("dashboard.Brand", client=client_a, name=brand_name)
        for run_number in range(runs):
            run = baker.make(
                "dashboard.ProductionRun", brand=brand, name=f"{brand_name} {run_number}", start_date=now.date()
            )
            for i, status in enumerate(("in_storage", "in_transit", "delivered", "lost")):
                tracker = baker.make(
                    "dashboard.Tracker",
                    production_run=run,
                    serial=f"{brand_name}-{run_number}-{i}",
                    name=f"Tracker {i}",
                    current_status=status,
                    battery_level=50 + i,
                    last_report_received=None if i == 0 else now - timedelta(hours=i),
                )
                for hours in range(i):
                    baker.make(
                        "dashboard.LocationHistory",
                        tracker=tracker,
                        timestamp=now - timedelta(hours=i + hours),
                        latitude=48.0 + hours,
                        longitude=2.0 + i,
                        nearest_city="Paris",
                        confidence=0.9,
                    )
                trackers.append(tracker)
    other_brand = baker.make("dashboard.Brand", client=client_b, name="Other")
    other_run = baker.make("dashboard.ProductionRun", brand=other_brand, name="Other 0", start_date=now.date())
    baker.make("dashboard.Tracker", production_run=other_run, serial="other-0", current_status="in_transit")
    return trackers


def api_answers(api, trackers) -> dict:
    acme = trackers[0].production_run.brand_id
    paths = [
        "/api/reference/",
        "/api/brands/",
        "/api/production-runs/",
        f"/api/production-runs/?brand_id={acme}",
        "/api/trackers/?size=100",
        "/api/trackers/?size=3&page=2",
        "/api/trackers/?status=in_transit,delivered",
        f"/api/trackers/?brand_ids={acme}&search=Tracker",
        f"/api/trackers/{trackers[3].pk}/",
        f"/api/trackers/{trackers[3].pk}/history/",
    ]
    answers = {}
    for path in paths:
        response = api.get(path)
        assert response.status_code == 200, (path, response.content)
        answers[path] = response.json()
    return answers


@needs_api
@pytest.mark.parametrize(
    "flag_off",
    [
        pytest.param({"CACHE_ENABLED": False, "CACHE_LAYER": {"ENABLED": False}}, id="CACHE_ENABLED"),
        pytest.param(
            {"QUERY_CACHE_ENABLED": False, "CACHE_LAYER": {"QUERY_CACHE_ENABLED": False}}, id="QUERY_CACHE_ENABLED"
        ),
        pytest.param({"LAZY_MODE_ENABLED": False}, id="LAZY_MODE_ENABLED"),
    ],
)
def test_with_each_flag_off_the_api_answers_what_it_answers_with_the_flag_on(owner_api, fleet, settings, flag_off):
    settings.LAZY_MODE_THRESHOLD = 3  # the owner's 12 trackers are a large scope: lazy mode is on
    api_answers(owner_api, fleet)  # fills the caches
    flag_on = api_answers(owner_api, fleet)  # answered from them
    scope_on = owner_api.get("/api/me/scope/").json()

    for name, value in flag_off.items():
        setattr(settings, name, {**settings.CACHE_LAYER, **value} if name == "CACHE_LAYER" else value)
    flag_off_answers = api_answers(owner_api, fleet)
    scope_off = owner_api.get("/api/me/scope/").json()

    assert flag_off_answers == flag_on
    assert scope_on["lazy_mode"] is True
    if "LAZY_MODE_ENABLED" in flag_off:
        assert scope_off == {**scope_on, "lazy_mode": False}  # everyone loads everything
    else:
        assert scope_off == scope_on
