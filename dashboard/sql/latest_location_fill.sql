-- Fill tracker_latest_locations from the existing history (PostgreSQL and SQLite): one probe of
-- location_history_latest_idx (tracker, timestamp DESC) per tracker, never a scan or sort of the
-- whole history. Run after the triggers are installed: CREATE TRIGGER locks location_history
-- against writers until the migration commits, so no report can slip between the two.
INSERT INTO tracker_latest_locations (tracker_id, history_id, "timestamp", latitude, longitude, nearest_city, confidence)
SELECT h.tracker_id, h.id, h."timestamp", h.latitude, h.longitude, h.nearest_city, h.confidence
FROM trackers t
JOIN location_history h ON h.id = (
    SELECT newest.id FROM location_history newest
    WHERE newest.tracker_id = t.id
    ORDER BY newest."timestamp" DESC, newest.id DESC
    LIMIT 1
);
