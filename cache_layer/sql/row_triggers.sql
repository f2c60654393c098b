-- cache_layer changed-rows feed: a statement on trackers or location_history names the trackers it
-- wrote, so a write from raw SQL, psql or another program reaches the live readers through the
-- listener (which appends it to the feed). Payload: 'rows:tracker:<id>,<id>...' or 'rows:tracker:*'
-- (TRUNCATE, a run or brand moved, or too many ids for one notification: the readers resync).
-- PostgreSQL folds equal payloads of one transaction: ingest's history insert and tracker update
-- of the same trackers notify once.

CREATE OR REPLACE FUNCTION cache_layer_notify_tracker_rows() RETURNS trigger AS $$
DECLARE
    ids text;
BEGIN
    IF TG_TABLE_NAME = 'trackers' THEN
        IF TG_OP = 'INSERT' THEN
            SELECT string_agg(DISTINCT id::text, ',' ORDER BY id::text) INTO ids FROM cache_layer_new;
        ELSIF TG_OP = 'DELETE' THEN
            SELECT string_agg(DISTINCT id::text, ',' ORDER BY id::text) INTO ids FROM cache_layer_old;
        ELSE
            SELECT string_agg(DISTINCT id::text, ',' ORDER BY id::text) INTO ids FROM cache_layer_new;
        END IF;
    ELSE
        IF TG_OP = 'INSERT' THEN
            SELECT string_agg(DISTINCT tracker_id::text, ',' ORDER BY tracker_id::text) INTO ids FROM cache_layer_new;
        ELSIF TG_OP = 'DELETE' THEN
            SELECT string_agg(DISTINCT tracker_id::text, ',' ORDER BY tracker_id::text) INTO ids FROM cache_layer_old;
        ELSE
            SELECT string_agg(DISTINCT t::text, ',' ORDER BY t::text) INTO ids FROM (
                SELECT tracker_id AS t FROM cache_layer_old UNION SELECT tracker_id FROM cache_layer_new
            ) AS written;
        END IF;
    END IF;
    IF ids IS NOT NULL THEN
        IF length(ids) > 7000 THEN
            ids := '*';
        END IF;
        PERFORM pg_notify('cache_layer', 'rows:tracker:' || ids);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION cache_layer_notify_all_tracker_rows() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('cache_layer', 'rows:tracker:*');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Transition tables need one trigger per event.
CREATE TRIGGER cache_layer_rows_insert AFTER INSERT ON trackers REFERENCING NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_rows();
CREATE TRIGGER cache_layer_rows_update AFTER UPDATE ON trackers
    REFERENCING OLD TABLE AS cache_layer_old NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_rows();
CREATE TRIGGER cache_layer_rows_delete AFTER DELETE ON trackers REFERENCING OLD TABLE AS cache_layer_old
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_rows();
CREATE TRIGGER cache_layer_rows_truncate AFTER TRUNCATE ON trackers
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_all_tracker_rows();

CREATE TRIGGER cache_layer_rows_history_insert AFTER INSERT ON location_history
    REFERENCING NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_rows();
CREATE TRIGGER cache_layer_rows_history_update AFTER UPDATE ON location_history
    REFERENCING OLD TABLE AS cache_layer_old NEW TABLE AS cache_layer_new
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_rows();
CREATE TRIGGER cache_layer_rows_history_delete AFTER DELETE ON location_history
    REFERENCING OLD TABLE AS cache_layer_old
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_tracker_rows();
CREATE TRIGGER cache_layer_rows_history_truncate AFTER TRUNCATE ON location_history
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_all_tracker_rows();

-- A run moved to another brand, or a brand to another client, changes the items (brand_id) or the
-- scope of all their trackers: rare, so every reader resyncs.
CREATE TRIGGER cache_layer_rows_runs AFTER UPDATE OF brand_id OR DELETE ON production_runs
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_all_tracker_rows();
CREATE TRIGGER cache_layer_rows_brands AFTER UPDATE OF client_id OR DELETE ON brands
    FOR EACH STATEMENT EXECUTE FUNCTION cache_layer_notify_all_tracker_rows();
