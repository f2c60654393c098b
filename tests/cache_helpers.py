"""Shared by the cache tests: reload counts, a pausable loader, the test database's URL for subprocesses."""

from __future__ import annotations

import contextlib
import threading

from django.db import connection
from prometheus_client import REGISTRY

from cache_layer import registry


def reloads(table: str, cache: str = "reference") -> float:
    return REGISTRY.get_sample_value("cache_reloads_total", {"cache": cache, "table": table}) or 0.0


@contextlib.contextmanager
def loader_wrapped(name: str, wrapper):
    """Register `name` again with `wrapper(original_loader)` for the duration of the block."""
    entry = registry.get(name)
    registry.register(name, wrapper(entry.loader), tables=entry.tables, depends_on=entry.depends_on)
    try:
        yield
    finally:
        registry.register(name, entry.loader, tables=entry.tables, depends_on=entry.depends_on)


class PausingLoader:
    """Wraps a loader: the first call reads the database, then waits until `resume` is set."""

    def __init__(self) -> None:
        self.read_done = threading.Event()
        self.resume = threading.Event()
        self.calls = 0

    def __call__(self, loader):
        def load():
            self.calls += 1
            rows = loader()
            if self.calls == 1:
                self.read_done.set()
                assert self.resume.wait(10), "the test never resumed the loader"
            return rows

        return load


def subprocess_database_url() -> str:
    settings = connection.settings_dict
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


@contextlib.contextmanager
def backend_round_trips():
    """Count the calls that reach the cache backend (each `store` call is one round trip)."""
    from cache_layer import store

    calls: list[int] = []
    original = store._call

    def counted(operation, *args, **kwargs):
        calls.append(1)
        return original(operation, *args, **kwargs)

    store._call = counted
    try:
        yield calls
    finally:
        store._call = original
