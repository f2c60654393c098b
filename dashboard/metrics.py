"""Prometheus metrics of the dashboard: the page's telemetry (POST /api/telemetry/) and the live stream."""

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
