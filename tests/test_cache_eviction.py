"""A full Redis evicts any key (allkeys-lru): generations, entries, pending markers, locks. No answer is ever stale.

The Redis here is a private one with `--maxmemory 2mb --maxmemory-policy allkeys-lru`, as the
README's Operations recommends (with a far larger bound), and another tenant's writes keep it
full, so that keys of every kind are evicted while the dashboard's reads and writes go on. Every
answer is compared with the same request answered from the database (the cache switched off).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone
from model_bakery import baker

from cache_layer import generations, invalidation, query, reference, store
from dashboard.models import Brand, LocationHistory, ProductionRun, Tracker
from tests.conftest import make_user
from tests.fleet import make_trackers

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

STATUSES = ["in_storage", "in_transit", "delivered", "returned", "lost"]
RUNS, TRACKERS_PER_RUN = 12, 8


class TightRedis:
    """The private Redis, what it evicted (keyspace notifications) and a filler that keeps it full."""

    def __init__(self, server) -> None:
        self.server = server
        self.evicted: Counter[str] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._collect_evictions), threading.Thread(target=self._fill)]
        self.subscribed = threading.Event()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        assert self.subscribed.wait(5)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def _collect_evictions(self) -> None:
        pubsub = self.server.client().pubsub()
        pubsub.subscribe("__keyevent@0__:evicted")
        self.subscribed.set()
        while not self.stop.is_set():
            message = pubsub.get_message(timeout=0.05)
            if message and message["type"] == "message":
                self.evicted[kind(message["data"].decode())] += 1
        pubsub.close()

    def _fill(self) -> None:
        """Another tenant of the same Redis: 4 KB values, ~300 a second (its whole memory every few seconds)."""
        client, number, value = self.server.client(), 0, b"x" * 4096
        while not self.stop.wait(0.003):
            client.set(f"tenant:{number}", value)
            number += 1


def kind(key: str) -> str:
    """What an evicted key was: `private:1:cl:scope:production_run:7` → `scope` (django-redis adds prefix:version:)."""
    if ":cl:" not in key:
        return "tenant" if key.startswith("tenant:") else "session" if "sessions" in key else "other"
    return key.split(":cl:", 1)[1].split(":", 1)[0]


@pytest.fixture
def tight_redis(settings):
    from tests.private_redis import PrivateRedis

    server = PrivateRedis(
        "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru", "--notify-keyspace-events", "Ee"
    )
    server.start()
    settings.CACHES = {**settings.CACHES, "private": server.cache_settings(socket_timeout=2)}
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "CACHE_ALIAS": "private", "DEBOUNCE_SECONDS": 0.05}
    tight = TightRedis(server)
    tight.start()
    yield tight
    tight.close()
    invalidation.cancel_scheduled_reloads()
    server.stop()


@pytest.fixture
def fleet(client_a, client_b):
    """Two clients, 4 brands, 12 production runs, 96 trackers with one report each (distinct instants)."""
    brands = [baker.make(Brand, client=client_a if index else client_b, name=f"Brand {index}") for index in range(4)]
    runs = [
        baker.make(ProductionRun, brand=brands[index % 4], name=f"Run {index}", start_date="2026-01-01")
        for index in range(RUNS)
    ]
    trackers = []
    for index, run in enumerate(runs):
        trackers += make_trackers(run, TRACKERS_PER_RUN, prefix=f"R{index}")
    start = timezone.now() - timedelta(days=2)
    LocationHistory.objects.bulk_create(
        LocationHistory(
            tracker=tracker,
            timestamp=start + timedelta(minutes=i),
            latitude=45.0,
            longitude=5.0,
            nearest_city="Lyon",
            confidence=0.9,
        )
        for i, tracker in enumerate(trackers)
    )
    for i, tracker in enumerate(trackers):
        Tracker.objects.filter(pk=tracker.pk).update(
            last_report_received=start + timedelta(minutes=i), current_status=STATUSES[i % len(STATUSES)]
        )
    return {"runs": runs, "trackers": trackers}


def list_queries(runs) -> list[str]:
    """A pool of distinct tracker-list queries (repeated at random, so some are hits)."""
    queries = ["", "?size=1000", "?ordering=serial", "?status=lost", "?search=R1-", "?size=10&page=3"]
    for run in runs:
        queries.append(f"?production_run_ids={run.pk}")
        queries.append(f"?production_run_ids={run.pk}&status=in_transit,delivered")
    brands = sorted({run.brand_id for run in runs})
    queries += [f"?brand_ids={brand}&ordering=-battery_level" for brand in brands]
    for index in range(0, len(runs) - 1, 2):
        queries.append(f"?production_run_ids={runs[index].pk},{runs[index + 1].pk}&size=5")
    return ["/api/trackers/" + q for q in queries]


class Burst:
    def __init__(self, fleet, apis, seed: int) -> None:
        self.random = random.Random(seed)
        self.fleet, self.apis = fleet, apis
        self.paths = [*list_queries(fleet["runs"]), "/api/reference/", "/api/me/scope/"]
        self.reads = self.writes = self.stale = 0
        self.report_minute = 0

    def read(self) -> None:
        api = self.random.choice(self.apis)
        path = self.random.choice(self.paths)
        answer = api.get(path)
        with override_settings(CACHE_LAYER={**_current_cache_layer(), "ENABLED": False}):
            truth = api.get(path)
        assert answer.status_code == truth.status_code == 200, (path, answer.content)
        self.reads += 1
        if answer.json() != truth.json():
            self.stale += 1

    def write(self) -> None:
        """One committed write of the kinds the dashboard sees all day (each bumps after commit)."""
        self.writes += 1
        choice = self.random.randrange(5)
        tracker = self.random.choice(self.fleet["trackers"])
        if choice == 0:  # ingest: a newer report moves the latest location and last_report_received
            self.report_minute += 1
            instant = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=self.report_minute)
            response = self.apis[0].post(
                "/api/location-reports/",
                [{"tracker": tracker.serial, "timestamp": instant.isoformat(), "latitude": 46.0,
                  "longitude": 6.0, "nearest_city": f"City {self.writes}", "battery_level": self.writes % 100}],
                format="json",
            )
            assert response.status_code in (200, 201), response.content
        elif choice == 1:  # a tracker moved to another run (both runs' lists and the runs' counts change)
            tracker.refresh_from_db()
            tracker.production_run = self.random.choice(self.fleet["runs"])
            tracker.save()
        elif choice == 2:  # a bulk status change
            Tracker.objects.filter(pk=tracker.pk).update(current_status=self.random.choice(STATUSES))
        elif choice == 3:  # reference data: a run renamed
            run = self.random.choice(self.fleet["runs"])
            ProductionRun.objects.filter(pk=run.pk).update(name=f"Run renamed {self.writes}")
        else:  # reference data: a brand renamed
            brand = self.random.choice(self.fleet["runs"]).brand
            brand.name = f"Brand renamed {self.writes}"
            brand.save()


def _current_cache_layer() -> dict:
    from django.conf import settings

    return settings.CACHE_LAYER


def test_nothing_stale_is_served_while_redis_evicts_keys_of_every_kind(
    tight_redis, fleet, staff, owner, capsys
):
    from rest_framework.test import APIClient

    apis = []
    for user in (staff, owner, make_user("b-user", client=fleet["runs"][0].brand.client)):
        api = APIClient()
        api.force_login(user)
        apis.append(api)
    burst = Burst(fleet, apis, seed=16)
    hits_before = _hits()

    for step in range(700):
        if burst.random.random() < 0.2:
            burst.write()
        else:
            burst.read()
        if step % 100 == 99:
            invalidation.wait_for_reloads()  # let debounced reloads (their own threads) land now and then
    invalidation.wait_for_reloads()
    connections.close_all()

    info = store.memory_info()
    evicted = dict(tight_redis.evicted)
    with capsys.disabled():
        print(
            f"\neviction burst: {burst.reads} reads checked against the database, {burst.writes} writes, "
            f"{_hits() - hits_before:.0f} cache hits; evicted keys {info['evicted_keys']} by kind {evicted}; "
            f"stale answers {burst.stale}"
        )
    assert burst.stale == 0
    assert info["maxmemory"] == 2 * 1024 * 1024
    # Generations (query scopes, reference tables) and entries of both caches were evicted during the
    # burst. Pending markers and locks live milliseconds, and are evicted only now and then: the
    # tests below evict each at its worst moment.
    for key_kind in ("scope", "q", "gen", "rows"):
        assert evicted.get(key_kind, 0) > 0, (key_kind, evicted)
    assert _hits() - hits_before > 100  # the cache served answers all along, not only misses


def _hits() -> float:
    from prometheus_client import REGISTRY

    return sum(
        REGISTRY.get_sample_value("cache_hits_total", {"cache": cache, "table": table}) or 0.0
        for cache, table in [("query", "trackers")] + [("reference", name) for name in _reference_names()]
    )


def _reference_names() -> list[str]:
    from cache_layer import registry

    return list(registry.names())




# --- Each kind of key evicted at its worst moment (an eviction is the key vanishing: DEL) ------------


def evict(*keys: str) -> None:
    for key in keys:
        store.delete(key)


def test_an_entry_whose_generation_was_evicted_after_a_write_is_never_served(private_redis):
    scopes = [("production_run", 7)]
    assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=lambda: b"old").plain == b"old"
    assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=lambda: b"unused").plain == b"old"  # a hit
    for _ in range(50):  # a generation restarted at a value an old entry recorded would serve "old" again
        query.bump(scopes)
        evict(query.scope_key(scopes[0]), query.scope_key(query.ALL))
        assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=lambda: b"new").plain == b"new"
        evict(query.scope_key(scopes[0]))
        assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=lambda: b"newer").plain == b"newer"


def test_an_answer_computed_while_its_generation_was_bumped_and_evicted_is_never_served(private_redis):
    scopes = [("production_run", 7)]

    def old_rows_then_a_write() -> bytes:
        query.bump(scopes)  # a write commits while the reader computes from the old rows
        evict(query.scope_key(scopes[0]))
        return b"old"

    assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=old_rows_then_a_write).plain == b"old"
    assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=lambda: b"new").plain == b"new"


def test_a_loader_whose_lock_was_evicted_never_overwrites_a_newer_answer_with_its_old_one(private_redis):
    scopes = [("production_run", 7)]
    digest = hashlib.sha256(b"k").hexdigest()

    def old_rows_then_a_write_and_a_second_loader() -> bytes:
        query.bump(scopes)
        evict(store.key("qlock", "t", digest))  # the second loader takes the lock the first one lost
        assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=lambda: b"new").plain == b"new"
        return b"old"  # the first loader stores this under the generations it read before the write

    first = query.get_or_compute(name="t", key="k", scopes=scopes, compute=old_rows_then_a_write_and_a_second_loader)
    assert first.plain == b"old"
    assert query.get_or_compute(name="t", key="k", scopes=scopes, compute=lambda: b"newest").plain == b"newest"


def test_an_evicted_pending_marker_and_reference_generation_never_serve_old_rows(private_redis, client_a, settings):
    import cache_layer

    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "DEBOUNCE_SECONDS": 0.2}

    def names():
        return [row["name"] for row in cache_layer.get("clients")]

    assert names() == ["Client A"]
    client_a.name = "Client A2"
    client_a.save()  # invalidates clients and marks a debounced reload pending
    evict(reference.pending_key("clients"))
    assert names() == ["Client A2"]  # no marker: this reader reloads (under the new generation)
    client_a.name = "Client A3"
    client_a.save()  # the evicted marker does not stop a new write from scheduling its reload
    evict(generations.generation_key("clients"), reference.pending_key("clients"))
    assert names() == ["Client A3"]
    invalidation.wait_for_reloads()
    evict(generations.generation_key("clients"))
    assert names() == ["Client A3"]


def test_a_reference_loader_whose_lock_was_evicted_never_publishes_old_rows(private_redis, client_a):
    import cache_layer
    from dashboard.models import Client
    from tests.cache_helpers import loader_wrapped

    calls = []

    def old_rows_then_a_write(loader):
        def load():
            calls.append(1)
            rows = loader()
            if len(calls) == 1:
                Client.objects.filter(pk=client_a.pk).update(name="Client A2")  # commits and bumps
                invalidation.cancel_scheduled_reloads()
                evict(reference.lock_key("clients"), reference.pending_key("clients"))
                assert [row["name"] for row in cache_layer.get("clients")] == ["Client A2"]  # a second loader
            return rows

        return load

    invalidation.wait_for_reloads()  # the fixture's own invalidation
    evict(reference.data_key("clients"))  # a miss: the reader takes the load lock
    reference.clear_local()  # as in a process that has no copy of its own
    with loader_wrapped("clients", old_rows_then_a_write):
        assert [row["name"] for row in cache_layer.get("clients")] == ["Client A"]  # what it read before
    assert len(calls) == 2
    assert [row["name"] for row in cache_layer.get("clients")] == ["Client A2"]
