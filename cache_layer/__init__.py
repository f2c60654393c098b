"""cache_layer: a reusable reference-data and query-result cache (knows nothing of trackers).

import cache_layer
cache_layer.register("brands", load_brands, depends_on={"production_runs": []})
rows = cache_layer.get("brands")          # from the cache, or the database when it can't be proved current
cache_layer.invalidate("brands")          # after the current transaction commits
cache_layer.table_changed("trackers", ["production_run_id"])

cache_layer.register_scope("production_run", table="trackers", column="production_run_id")
body = cache_layer.query.get_or_compute(name="trackers", key=..., scopes=[("production_run", 7)], compute=...)
cache_layer.scopes_changed("production_run", [7])   # after commit, one round trip per transaction

cache_layer.register_rows("tracker", table="location_history", column="tracker_id")
cache_layer.rows_changed("tracker", [5, 9])          # after commit: one entry of the changed-rows feed
entries = await cache_layer.feed.AsyncFeed("tracker").read(cursor)
"""

from cache_layer import feed, query
from cache_layer.invalidation import invalidate, invalidate_all, rows_changed, scopes_changed, table_changed
from cache_layer.querysets import CacheAwareManager, CacheAwareQuerySet
from cache_layer.reference import get, get_many, prewarm, reload
from cache_layer.registry import register, register_rows, register_scope

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
    "register",
    "register_rows",
    "register_scope",
    "reload",
    "rows_changed",
    "scopes_changed",
    "table_changed",
]
