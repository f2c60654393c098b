"""QUERY_CACHE_MAX_ENTRY_BYTES: an answer larger than the bound is answered from the database, never stored."""

import threading

import orjson
import pytest
from django.core.checks import run_checks
from prometheus_client import REGISTRY

import cache_layer.query
from tests.test_cache_query import STAFF_AUTH, TRACKER_QUERIES, fleet, serials  # noqa: F401 - fleet: a fixture

pytestmark = pytest.mark.django_db


def counter(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def bound(settings, limit: int) -> None:
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_MAX_ENTRY_BYTES": limit}


@pytest.mark.usefixtures("fleet")
def test_an_answer_above_the_bound_is_answered_from_the_database_each_time(
    settings, staff_api, django_assert_num_queries
):
    before = counter("cache_stored_bytes_total", cache="query", table="trackers")
    body = staff_api.get("/api/trackers/").content  # stored: the default bound is far above 1 KB
    # The bound counts the entry as stored (gzip once it is 1 KB or more): one byte below it.
    bound(settings, counter("cache_stored_bytes_total", cache="query", table="trackers") - before - 1)
    skipped = counter("cache_skipped_total", cache="query", reason="too_large")
    stored = counter("cache_stored_bytes_total", cache="query", table="trackers")

    for _ in range(2):
        with django_assert_num_queries(STAFF_AUTH + TRACKER_QUERIES):  # the page's query every time
            response = staff_api.get("/api/trackers/?ordering=serial")
        assert serials(response) == ["T-RA", "T-RB", "T-RC"]

    assert counter("cache_skipped_total", cache="query", reason="too_large") == skipped + 2
    assert counter("cache_stored_bytes_total", cache="query", table="trackers") == stored
    with django_assert_num_queries(STAFF_AUTH):  # the first answer, below the new bound, is still cached
        assert staff_api.get("/api/trackers/").content == body


@pytest.mark.usefixtures("fleet")
def test_an_answer_within_the_bound_is_stored_and_its_bytes_counted(
    settings, staff_api, django_assert_num_queries
):
    bound(settings, 10_000)
    stored = counter("cache_stored_bytes_total", cache="query", table="trackers")
    served = counter("cache_served_bytes_total", cache="query", table="trackers")

    miss = staff_api.get("/api/trackers/")
    with django_assert_num_queries(STAFF_AUTH):  # a hit: no tracker query
        hit = staff_api.get("/api/trackers/")

    assert hit.content == miss.content
    assert orjson.loads(hit.content)["total"] == 3
    stored_now = counter("cache_stored_bytes_total", cache="query", table="trackers") - stored
    # Counted as stored (compressed from 1 KB on), and a hit serves exactly what was stored.
    assert 0 < stored_now <= len(miss.content)
    assert counter("cache_served_bytes_total", cache="query", table="trackers") == served + stored_now


@pytest.mark.usefixtures("fleet")
def test_a_bound_of_zero_stores_answers_of_any_size(settings, staff_api, django_assert_num_queries):
    bound(settings, 0)
    staff_api.get("/api/trackers/")
    with django_assert_num_queries(STAFF_AUTH):
        assert len(serials(staff_api.get("/api/trackers/"))) == 3


def test_readers_waiting_for_a_too_large_answer_compute_it_once_the_loader_is_done(settings):
    """The loader stores nothing: a reader waiting for its entry stops waiting when the lock is
    released (not after STAMPEDE_WAIT_SECONDS, here a minute) and answers from its own compute."""
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "QUERY_CACHE_MAX_ENTRY_BYTES": 10, "STAMPEDE_WAIT_SECONDS": 60}
    loading, release = threading.Event(), threading.Event()
    answers = {}

    def slow_compute() -> bytes:
        loading.set()
        assert release.wait(10)
        return b"x" * 100

    def read(who: str, compute) -> None:
        answers[who] = cache_layer.query.get_or_compute(
            name="bound-test", key="k", scopes=[("bound-test", 1)], compute=compute
        ).plain

    loader = threading.Thread(target=read, args=("loader", slow_compute))
    loader.start()
    assert loading.wait(10)
    waiter = threading.Thread(target=read, args=("waiter", lambda: b"y" * 100))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # it waits for the loader's entry
    release.set()
    loader.join(10)
    waiter.join(10)  # STAMPEDE_WAIT_SECONDS is 60: only the released lock ends the wait this early

    assert not waiter.is_alive()
    assert answers == {"loader": b"x" * 100, "waiter": b"y" * 100}


@pytest.mark.parametrize(("value", "error_id"), [("1MB", "cache_layer.E003"), (-1, "cache_layer.E004")])
def test_a_bad_bound_fails_the_system_checks(settings, value, error_id):
    bound(settings, value)
    errors = [e for e in run_checks() if e.id.startswith("cache_layer.")]
    assert [e.id for e in errors] == [error_id]
    assert "QUERY_CACHE_MAX_ENTRY_BYTES" in errors[0].msg
