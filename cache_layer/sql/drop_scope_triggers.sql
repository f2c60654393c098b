DROP TRIGGER IF EXISTS cache_layer_scope_runs ON production_runs;
DROP TRIGGER IF EXISTS cache_layer_scope_truncate ON trackers;
DROP TRIGGER IF EXISTS cache_layer_scope_delete ON trackers;
DROP TRIGGER IF EXISTS cache_layer_scope_update ON trackers;
DROP TRIGGER IF EXISTS cache_layer_scope_insert ON trackers;
DROP FUNCTION IF EXISTS cache_layer_notify_all_runs();
DROP FUNCTION IF EXISTS cache_layer_notify_tracker_runs();
