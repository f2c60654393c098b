-- tracker_latest_locations (SQLite): the same rules as latest_location_triggers.sql with row
-- triggers (SQLite has no statement triggers). They run inside the writing statement, so every
-- write path (ORM, bulk paths, the admin, ingest, the sqlite3 shell) keeps the table exact.

-- INSERT: move forward to the newer report, never backwards; ties: the highest id wins.
CREATE TRIGGER IF NOT EXISTS dashboard_latest_location_insert AFTER INSERT ON location_history
BEGIN
    INSERT INTO tracker_latest_locations
        (tracker_id, history_id, "timestamp", latitude, longitude, nearest_city, confidence)
    VALUES (NEW.tracker_id, NEW.id, NEW."timestamp", NEW.latitude, NEW.longitude, NEW.nearest_city, NEW.confidence)
    ON CONFLICT (tracker_id) DO UPDATE SET
        history_id = excluded.history_id, "timestamp" = excluded."timestamp", latitude = excluded.latitude,
        longitude = excluded.longitude, nearest_city = excluded.nearest_city, confidence = excluded.confidence
    WHERE (excluded."timestamp", excluded.history_id)
        > (tracker_latest_locations."timestamp", tracker_latest_locations.history_id);
END;

-- DELETE of the copied row: fall back to the newest row left (none left: no latest row).
CREATE TRIGGER IF NOT EXISTS dashboard_latest_location_delete AFTER DELETE ON location_history
WHEN EXISTS (SELECT 1 FROM tracker_latest_locations WHERE tracker_id = OLD.tracker_id AND history_id = OLD.id)
BEGIN
    DELETE FROM tracker_latest_locations WHERE tracker_id = OLD.tracker_id;
    INSERT INTO tracker_latest_locations
        (tracker_id, history_id, "timestamp", latitude, longitude, nearest_city, confidence)
    SELECT tracker_id, id, "timestamp", latitude, longitude, nearest_city, confidence
    FROM location_history WHERE tracker_id = OLD.tracker_id
    ORDER BY "timestamp" DESC, id DESC LIMIT 1;
END;

-- UPDATE (an edit): recompute the old and the new tracker of the row from the history.
CREATE TRIGGER IF NOT EXISTS dashboard_latest_location_update AFTER UPDATE ON location_history
BEGIN
    DELETE FROM tracker_latest_locations WHERE tracker_id IN (OLD.tracker_id, NEW.tracker_id);
    INSERT INTO tracker_latest_locations
        (tracker_id, history_id, "timestamp", latitude, longitude, nearest_city, confidence)
    SELECT h.tracker_id, h.id, h."timestamp", h.latitude, h.longitude, h.nearest_city, h.confidence
    FROM location_history h
    WHERE h.id IN (
        SELECT (
            SELECT newest.id FROM location_history newest WHERE newest.tracker_id = t.tracker_id
            ORDER BY newest."timestamp" DESC, newest.id DESC LIMIT 1
        )
        FROM (SELECT OLD.tracker_id AS tracker_id UNION SELECT NEW.tracker_id) t
    );
END;
