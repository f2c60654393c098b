"""cache_layer: a reusable reference-data and query-result cache (knows nothing of trackers)."""
