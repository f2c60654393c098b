"""Prometheus counters of the cache layer, labelled by cache ("reference", "query") and table.

Incremented by cache_layer; exposed at /metrics by the project.
"""

from prometheus_client import Counter

CACHE_HITS = Counter("cache_hits", "Reads answered from the cache.", ["cache", "table"])
CACHE_MISSES = Counter("cache_misses", "Reads that went to the database.", ["cache", "table"])
CACHE_RELOADS = Counter("cache_reloads", "Refills of a cached table from the database.", ["cache", "table"])
CACHE_INVALIDATIONS = Counter("cache_invalidations", "Generation bumps (invalidations).", ["cache", "table"])
CACHE_INVALIDATION_FAILURES = Counter(
    "cache_invalidation_failures", "Invalidations that could not reach the cache (retried).", ["cache", "table"]
)
CACHE_SKIPPED = Counter(
    "cache_skipped", "Answers computed but not stored, by reason (too_large: above the bound).", ["cache", "reason"]
)
CACHE_STORED_BYTES = Counter(
    "cache_stored_bytes", "Bytes written to the cache backend (entries as stored).", ["cache", "table"]
)
CACHE_SERVED_BYTES = Counter(
    "cache_served_bytes", "Bytes of entries read from the cache backend to answer a read.", ["cache", "table"]
)
FEED_APPENDS = Counter("cache_feed_appends", "Entries appended to the changed-rows feed.", ["group"])
FEED_APPEND_FAILURES = Counter(
    "cache_feed_append_failures", "Changed-rows entries that could not reach the feed (an 'everything' entry follows).",
    ["group"],
)
