"""Registers the six reference tables with cache_layer: loader, and the tables their counts depend on."""

import cache_layer
from dashboard.queries import REFERENCE_LOADERS

# table → {other table: columns whose change alters the cached rows (empty = any change)}
DEPENDENCIES: dict[str, dict[str, list[str]]] = {
    "clients": {},
    # production_run_count, and the logo's url
    "brands": {"production_runs": ["brand_id"], "images": []},
    # tracker_count (a tracker inserted, deleted or moved — never ingest's last_report_received),
    # and client_id through the brand
    "production_runs": {"trackers": ["production_run_id"], "brands": ["client_id"]},
    "storage_locations": {},
    "delivery_locations": {},
    "images": {},
}


def register_reference_tables() -> None:
    for name, loader in REFERENCE_LOADERS.items():
        cache_layer.register(name, loader, tables=[name], depends_on=DEPENDENCIES[name])
