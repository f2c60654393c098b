"""Prometheus metrics fed by the dashboard page's telemetry (POST /api/telemetry/)."""

from prometheus_client import Counter, Histogram

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
