"""cache_layer: a reusable reference-data and query-result cache (knows nothing of trackers).

    import cache_layer
    cache_layer.register("brands", load_brands, depends_on={"production_runs": []})
    rows = cache_layer.get("brands")          # from the cache, or the database when it can't be proved current
    cache_layer.invalidate("brands")          # after the current transaction commits
    cache_layer.table_changed("trackers", ["production_run_id"])
"""

from cache_layer.invalidation import invalidate, invalidate_all, table_changed
from cache_layer.querysets import CacheAwareManager, CacheAwareQuerySet
from cache_layer.reference import get, get_many, prewarm, reload
from cache_layer.registry import register

__all__ = [
    "CacheAwareManager",
    "CacheAwareQuerySet",
    "get",
    "get_many",
    "invalidate",
    "invalidate_all",
    "prewarm",
    "register",
    "reload",
    "table_changed",
]
