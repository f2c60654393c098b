"""The query-result cache: ready response bytes, valid while the generations of the scopes they cover are unchanged.

A caller names the scopes a result covers (e.g. every production run a filter can match);
each scope has a generation that only goes up, moved after commit by every write to its rows.
An entry records the generations it was computed under (read before the database), and is
served only while they are all current, the set of scopes is the same, and its TTL has not run out.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable

from cache_layer import conf, generations, store
from cache_layer.metrics import CACHE_HITS, CACHE_INVALIDATION_FAILURES, CACHE_INVALIDATIONS, CACHE_MISSES

logger = logging.getLogger("cache_layer")

CACHE = "query"
ALL = ("*", "all")  # part of every entry: bumped after a reconnect, an outage, a TRUNCATE, a bulk load
POLL_SECONDS = 0.02


def enabled() -> bool:
    return conf.get("ENABLED") and conf.get("QUERY_CACHE_ENABLED")


def scope_key(scope: tuple[str, object]) -> str:
    return store.key("scope", *scope)


def bump(scopes: Iterable[tuple[str, object]]) -> None:
    """Move the generations of `scopes` now (one round trip). A failure is retried by the
    recovery hook, which bumps ALL."""
    scopes = set(scopes)
    try:
        bump_strict(scopes)
    except store.CacheUnavailable:
        for group in {group for group, _ in scopes}:
            CACHE_INVALIDATION_FAILURES.labels(cache=CACHE, table=group).inc()
        logger.warning(
            "query-cache invalidation of %d scopes could not reach the cache; everything is treated as "
            "changed when it is back", len(scopes),
            extra={"event": "cache_invalidation_failed", "cache": CACHE, "scopes": len(scopes)},
        )


def bump_strict(scopes: Iterable[tuple[str, object]]) -> None:
    scopes = set(scopes)
    store.incr_many({scope_key(scope): generations.new_generation() for scope in scopes})
    for group in {group for group, _ in scopes}:
        CACHE_INVALIDATIONS.labels(cache=CACHE, table=group).inc()
    # Ingest bumps runs on every batch: DEBUG, so INFO logs stay free of per-request lines.
    logger.debug("invalidated %d query-cache scopes", len(scopes),
                 extra={"event": "cache_invalidated", "cache": CACHE, "scopes": len(scopes)})


def invalidate_all() -> None:
    bump([ALL])


def get_or_compute(
    *,
    name: str,
    key: str,
    scopes: Iterable[tuple[str, object]],
    compute: Callable[[], bytes],
    ttl: int | None = None,
) -> bytes:
    """The bytes cached for `key`, or `compute()`'s (stored under the generations read before it ran).

    1. One round trip: the entry and the generations of ALL + `scopes`.
    2. Hit: the same scopes at the same generations → the stored bytes as they are.
    3. Miss: one process computes (lock); concurrent identical requests wait briefly for its
       entry, then compute without storing. With the backend down: compute, nothing stored.
    """
    if not enabled():
        return compute()
    scopes = [ALL, *sorted(set(scopes), key=repr)]
    digest = hashlib.sha256(key.encode()).hexdigest()
    entry_key, lock_key = store.key("q", name, digest), store.key("qlock", name, digest)
    try:
        found = store.get_many([entry_key, *(scope_key(s) for s in scopes)])
        current = generations.current(found, [scope_key(s) for s in scopes])
    except store.CacheUnavailable:
        CACHE_MISSES.labels(cache=CACHE, table=name).inc()
        return compute()
    entry = found.get(entry_key)
    if entry is not None and entry["generations"] == current:
        CACHE_HITS.labels(cache=CACHE, table=name).inc()
        return entry["body"]
    CACHE_MISSES.labels(cache=CACHE, table=name).inc()
    ttl = conf.get("QUERY_CACHE_TTL") if ttl is None else ttl
    token = uuid.uuid4().hex
    try:
        locked = store.add(lock_key, token, timeout=conf.get("LOCK_TIMEOUT_SECONDS"))
    except store.CacheUnavailable:
        return compute()
    if locked:
        body = compute()
        try:
            store.set(entry_key, {"generations": current, "body": body}, timeout=ttl)
        except store.CacheUnavailable:
            pass
        finally:
            _release(lock_key, token)
        return body
    try:
        deadline = time.monotonic() + conf.get("STAMPEDE_WAIT_SECONDS")
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            entry = store.get(entry_key)
            if entry is not None and entry["generations"] == current:
                CACHE_HITS.labels(cache=CACHE, table=name).inc()
                return entry["body"]
    except store.CacheUnavailable:
        pass
    return compute()


def _release(lock_key: str, token: str) -> None:
    try:
        if store.get(lock_key) == token:
            store.delete(lock_key)
    except store.CacheUnavailable:
        pass  # it expires
