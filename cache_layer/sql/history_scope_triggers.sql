-- cache_layer query cache: a statement on location_history names the production runs of the
-- trackers whose history it wrote (joined through trackers), so a report stored by raw SQL, psql
-- or another program refreshes exactly those runs' cached results. Only 'scope:' payloads: the
-- reference cache never hears of ingest. Payload: 'scope:production_run:<id>,<id>...' or
-- 'scope:production_run:*' (TRUNCATE, or too many runs for one notification).

CREATE OR REPLACE FUNCTION cache_layer_notify_history_runs() RETURNS trigger AS $$
DECLARE
    runs text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT string_agg(DISTINCT t.production_run_id::text, ',') INTO runs
        FROM trackers t WHERE t.id IN (SELECT tracker_id FROM cache_layer_new);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT string_agg(DISTINCT t.production_run_id::text, ',') INTO runs
        FROM trackers t WHERE t.id IN (SELECT tracker_id FROM cache_layer_old);
    ELSE
        SELECT string_agg(DISTINCT t.production_run_id::text, ',') INTO runs
        FROM trackers t WHERE t.id IN (
            SELECT tracker_id FROM cache_layer_old UNION SELECT tracker_id FROM cache_layer_new
        );
    END IF;
    IF runs IS NOT NULL THEN
        IF length(runs) > 7000 THEN
            runs := '*';
        END IF;
        PERFORM pg_notify('cache_layer', 'scope:production_run:' || runs);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Transition tables need one trigger per event; TRUNCATE reuses the all-runs function of 0002.
CREATE TRIGGER cache_layer_history_insert AFTER INSERT ON location_history
    REFERENCING NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_history_runs();
CREATE TRIGGER cache_layer_history_update AFTER UPDATE ON location_history
    REFERENCING OLD TABLE AS cache_layer_old NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_history_runs();
CREATE TRIGGER cache_layer_history_delete AFTER DELETE ON location_history
    REFERENCING OLD TABLE AS cache_layer_old
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_history_runs();
CREATE TRIGGER cache_layer_history_truncate AFTER TRUNCATE ON location_history
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_all_runs();
