"""Invalidation: generations bumped by atomic INCR after commit, and debounced reloads.

A cached table is valid only under its current generation, a counter in the cache backend
that only goes up. Invalidating bumps it at once (after the writer's commit), so no reader
is ever answered from the old entry; the reload that refills the entry is debounced: the
first invalidation of a burst sets a "reload pending" marker in the backend (one per table,
shared by every process), and the process that set it reloads once the table has been quiet
for DEBOUNCE_SECONDS. Readers that miss while the marker is set go to the database.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction

from cache_layer import conf, feed, query, reference, registry, store
from cache_layer.generations import current_generations, generation_key, new_generation
from cache_layer.metrics import CACHE_INVALIDATION_FAILURES, CACHE_INVALIDATIONS

logger = logging.getLogger("cache_layer")

CACHE = reference.CACHE
_reloaders: list[tuple[threading.Thread, threading.Event, str]] = []
_reloaders_lock = threading.Lock()


def table_changed(table: str, columns: Iterable[str] | None = None, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """A write to `table` (restricted to `columns`, None = rows inserted/deleted/any column) is
    being made: invalidate every cached name it makes stale once the transaction commits."""
    names = registry.affected(table, columns)
    if names:
        invalidate(*names, using=using)


def invalidate(*names: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Invalidate cached names after the current transaction commits (at once outside one)."""
    _after_commit(using, names=set(names))


def scopes_changed(group: str, ids: Iterable[object], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Query-cache scopes (e.g. production runs) written by the current transaction: their
    generations move after commit, all of one transaction's in one round trip."""
    _after_commit(using, scopes={(group, i) for i in ids})


def scope_ids_changed(scope: registry.Scope, values: Iterable[object], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Rows of `scope.table` whose `scope.column` held `values` were written."""
    values = set(values)
    if values and scope.resolve is not None:
        # A cascade delete sends one signal per row (say 100,000 history rows of one tracker):
        # resolve each value once per transaction, not once per row.
        batch = _batch(using)
        if batch is not None:
            values -= batch.resolved.setdefault(scope.group, set())
            batch.resolved[scope.group] |= values
        values = scope.resolve(values) if values else set()
    if values:
        scopes_changed(scope.group, values, using=using)


def rows_changed(group: str, ids: Iterable[object] | None, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Rows of the changed-rows feed's `group` written by the current transaction (None = any row):
    appended to the feed after commit, all of one transaction's in one entry."""
    _after_commit(using, rows={group: None if ids is None else set(ids)})


def row_values_changed(rows: registry.Rows, values: Iterable[object], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Rows of `rows.table` whose `rows.column` held `values` were written."""
    values = set(values) - {None}
    if values and rows.resolve is not None:
        values = rows.resolve(values)
    if values:
        rows_changed(rows.group, values, using=using)


def invalidate_all(*, reload: bool = True) -> None:
    """Treat everything as changed (after a reconnect, an outage, a bulk load)."""
    bump(registry.names(), reload=reload)
    query.invalidate_all()


class _Batch:
    """What a connection's transactions wrote and has not been flushed yet."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.scopes: set[tuple[str, object]] = set()
        self.resolved: dict[str, set] = {}  # scope group → raw values already resolved
        self.rows: dict[str, set | None] = {}  # feed group → row ids (None = any row)

    def add_rows(self, rows: dict[str, set | None]) -> None:
        for group, ids in rows.items():
            if ids is None or self.rows.get(group, set()) is None:
                self.rows[group] = None
            else:
                self.rows[group] = self.rows.get(group, set()) | ids

    def flush(self) -> None:
        names, scopes, rows = self.names, self.scopes, self.rows
        self.names, self.scopes, self.resolved, self.rows = set(), set(), {}, {}
        _flush(names, scopes, rows)


def _batch(using: str) -> _Batch | None:
    """The batch of the connection's current transaction (None outside one)."""
    connection = connections[using]
    if not connection.in_atomic_block:
        return None
    batch = getattr(connection, "_cache_layer_batch", None)
    if batch is None:
        batch = connection._cache_layer_batch = _Batch()
    return batch


def _after_commit(
    using: str, *, names: set[str] = frozenset(), scopes: set = frozenset(), rows: dict | None = None
) -> None:
    """1. Outside a transaction: now.
    2. Inside one: add to the connection's batch and register a callback that flushes the whole
       batch. At commit the first callback flushes everything in one round trip and the rest
       find it empty. What a rolled-back transaction or savepoint added is flushed with a later
       commit at worst: an extra invalidation, never a missed one."""
    batch = _batch(using)
    if batch is None:
        _flush(names, scopes, rows or {})
        return
    batch.names |= names
    batch.scopes |= scopes
    if rows:
        batch.add_rows(rows)
    transaction.on_commit(batch.flush, using=using)


def _flush(names: set[str], scopes: set, rows: dict) -> None:
    if names:
        bump(sorted(names))
    if scopes:
        query.bump(scopes)
    if rows:
        for group, ids in rows.items():
            feed.append(group, ids)


def bump(names: Iterable[str], *, reload: bool = True) -> None:
    """Bump the generations now. A bump that can't reach the backend is not lost: the recovery
    hook bumps every generation before the backend is read again."""
    for name in names:
        try:
            _bump_one(name, reload=reload)
        except store.CacheUnavailable:
            CACHE_INVALIDATION_FAILURES.labels(cache=CACHE, table=name).inc()
            logger.warning(
                "invalidation of %s could not reach the cache; retried when it is back", name,
                extra={"event": "cache_invalidation_failed", "cache": CACHE, "table": name},
            )


def _bump_one(name: str, *, reload: bool) -> None:
    try:
        store.incr(generation_key(name))
    except ValueError:  # no generation yet (or flushed): start a fresh one
        store.set(generation_key(name), new_generation())
    CACHE_INVALIDATIONS.labels(cache=CACHE, table=name).inc()
    # Reference tables change rarely (never per request): one line per invalidation.
    logger.info("invalidated %s", name, extra={"event": "cache_invalidated", "cache": CACHE, "table": name})
    if reload:
        schedule_reload(name)


def _bump_all_on_recovery() -> None:
    query.bump_strict([query.ALL])  # raises CacheUnavailable: still down, try again later
    for name in registry.names():
        _bump_one(name, reload=True)


store.add_recovery_hook(_bump_all_on_recovery)


def schedule_reload(name: str) -> None:
    """Start the debounced reload of `name` unless some process already has one pending."""
    debounce = conf.get("DEBOUNCE_SECONDS")
    ttl = debounce * (conf.get("DEBOUNCE_MAX_WINDOWS") + 1) + conf.get("LOCK_TIMEOUT_SECONDS")
    if not store.add(reference.pending_key(name), 1, timeout=ttl):
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_debounced_reload, args=(name, stop), name=f"cache_layer-reload-{name}", daemon=True
    )
    with _reloaders_lock:
        _reloaders[:] = [r for r in _reloaders if r[0].is_alive()]
        _reloaders.append((thread, stop, name))
    thread.start()


def _debounced_reload(name: str, stop: threading.Event) -> None:
    """1. Wait until the generation has not moved for one debounce window (at most MAX_WINDOWS).
    2. Reload (reference.reload clears the pending marker before it records the generation).
    3. Close this thread's database connection."""
    debounce = conf.get("DEBOUNCE_SECONDS")
    try:
        seen = current_generations([name])[name]
        for _ in range(conf.get("DEBOUNCE_MAX_WINDOWS")):
            if stop.wait(debounce):
                return
            now = current_generations([name])[name]
            if now == seen:
                break
            seen = now
        if not stop.is_set():
            reference.reload(name, clear_pending=True, cancelled=stop.is_set)
    except store.CacheUnavailable:
        pass  # the recovery hook bumps and reschedules everything
    except Exception:
        logger.exception("debounced reload of %s failed", name)
    finally:
        close_old_connections()
        connections.close_all()


def wait_for_reloads(timeout: float = 10.0) -> None:
    """Block until the scheduled reloads of this process have run (tests, commands that exit)."""
    with _reloaders_lock:
        threads = [r[0] for r in _reloaders]
    for thread in threads:
        thread.join(timeout)


def cancel_scheduled_reloads() -> None:
    """Stop this process's pending reloads (tests: a reload must not outlive its test)."""
    with _reloaders_lock:
        pending = list(_reloaders)
        _reloaders.clear()
    for _thread, stop, _name in pending:
        stop.set()
    for thread, _stop, _name in pending:
        thread.join(30)  # a cancelled reload stores nothing, but let none outlive its caller


@atexit.register
def _hand_over_pending_reloads() -> None:
    """A process that exits (a management command) before its debounced reloads ran clears their
    markers, so that the next reader reloads at once instead of reading the database until they expire."""
    with _reloaders_lock:
        pending = [r for r in _reloaders if r[0].is_alive()]
    for _thread, stop, name in pending:
        stop.set()
        try:
            store.delete(reference.pending_key(name))
        except store.CacheUnavailable:
            pass
