DROP TRIGGER IF EXISTS dashboard_latest_location_delete ON location_history;
DROP TRIGGER IF EXISTS dashboard_latest_location_update ON location_history;
DROP TRIGGER IF EXISTS dashboard_latest_location_insert ON location_history;
DROP FUNCTION IF EXISTS dashboard_latest_location_delete();
DROP FUNCTION IF EXISTS dashboard_latest_location_update();
DROP FUNCTION IF EXISTS dashboard_latest_location_insert();
