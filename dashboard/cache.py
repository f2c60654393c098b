"""Registers with cache_layer the six reference tables (loader, and the tables their counts depend on),
the query cache's scope (production runs, moved by writes to their trackers and location history)
and the changed-rows feed of trackers that the live stream reads (`dashboard.live`)."""

import cache_layer
from dashboard.models import Tracker
from dashboard.queries import REFERENCE_LOADERS

RUN_SCOPE = "production_run"
TRACKER_ROWS = "tracker"

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


def runs_of_trackers(tracker_ids: set) -> set:
    return set(Tracker.objects.filter(pk__in=tracker_ids).values_list("production_run_id", flat=True).distinct())


def trackers_of_runs(run_ids: set) -> set:
    return set(Tracker.objects.filter(production_run_id__in=run_ids).values_list("id", flat=True))


def trackers_of_brands(brand_ids: set) -> set:
    return set(Tracker.objects.filter(production_run__brand_id__in=brand_ids).values_list("id", flat=True))


def register_reference_tables() -> None:
    for name, loader in REFERENCE_LOADERS.items():
        cache_layer.register(name, loader, tables=[name], depends_on=DEPENDENCIES[name])
    cache_layer.register_scope(RUN_SCOPE, table="trackers", column="production_run_id")
    cache_layer.register_scope(RUN_SCOPE, table="production_runs", column="id")  # a run moved to another brand
    cache_layer.register_scope(RUN_SCOPE, table="location_history", column="tracker_id", resolve=runs_of_trackers)
    # What a tracker item shows or where it is in scope: the tracker row, its history (latest
    # location), its run's brand and its brand's client. (The triggers of cache_layer 0004 say the same
    # for raw SQL on PostgreSQL.)
    cache_layer.register_rows(TRACKER_ROWS, table="trackers", column="id")
    cache_layer.register_rows(TRACKER_ROWS, table="location_history", column="tracker_id")
    cache_layer.register_rows(
        TRACKER_ROWS, table="production_runs", column="id", columns=["brand_id"], resolve=trackers_of_runs
    )
    cache_layer.register_rows(
        TRACKER_ROWS, table="brands", column="id", columns=["client_id"], resolve=trackers_of_brands
    )
