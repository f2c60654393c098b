-- cache_layer: statement-level triggers that tell the listener (LISTEN cache_layer) which table changed.
-- One notification per statement (not per row), payload = the table's name; PostgreSQL folds
-- duplicates within one transaction and delivers them at commit.

CREATE OR REPLACE FUNCTION cache_layer_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('cache_layer', TG_TABLE_NAME);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- The six reference tables: any change.
CREATE TRIGGER cache_layer_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();
CREATE TRIGGER cache_layer_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON brands
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();
CREATE TRIGGER cache_layer_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON production_runs
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();
CREATE TRIGGER cache_layer_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON storage_locations
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();
CREATE TRIGGER cache_layer_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON delivery_locations
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();
CREATE TRIGGER cache_layer_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON images
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();

-- trackers is a dependency of production_runs (tracker_count): only rows appearing, vanishing
-- or moving to another run matter, never the ingest stream's last_report_received updates.
CREATE TRIGGER cache_layer_notify AFTER INSERT OR DELETE OR TRUNCATE ON trackers
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();
CREATE TRIGGER cache_layer_notify_run AFTER UPDATE OF production_run_id ON trackers
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify();
