"""Memory on /metrics: each worker's resident memory (multi-process safe), Redis's memory, bytes the caches hold."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.exposition import generate_latest

import cache_layer
from cache_layer import reference
from tests.private_redis import PrivateRedis
from tests.test_metrics import Scrape, scrape
from trackerdash import monitoring

BASE_DIR = Path(__file__).resolve().parent.parent


def test_a_request_sets_the_workers_resident_memory(client, db, monkeypatch):
    monkeypatch.setattr(monitoring, "_rss_updated", [float("-inf")])  # the next request reads /proc

    client.get("/health/")
    metrics = scrape(client)

    rss = metrics.value("worker_resident_memory_bytes")
    assert 10 * 2**20 < rss < 4 * 2**30  # a Django process: tens to hundreds of MB
    assert abs(rss - monitoring.resident_memory_bytes()) < 0.25 * rss
    assert metrics.value("workers_resident_memory_bytes") == rss  # one process


def test_the_worker_memory_bound_is_exported_for_the_alert(client, db, settings):
    settings.WORKER_MEMORY_ALERT_BYTES = 300 * 2**20

    assert scrape(client).value("worker_resident_memory_limit_bytes") == 300 * 2**20


def _worker(directory: Path, ballast_mb: int) -> int:
    """A process that imports the site's metrics, holds `ballast_mb` MB and sets its gauges; returns its pid."""
    code = (
        "import django, os; django.setup(); from trackerdash import monitoring; "
        f"ballast = bytearray({ballast_mb} * 2**20); ballast[::4096] = b'x' * len(ballast[::4096]); "
        "monitoring.update_worker_memory(); print(os.getpid())"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "DJANGO_SETTINGS_MODULE": "trackerdash.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def test_under_gunicorn_each_live_worker_has_its_own_series_and_a_dead_one_none(tmp_path):
    small, large = _worker(tmp_path, 0), _worker(tmp_path, 200)  # real processes sharing one directory
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))

    metrics = Scrape(generate_latest(registry).decode())

    per_worker = {pid: metrics.value("worker_resident_memory_bytes", pid=str(pid)) for pid in (small, large)}
    assert per_worker[large] - per_worker[small] > 150 * 2**20  # the 200 MB of ballast, in that worker only
    assert metrics.value("workers_resident_memory_bytes") == per_worker[small] + per_worker[large]

    multiprocess.mark_process_dead(large, path=str(tmp_path))  # gunicorn.conf.py's child_exit
    metrics = Scrape(generate_latest(registry).decode())
    assert metrics.value("worker_resident_memory_bytes", default=None, pid=str(large)) is None
    assert metrics.value("workers_resident_memory_bytes") == per_worker[small]


@pytest.fixture
def small_redis(settings):
    server = PrivateRedis("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
    server.start()
    settings.CACHES = {**settings.CACHES, "private": server.cache_settings()}
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "CACHE_ALIAS": "private", "BREAKER_COOLDOWN_SECONDS": 0.2}
    yield server
    server.stop()


@pytest.mark.redis
def test_redis_memory_and_evictions_are_read_at_scrape_time(client, db, small_redis):
    before = scrape(client)
    assert before.value("redis_maxmemory_bytes") == 2 * 2**20
    assert 0 < before.value("redis_used_memory_bytes") < 2 * 2**20
    assert before.value("redis_evicted_keys_total") == 0

    redis = small_redis.client()
    for number in range(100):  # 3 MB into a 2 MB Redis
        redis.set(f"filler:{number}", b"x" * 30_000)

    after = scrape(client)
    assert after.value("redis_evicted_keys_total") > 0
    assert after.value("redis_used_memory_bytes") > before.value("redis_used_memory_bytes")


@pytest.mark.redis
def test_metrics_answers_without_redis_figures_while_redis_is_away(client, db, small_redis):
    small_redis.stop()

    metrics = scrape(client)  # 200, not 500

    assert metrics.value("redis_used_memory_bytes", default=None) is None
    assert metrics.value("db_query_seconds_count", default=None) is not None


@pytest.mark.redis
def test_the_reference_cache_counts_the_bytes_it_stores_and_serves(db, client_a, small_redis):
    from prometheus_client import REGISTRY

    def counted(name):
        return REGISTRY.get_sample_value(name, {"cache": "reference", "table": "clients"}) or 0.0

    stored, served = counted("cache_stored_bytes_total"), counted("cache_served_bytes_total")
    cache_layer.reload("clients")
    size = counted("cache_stored_bytes_total") - stored
    assert size > len("Client A")

    reference.clear_local()  # another process: its first read comes from Redis
    assert [row["name"] for row in cache_layer.get("clients")] == ["Client A"]
    assert counted("cache_served_bytes_total") - served == size
    assert [row["name"] for row in cache_layer.get("clients")] == ["Client A"]  # in-process: no bytes from Redis
    assert counted("cache_served_bytes_total") - served == size
