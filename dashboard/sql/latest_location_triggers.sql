-- tracker_latest_locations (PostgreSQL): kept exact by statement triggers on location_history, in
-- the writer's own transaction, whatever wrote: ingest, the ORM, the admin, bulk paths, psql.
-- One statement-level trigger per event with transition tables: a batch of 1,000 reports is one
-- upsert of at most 1,000 rows, not 1,000 trigger calls.
--
-- Idempotent (CREATE OR REPLACE): migration 0004 installs it, and a migration that rebuilds
-- location_history (e.g. as a partitioned table) runs this file again on the new table.
-- Transition tables on a partitioned table are allowed on the root, which is where these go.
-- TRUNCATE (and dropping partitions) deliberately has no trigger: retention never removes a
-- tracker's last known location.

-- INSERT (ingest, bulk_create, save, COPY): move each tracker's row forward to the newest report of
-- the statement, never backwards (an older report leaves it alone). Ties: the highest id wins.
-- Rows are upserted in tracker order, so concurrent batches lock them in one order (no deadlock).
CREATE OR REPLACE FUNCTION dashboard_latest_location_insert() RETURNS trigger AS $$
BEGIN
    INSERT INTO tracker_latest_locations AS l
        (tracker_id, history_id, "timestamp", latitude, longitude, nearest_city, confidence)
    SELECT DISTINCT ON (n.tracker_id)
        n.tracker_id, n.id, n."timestamp", n.latitude, n.longitude, n.nearest_city, n.confidence
    FROM dashboard_new_history n
    ORDER BY n.tracker_id, n."timestamp" DESC, n.id DESC
    ON CONFLICT (tracker_id) DO UPDATE SET
        history_id = excluded.history_id, "timestamp" = excluded."timestamp", latitude = excluded.latitude,
        longitude = excluded.longitude, nearest_city = excluded.nearest_city, confidence = excluded.confidence
    WHERE (excluded."timestamp", excluded.history_id) > (l."timestamp", l.history_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- DELETE: a tracker whose copied row went falls back to its newest row left (one index probe per
-- such tracker, not per deleted row), or loses its latest row when none is left.
CREATE OR REPLACE FUNCTION dashboard_latest_location_delete() RETURNS trigger AS $$
BEGIN
    WITH gone AS MATERIALIZED (
        SELECT l.tracker_id
        FROM tracker_latest_locations l
        JOIN dashboard_old_history o ON o.tracker_id = l.tracker_id AND o.id = l.history_id
    )
    UPDATE tracker_latest_locations AS l SET
        history_id = h.id, "timestamp" = h."timestamp", latitude = h.latitude, longitude = h.longitude,
        nearest_city = h.nearest_city, confidence = h.confidence
    FROM gone g
    CROSS JOIN LATERAL (
        SELECT * FROM location_history h WHERE h.tracker_id = g.tracker_id
        ORDER BY h."timestamp" DESC, h.id DESC LIMIT 1
    ) h
    WHERE l.tracker_id = g.tracker_id;
    -- Still pointing at a deleted row: nothing left to fall back to.
    DELETE FROM tracker_latest_locations AS l
    USING dashboard_old_history o
    WHERE o.tracker_id = l.tracker_id AND o.id = l.history_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- UPDATE (an edit, rare): an edited row can make any of its trackers' rows the newest, or stop
-- being it, or move to another tracker: recompute those trackers from the history.
CREATE OR REPLACE FUNCTION dashboard_latest_location_update() RETURNS trigger AS $$
BEGIN
    WITH touched AS MATERIALIZED (
        SELECT tracker_id FROM dashboard_old_history
        UNION
        SELECT tracker_id FROM dashboard_new_history
    )
    INSERT INTO tracker_latest_locations AS l
        (tracker_id, history_id, "timestamp", latitude, longitude, nearest_city, confidence)
    SELECT h.tracker_id, h.id, h."timestamp", h.latitude, h.longitude, h.nearest_city, h.confidence
    FROM touched t
    CROSS JOIN LATERAL (
        SELECT * FROM location_history h WHERE h.tracker_id = t.tracker_id
        ORDER BY h."timestamp" DESC, h.id DESC LIMIT 1
    ) h
    ON CONFLICT (tracker_id) DO UPDATE SET
        history_id = excluded.history_id, "timestamp" = excluded."timestamp", latitude = excluded.latitude,
        longitude = excluded.longitude, nearest_city = excluded.nearest_city, confidence = excluded.confidence;
    -- A tracker whose every row moved to another tracker has none left.
    DELETE FROM tracker_latest_locations AS l
    WHERE l.tracker_id IN (SELECT tracker_id FROM dashboard_old_history)
      AND NOT EXISTS (SELECT 1 FROM location_history h WHERE h.tracker_id = l.tracker_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER dashboard_latest_location_insert AFTER INSERT ON location_history
    REFERENCING NEW TABLE AS dashboard_new_history
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_latest_location_insert();
CREATE OR REPLACE TRIGGER dashboard_latest_location_update AFTER UPDATE ON location_history
    REFERENCING OLD TABLE AS dashboard_old_history NEW TABLE AS dashboard_new_history
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_latest_location_update();
CREATE OR REPLACE TRIGGER dashboard_latest_location_delete AFTER DELETE ON location_history
    REFERENCING OLD TABLE AS dashboard_old_history
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_latest_location_delete();
