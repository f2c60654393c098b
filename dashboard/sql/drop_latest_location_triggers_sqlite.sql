DROP TRIGGER IF EXISTS dashboard_latest_location_update;
DROP TRIGGER IF EXISTS dashboard_latest_location_delete;
DROP TRIGGER IF EXISTS dashboard_latest_location_insert;
