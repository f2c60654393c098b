"""The read path of the reference cache: in-process layer, backend entry, stampede-safe reload.

An entry is `{"generation": g, "rows": rows}`. A reader records the generation before it
reads the database and stores what it read under that generation only, so rows read before
a write committed can never be served as current: the write's bump has moved past them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from cache_layer import conf, generations, registry, store
from cache_layer.metrics import CACHE_HITS, CACHE_MISSES, CACHE_RELOADS

logger = logging.getLogger("cache_layer")

CACHE = "reference"
POLL_SECONDS = 0.02

# name → (generation, rows): served without deserialising while the backend's generation matches.
_local: dict[str, tuple[int, Any]] = {}
_local_lock = threading.Lock()


def data_key(name: str) -> str:
    return store.key("rows", name)


def lock_key(name: str) -> str:
    return store.key("lock", name)


def pending_key(name: str) -> str:
    """Set while a debounced reload of `name` is pending (invalidation sets it, `reload` clears it):
    readers that miss meanwhile go to the database."""
    return store.key("pending", name)


def clear_local() -> None:
    with _local_lock:
        _local.clear()


def _remember(name: str, generation: int, rows: Any) -> None:
    if conf.get("LOCAL_LAYER"):
        with _local_lock:
            _local[name] = (generation, rows)


def _from_database(name: str) -> Any:
    CACHE_MISSES.labels(cache=CACHE, table=name).inc()
    return registry.get(name).loader()


def get(name: str) -> Any:
    """The rows of one cached table."""
    return get_many([name])[name]


def get_many(names: Iterable[str]) -> dict[str, Any]:
    """The rows of several cached tables, validated in one round trip when all are warm.

    1. With the cache off, read the database.
    2. Read every generation (one round trip); an in-process entry of the same generation is a hit.
    3. Read the backend's entries (second round trip) for the rest; same generation = hit.
    4. A miss reloads (one process at a time, stampede lock) unless a debounced reload is
       pending, in which case the reader goes to the database without storing anything.
    """
    names = list(names)
    for name in names:
        registry.get(name)  # an unknown name fails loudly, whatever the cache state
    if not conf.get("ENABLED"):
        return {name: registry.get(name).loader() for name in names}
    try:
        current = generations.current_generations(names)
    except store.CacheUnavailable:
        clear_local()  # nothing held now can be proved current once the backend is back
        return {name: _from_database(name) for name in names}

    result: dict[str, Any] = {}
    missing = []
    for name in names:
        held = _local.get(name)
        if held is not None and held[0] == current[name]:
            CACHE_HITS.labels(cache=CACHE, table=name).inc()
            result[name] = held[1]
        else:
            missing.append(name)
    if not missing:
        return result

    try:
        found = store.get_many([data_key(n) for n in missing] + [pending_key(n) for n in missing])
    except store.CacheUnavailable:
        found = None
    for name in missing:
        if found is None:
            result[name] = _from_database(name)
            continue
        entry = found.get(data_key(name))
        if entry is not None and entry["generation"] == current[name]:
            CACHE_HITS.labels(cache=CACHE, table=name).inc()
            _remember(name, entry["generation"], entry["rows"])
            result[name] = entry["rows"]
        elif found.get(pending_key(name)) is not None:
            result[name] = _from_database(name)
        else:
            result[name] = _load_once(name, current[name])
    return result


def _load_once(name: str, generation: int) -> Any:
    """Stampede protection: one reader loads and stores; the others wait briefly for its entry
    (or read the database once the wait is over)."""
    try:
        token = uuid.uuid4().hex
        if store.add(lock_key(name), token, timeout=conf.get("LOCK_TIMEOUT_SECONDS")):
            try:
                return _load_and_store(name, generation)
            finally:
                _release(name, token)
        deadline = time.monotonic() + conf.get("STAMPEDE_WAIT_SECONDS")
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            entry = store.get(data_key(name))
            if entry is not None and entry["generation"] == generation:
                CACHE_HITS.labels(cache=CACHE, table=name).inc()
                _remember(name, generation, entry["rows"])
                return entry["rows"]
    except store.CacheUnavailable:
        pass
    return _from_database(name)


def _load_and_store(name: str, generation: int, cancelled: Callable[[], bool] = lambda: False) -> Any:
    CACHE_MISSES.labels(cache=CACHE, table=name).inc()
    CACHE_RELOADS.labels(cache=CACHE, table=name).inc()
    started = time.perf_counter()
    rows = registry.get(name).loader()
    logger.info(
        "reloaded %s", name,
        extra={"event": "cache_reloaded", "cache": CACHE, "table": name, "generation": generation,
               "rows": len(rows) if hasattr(rows, "__len__") else None,
               "ms": round((time.perf_counter() - started) * 1000, 1)},
    )
    if cancelled():  # a reload stopped while it read (its process is handing over, or a test ended)
        return rows
    try:
        store.set(data_key(name), {"generation": generation, "rows": rows})
    except store.CacheUnavailable:
        return rows
    _remember(name, generation, rows)
    return rows


def _release(name: str, token: str) -> None:
    try:
        if store.get(lock_key(name)) == token:
            store.delete(lock_key(name))
    except store.CacheUnavailable:
        pass  # the lock expires by itself


def reload(name: str, *, clear_pending: bool = False, cancelled: Callable[[], bool] = lambda: False) -> Any:
    """Refill one cached table now (prewarm, debounced reload).

    1. Take the table's load lock (waiting for a reader that holds it).
    2. Clear the pending marker first, so a write from now on schedules another reload.
    3. Record the generation, then read the database, then store under that generation.
    """
    token = uuid.uuid4().hex
    deadline = time.monotonic() + conf.get("LOCK_TIMEOUT_SECONDS")
    while not store.add(lock_key(name), token, timeout=conf.get("LOCK_TIMEOUT_SECONDS")):
        if time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
    try:
        if clear_pending:
            store.delete(pending_key(name))
        generation = generations.current_generations([name])[name]
        return _load_and_store(name, generation, cancelled)
    finally:
        _release(name, token)


def prewarm(names: Iterable[str] | None = None) -> dict[str, tuple[int, float]]:
    """Reload every (or each named) table: name → (rows loaded, seconds)."""
    loaded = {}
    for name in names or registry.names():
        started = time.perf_counter()
        rows = reload(name)
        loaded[name] = (len(rows) if hasattr(rows, "__len__") else 1, time.perf_counter() - started)
    return loaded
