"""Races, stampedes, debouncing and two processes: real threads and processes where concurrency is the point."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connections

import cache_layer
from cache_layer import invalidation, registry
from dashboard.models import Client
from tests.cache_helpers import PausingLoader, loader_wrapped, reloads, subprocess_database_url

ROOT = Path(__file__).resolve().parent.parent


def names():
    return [row["name"] for row in cache_layer.get("clients")]


def in_thread(target, *args):
    result = {}

    def run():
        try:
            result["value"] = target(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@pytest.fixture(autouse=True)
def short_debounce(settings):
    """Before any data fixture: the reloads their writes schedule use it too."""
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "DEBOUNCE_SECONDS": 0.3}


@pytest.mark.django_db(transaction=True)
def test_a_reader_that_raced_a_writer_never_publishes_the_old_rows(client_a):
    pausing = PausingLoader()
    with loader_wrapped("clients", pausing):
        reader, result = in_thread(names)  # misses, reads the database, then pauses before storing
        assert pausing.read_done.wait(10)
        client_a.name = "Renamed while the reader was paused"
        client_a.save()  # autocommit: committed and invalidated now
        pausing.resume.set()
        reader.join(10)
    assert result["value"] == ["Client A"]  # the reader itself answered with what it read
    assert names() == ["Renamed while the reader was paused"]
    invalidation.wait_for_reloads()
    assert names() == ["Renamed while the reader was paused"]


@pytest.mark.django_db
def test_twenty_threads_missing_one_cold_table_cause_one_load(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "STAMPEDE_WAIT_SECONDS": 10.0}  # a loaded machine is slow
    loads = []
    start = threading.Barrier(20)

    def slow_loader():
        loads.append(1)
        time.sleep(0.2)
        return ["row"]

    registry.register("stampede_table", slow_loader, tables=["stampede_table"])
    try:

        def read():
            start.wait()
            return cache_layer.get("stampede_table")

        threads = [in_thread(read) for _ in range(20)]
        for thread, _ in threads:
            thread.join(10)
    finally:
        registry.unregister("stampede_table")
    assert [result["value"] for _, result in threads] == [["row"]] * 20
    assert len(loads) == 1


@pytest.mark.django_db(transaction=True)
def test_two_hundred_saves_cause_at_most_two_reloads(client_a, settings):
    # A window longer than any pause between two saves, even on a busy machine.
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "DEBOUNCE_SECONDS": 1.0}
    invalidation.wait_for_reloads()  # the one client_a's creation scheduled
    names()
    before = reloads("clients")
    for number in range(200):
        client_a.name = f"Client A #{number}"
        client_a.save()
        assert names() == [f"Client A #{number}"]  # between the writes and the reload: the database
    invalidation.wait_for_reloads()
    assert reloads("clients") - before <= 2
    assert names() == ["Client A #199"] == [c.name for c in Client.objects.all()]


@pytest.mark.django_db(transaction=True)
def test_a_change_during_a_reload_causes_one_more(client_a, django_assert_num_queries):
    names()
    before = reloads("clients")
    pausing = PausingLoader()
    with loader_wrapped("clients", pausing):
        client_a.name = "First"
        client_a.save()  # schedules the debounced reload, which pauses inside its load
        assert pausing.read_done.wait(10)
        client_a.name = "Second"
        client_a.save()  # arrives during the reload
        pausing.resume.set()
        invalidation.wait_for_reloads()
        invalidation.wait_for_reloads()  # the reload scheduled by the second save
    assert reloads("clients") - before == 2
    with django_assert_num_queries(0):  # the second reload left a current entry
        assert names() == ["Second"]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_write_in_another_process_is_seen_by_the_next_read_here(client_a, django_assert_num_queries):
    invalidation.wait_for_reloads()  # the one client_a's creation scheduled
    names()
    with django_assert_num_queries(0):  # this process's in-process layer holds the current generation
        assert names() == ["Client A"]
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from dashboard.models import Client; "
            f"c = Client.objects.get(pk={client_a.pk}); c.name = 'Written elsewhere'; c.save()",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": subprocess_database_url()},
        check=True,
        timeout=60,
    )
    assert names() == ["Written elsewhere"]
