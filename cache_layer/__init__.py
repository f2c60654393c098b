"""cache_layer: a reusable reference-data and query-result cache (knows nothing of trackers).

import cache_layer
cache_layer.register("brands", load_brands, depends_on={"production_runs": []})
rows = cache_layer.get("brands")          # from the cache, or the database when it can't be proved current
cache_layer.invalidate("brands")          # after the current transaction commits
cache_layer.table_changed("trackers", ["production_run_id"])

cache_layer.register_scope("production_run", table="trackers", column="production_run_id")
entry = cache_layer.query.get_or_compute(name="trackers", key=..., scopes=[("production_run", 7)], compute=...)
entry.body, entry.encoding, entry.generations   # as stored: gzip from 1 KB; entry.plain decodes
cache_layer.scopes_changed("production_run", [7])   # after commit, one round trip per transaction

cache_layer.register_rows("tracker", table="location_history", column="tracker_id")
cache_layer.rows_changed("tracker", [5, 9])          # after commit: one entry of the changed-rows feed
entries = await cache_layer.feed.AsyncFeed("tracker").read(cursor)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from cache_layer import feed, query, receivers, registry
from cache_layer.invalidation import invalidate, invalidate_all, rows_changed, scopes_changed, table_changed
from cache_layer.querysets import CacheAwareManager, CacheAwareQuerySet
from cache_layer.reference import get, get_many, prewarm, reload
from cache_layer.reference import read_generations as reference_generations
from cache_layer.reference import tag as reference_tag


def register(
    name: str,
    loader: registry.Loader,
    *,
    tables: Iterable[str] | None = None,
    depends_on: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
) -> registry.Cached:
    """Register a cached table (`registry.register`) and connect the receivers of every table it reads."""
    entry = registry.register(name, loader, tables=tables, depends_on=depends_on)
    receivers.connect_tables(entry.tables | set(entry.depends_on))
    return entry


def register_scope(
    group: str, *, table: str, column: str, resolve: Callable[[set], set] | None = None
) -> registry.Scope:
    """Declare a query-cache scope (`registry.register_scope`) and connect the receivers of `table`."""
    scope = registry.register_scope(group, table=table, column=column, resolve=resolve)
    receivers.connect_tables({scope.table})
    return scope


def register_rows(
    group: str,
    *,
    table: str,
    column: str,
    columns: Iterable[str] | None = None,
    resolve: Callable[[set], set] | None = None,
) -> registry.Rows:
    """Declare a changed-rows feed group (`registry.register_rows`) and connect the receivers of `table`."""
    rows = registry.register_rows(group, table=table, column=column, columns=columns, resolve=resolve)
    receivers.connect_tables({rows.table})
    return rows


__all__ = [
    "CacheAwareManager",
    "CacheAwareQuerySet",
    "get",
    "get_many",
    "invalidate",
    "feed",
    "invalidate_all",
    "prewarm",
    "query",
    "reference_generations",
    "reference_tag",
    "register",
    "register_rows",
    "register_scope",
    "reload",
    "rows_changed",
    "scopes_changed",
    "table_changed",
]
