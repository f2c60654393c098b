DROP TRIGGER IF EXISTS cache_layer_history_truncate ON location_history;
DROP TRIGGER IF EXISTS cache_layer_history_delete ON location_history;
DROP TRIGGER IF EXISTS cache_layer_history_update ON location_history;
DROP TRIGGER IF EXISTS cache_layer_history_insert ON location_history;
DROP FUNCTION IF EXISTS cache_layer_notify_history_runs();
