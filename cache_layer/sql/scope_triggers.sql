-- cache_layer query cache: a statement on trackers names the production runs whose rows it
-- wrote (old and new values: a tracker moved between runs changes both), so the listener
-- bumps exactly those runs' generations. Payload: 'scope:production_run:<id>,<id>...' or
-- 'scope:production_run:*' (TRUNCATE, or too many runs for one notification).

CREATE OR REPLACE FUNCTION cache_layer_notify_tracker_runs() RETURNS trigger AS $$
DECLARE
    runs text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT string_agg(DISTINCT production_run_id::text, ',') INTO runs FROM cache_layer_new;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT string_agg(DISTINCT production_run_id::text, ',') INTO runs FROM cache_layer_old;
    ELSE
        SELECT string_agg(DISTINCT run::text, ',') INTO runs FROM (
            SELECT production_run_id AS run FROM cache_layer_old
            UNION SELECT production_run_id FROM cache_layer_new
        ) AS written;
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

CREATE OR REPLACE FUNCTION cache_layer_notify_all_runs() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('cache_layer', 'scope:production_run:*');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Transition tables need one trigger per event.
CREATE TRIGGER cache_layer_scope_insert AFTER INSERT ON trackers REFERENCING NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_runs();
CREATE TRIGGER cache_layer_scope_update AFTER UPDATE ON trackers
    REFERENCING OLD TABLE AS cache_layer_old NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_runs();
CREATE TRIGGER cache_layer_scope_delete AFTER DELETE ON trackers REFERENCING OLD TABLE AS cache_layer_old
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_runs();
CREATE TRIGGER cache_layer_scope_truncate AFTER TRUNCATE ON trackers
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_all_runs();

-- A run's own row (its brand) is part of every tracker item of it; run edits are rare: all runs.
CREATE TRIGGER cache_layer_scope_runs AFTER UPDATE OR DELETE OR TRUNCATE ON production_runs
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_all_runs();
