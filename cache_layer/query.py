"""The query-result cache: ready response bytes, valid while the generations of the scopes they cover are unchanged.

A caller names the scopes a result covers (e.g. every production run a filter can match);
each scope has a generation that only goes up, moved after commit by every write to its rows.
An entry records the generations it was computed under (read before the database), and is
served only while they are all current, the set of scopes is the same, and its TTL has not run out.
A body of at least QUERY_CACHE_COMPRESS_MIN_BYTES is stored gzip-compressed, once, so that a hit
sends the stored bytes as they are (the HTTP layer decodes them only for a client without gzip).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cache_layer import conf, generations, store
from cache_layer.metrics import (
    CACHE_HITS,
    CACHE_INVALIDATION_FAILURES,
    CACHE_INVALIDATIONS,
    CACHE_MISSES,
    CACHE_SERVED_BYTES,
    CACHE_SKIPPED,
    CACHE_STORED_BYTES,
)

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


@dataclass(frozen=True)
class Entry:
    """What `get_or_compute` answers: a body as it is stored, and the generations it was computed under."""

    body: bytes
    # "gzip": `body` is gzip-compressed JSON (send it with `Content-Encoding: gzip`); None: plain.
    encoding: str | None = None
    # Scope key → generation read before computing (the same for every hit of the entry: an ETag
    # can be derived from it). Empty when the body was not cached (cache off or unreachable).
    generations: Mapping[str, int] = field(default_factory=dict)

    @property
    def plain(self) -> bytes:
        """The body decoded (for a client that does not accept the encoding)."""
        return gzip.decompress(self.body) if self.encoding == "gzip" else self.body

    @property
    def stored_bytes(self) -> int:
        return len(self.body)


def encoded(body: bytes, generations: Mapping[str, int]) -> Entry:
    """The entry to store for `body`: gzip level 6 (what the HTTP layer would send) from the size
    where compression pays, plain below it or with QUERY_CACHE_COMPRESS off."""
    if conf.get("QUERY_CACHE_COMPRESS") and len(body) >= conf.get("QUERY_CACHE_COMPRESS_MIN_BYTES"):
        return Entry(gzip.compress(body, compresslevel=6, mtime=0), "gzip", generations)
    return Entry(body, None, generations)


def stored_key(name: str, key: str) -> str:
    """The backend key of `key`'s entry: `{"generations", "body", "encoding"}` as stored."""
    return store.key("q", name, hashlib.sha256(key.encode()).hexdigest())


def _stored(value: dict | None, generations: Mapping[str, int]) -> Entry | None:
    if value is None or value["generations"] != generations:
        return None
    return Entry(value["body"], value.get("encoding"), value["generations"])


def _with_all(scopes: Iterable[tuple[str, object]]) -> list[tuple[str, object]]:
    return [ALL, *sorted(set(scopes), key=repr)]


@dataclass(frozen=True)
class Lookup:
    """One read of a key: the generations of its scopes now, and its entry if stored under them."""

    generations: Mapping[str, int]
    entry: Entry | None  # None: a miss


def lookup(*, name: str, key: str, scopes: Iterable[tuple[str, object]]) -> Lookup | None:
    """The generations of ALL + `scopes` and the entry of `key` if it is current, in one round trip
    (what `get_or_compute` reads first); None with the query cache off or the backend away.
    For small answers: `tag_of(lookup.generations)` and `get_or_compute(found=lookup)` then share it."""
    if not enabled():
        return None
    keys = [scope_key(scope) for scope in _with_all(scopes)]
    entry_key = stored_key(name, key)
    try:
        found = store.get_many([entry_key, *keys])
        current = generations.current(found, keys)
    except store.CacheUnavailable:
        return None
    return Lookup(current, _stored(found.get(entry_key), current))


def get_or_compute(
    *,
    name: str,
    key: str,
    scopes: Iterable[tuple[str, object]],
    compute: Callable[[], bytes],
    ttl: int | None = None,
    found: Lookup | None = None,
) -> Entry:
    """The entry cached for `key`, or one made of `compute()`'s bytes (stored under the generations
    read before it ran).

    1. One round trip: the entry and the generations of ALL + `scopes` (none with `found`, the
       `lookup()` of the same key made for this answer).
    2. Hit: the same scopes at the same generations → the stored entry as it is (no compression).
    3. Miss: one process computes (lock), compresses once and stores; concurrent identical
       requests wait briefly for its entry, then compute without storing. With the cache off or
       its backend down: `compute()`'s plain bytes, nothing stored.
    """
    if not enabled():
        return Entry(compute())
    digest = hashlib.sha256(key.encode()).hexdigest()
    lock_key = store.key("qlock", name, digest)
    if found is None:
        found = lookup(name=name, key=key, scopes=scopes)
        if found is None:
            CACHE_MISSES.labels(cache=CACHE, table=name).inc()
            return Entry(compute())
    current, entry = found.generations, found.entry
    entry_key = stored_key(name, key)
    if entry is not None:
        _count_hit(name, entry)
        return entry
    CACHE_MISSES.labels(cache=CACHE, table=name).inc()
    ttl = conf.get("QUERY_CACHE_TTL") if ttl is None else ttl
    token = uuid.uuid4().hex
    try:
        locked = store.add(lock_key, token, timeout=conf.get("LOCK_TIMEOUT_SECONDS"))
    except store.CacheUnavailable:
        return Entry(compute())
    if locked:
        entry = encoded(compute(), current)
        try:
            _store_bounded(name, entry_key, entry, ttl)
        except store.CacheUnavailable:
            pass
        finally:
            _release(lock_key, token)
        return entry
    try:
        deadline = time.monotonic() + conf.get("STAMPEDE_WAIT_SECONDS")
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            waited = store.get_many([entry_key, lock_key])
            entry = _stored(waited.get(entry_key), current)
            if entry is not None:
                _count_hit(name, entry)
                return entry
            if lock_key not in waited:
                break  # the loader is done and stored nothing for us (too large, Redis failed, other generations)
    except store.CacheUnavailable:
        pass
    return Entry(compute())


def _store_bounded(name: str, entry_key: str, entry: Entry, ttl: int) -> None:
    """Store `entry` unless its body, as stored (compressed when it is), is larger than
    QUERY_CACHE_MAX_ENTRY_BYTES: a huge answer would evict hundreds of small ones for one reader,
    so it is answered from the database each time instead."""
    size, limit = entry.stored_bytes, conf.get("QUERY_CACHE_MAX_ENTRY_BYTES")
    if limit and size > limit:
        CACHE_SKIPPED.labels(cache=CACHE, reason="too_large").inc()
        logger.debug("query-cache entry of %d bytes not stored (bound %d)", size, limit,
                     extra={"event": "cache_skipped", "cache": CACHE, "table": name, "bytes": size})
        return
    stored = {"generations": entry.generations, "body": entry.body, "encoding": entry.encoding}
    store.set(entry_key, stored, timeout=ttl)
    CACHE_STORED_BYTES.labels(cache=CACHE, table=name).inc(size)


def _count_hit(name: str, entry: Entry) -> None:
    CACHE_HITS.labels(cache=CACHE, table=name).inc()
    CACHE_SERVED_BYTES.labels(cache=CACHE, table=name).inc(entry.stored_bytes)


def _release(lock_key: str, token: str) -> None:
    try:
        if store.get(lock_key) == token:
            store.delete(lock_key)
    except store.CacheUnavailable:
        pass  # it expires


def current_generations(scopes: Iterable[tuple[str, object]]) -> dict[str, int] | None:
    """The generations `get_or_compute` would read now for `scopes` (one round trip, no entry read);
    None with the query cache off or the backend away."""
    if not enabled():
        return None
    keys = [scope_key(scope) for scope in _with_all(scopes)]
    try:
        return generations.current(store.get_many(keys), keys)
    except store.CacheUnavailable:
        return None


def tag(*, name: str, key: str, scopes: Iterable[tuple[str, object]], ttl: int | None = None) -> str | None:
    """A version of what `get_or_compute` answers for (`name`, `key`, `scopes`), from the scopes'
    generations alone (one round trip: no entry, no database): equal while none of them is written,
    different after a write. None with the query cache off or the backend away.

    Read it before the answer: the answer is then at least as new as the version says. It also
    moves every TTL seconds, as an entry never outlives its TTL: an answer a client revalidates
    is never older than one the cache would serve.
    """
    seen = current_generations(scopes)
    if seen is None:
        return None
    return tag_of(name=name, key=key, seen=seen, ttl=ttl)


def tag_of(*, name: str, key: str, seen: Mapping[str, int], ttl: int | None = None) -> str:
    """`tag()` from generations already read (`current_generations`, or a `lookup()`'s)."""
    ttl = conf.get("QUERY_CACHE_TTL") if ttl is None else ttl
    window = int(time.time() // ttl) if ttl else 0
    source = repr((name, key, sorted(seen.items()), window)).encode()
    return hashlib.sha256(source).hexdigest()[:32]
