DROP TRIGGER IF EXISTS cache_layer_notify_run ON trackers;
DROP TRIGGER IF EXISTS cache_layer_notify ON trackers;
DROP TRIGGER IF EXISTS cache_layer_notify ON images;
DROP TRIGGER IF EXISTS cache_layer_notify ON delivery_locations;
DROP TRIGGER IF EXISTS cache_layer_notify ON storage_locations;
DROP TRIGGER IF EXISTS cache_layer_notify ON production_runs;
DROP TRIGGER IF EXISTS cache_layer_notify ON brands;
DROP TRIGGER IF EXISTS cache_layer_notify ON clients;
DROP FUNCTION IF EXISTS cache_layer_notify();
