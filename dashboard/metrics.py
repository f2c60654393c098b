"""Prometheus metrics of the dashboard: the page's telemetry (POST /api/telemetry/), the live stream
and `manage.py maintain_history`."""

import math
import os

from prometheus_client import Counter, Gauge, Histogram

LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)

DASHBOARD_LOAD_SECONDS = Histogram(
    "dashboard_load_seconds", "Navigation start to interactive filters, from the page.", buckets=LOAD_BUCKETS
)
FILTER_TO_DATA_SECONDS = Histogram(
    "dashboard_filter_to_data_seconds", "Filter applied to data shown, from the page.", buckets=LOAD_BUCKETS
)
FILTER_APPLICATIONS = Counter("filter_applications", "Filters applied on the dashboard.")
LAZY_LOAD_TRIGGERS = Counter("lazy_load_triggers", "Lazy loads triggered by a filter.")
EMPTY_STATE_VIEWS = Counter("empty_state_views", "Times the lazy-mode empty state was shown.")


# --- maintain_history ----------------------------------------------------------------------
# The command runs from cron/a timer and exits: in multi-process mode its samples must outlive it
# in PROMETHEUS_MULTIPROC_DIR, in files of a fixed name (one per run would pile up, one an hour),
# which the web processes' /metrics reads and gunicorn.conf.py keeps. Gauges take the newest
# value ("mostrecent"); counters add up over runs because the file keeps their total.

HISTORY_METRICS_PROCESS = "maintainhistory"


class HistoryMetrics:
    def __init__(self):
        from prometheus_client import values

        saved = values.ValueClass
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            values.ValueClass = values.MultiProcessValue(lambda: HISTORY_METRICS_PROCESS)
        try:  # registry=None: values live in the files (or in this object), not in this process's registry
            self.partitions = Gauge(
                "location_history_partitions",
                "Monthly partitions of location_history after the last maintain_history run.",
                multiprocess_mode="mostrecent",
                registry=None,
            )
            self.oldest = Gauge(
                "location_history_oldest_timestamp_seconds",
                "Unix time of the oldest location report kept (NaN: no history).",
                multiprocess_mode="mostrecent",
                registry=None,
            )
            self.last_run = Gauge(
                "location_history_maintained_timestamp_seconds",
                "Unix time of the last maintain_history run that finished.",
                multiprocess_mode="mostrecent",
                registry=None,
            )
            self.created = Counter(
                "location_history_partitions_created", "Partitions created by maintain_history.", registry=None
            )
            self.dropped = Counter(
                "location_history_partitions_dropped", "Partitions dropped by maintain_history.", registry=None
            )
            self.deleted = Counter(
                "location_history_rows_deleted",
                "Rows deleted by maintain_history (SQLite, or strays of PostgreSQL's default partition).",
                registry=None,
            )
        finally:
            values.ValueClass = saved

    def record(self, result, *, now: float) -> None:
        self.partitions.set(result.partitions)
        self.oldest.set(result.oldest.timestamp() if result.oldest else math.nan)
        self.last_run.set(now)
        self.created.inc(len(result.created))
        self.dropped.inc(len(result.dropped))
        self.deleted.inc(result.deleted)

# Live stream (dashboard.live). Under gunicorn each worker counts its own; /metrics adds them up.
LIVE_STREAMS = Gauge("live_streams_open", "Open live streams (GET /api/trackers/stream/).", multiprocess_mode="livesum")
LIVE_EVENTS = Counter("live_events_sent", "Events sent to live streams, by kind.", ["event"])
LIVE_RESYNCS = Counter(
    "live_resyncs", "Resync events: a stream that could not keep up (overflow), a cursor outside the replay "
    "window (replay), a gap in the feed (restart) or a bulk change (everything).", ["reason"]
)
LIVE_FANOUT_LAG = Histogram(
    "live_fanout_lag_seconds",
    "Commit (append to the changed-rows feed) to the event handed to the client's connection.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
