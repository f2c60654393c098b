"""The two reference points every bench figure is a ratio to.

- the **baseline**: the original design, a DRF `ModelSerializer` whose latest location is a
  `SerializerMethodField` running one query per tracker (N+1). It exists only here, to be
  measured; nothing else in the project may serve data this way.
- the **floor**: the same tracker list as one SQL statement read through a cursor, the
  least any Django view could cost.
"""

from __future__ import annotations

import types

from django.conf import settings
from django.db import connection
from django.urls import include, path
from rest_framework import generics, permissions, serializers

from dashboard.models import Tracker

# --- The baseline: the original N+1 design (measured here, served nowhere) ------------------


class BaselineTrackerSerializer(serializers.ModelSerializer):
    """THE BASELINE. The original page's serializer: one latest-location query per tracker."""

    brand_id = serializers.IntegerField(source="production_run.brand_id")
    latest_location = serializers.SerializerMethodField()

    class Meta:
        model = Tracker
        fields = [
            "id",
            "serial",
            "name",
            "production_run_id",
            "brand_id",
            "current_status",
            "last_report_received",
            "battery_level",
            "latest_location",
        ]

    def get_latest_location(self, tracker: Tracker) -> dict | None:
        # The N+1 being measured: a query per tracker (the composite index makes each cheap).
        latest = tracker.locations.order_by("-timestamp", "-id").first()
        if latest is None:
            return None
        return {
            "timestamp": latest.timestamp,
            "latitude": latest.latitude,
            "longitude": latest.longitude,
            "nearest_city": latest.nearest_city,
            "confidence": latest.confidence,
        }


class BaselineTrackerList(generics.ListAPIView):
    """THE BASELINE view: every tracker in the user's scope, unpaginated, as the original page read them."""

    serializer_class = BaselineTrackerSerializer
    permission_classes = [permissions.IsAuthenticated]
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        trackers = Tracker.objects.select_related("production_run").order_by("-last_report_received", "id")
        user = self.request.user
        if user.is_staff:
            return trackers
        return trackers.filter(production_run__brand__client_id=getattr(user.profile, "client_id", None))


BASELINE_PATH = "/bench/baseline/trackers/"
# The project's URLs plus the baseline, only while the bench runs.
# (A module object: URL resolvers are cached by urlconf, which must be hashable.)
BENCH_URLCONF = types.ModuleType("bench.baseline.urls")
BENCH_URLCONF.urlpatterns = [
    path(BASELINE_PATH.strip("/") + "/", BaselineTrackerList.as_view()),
    path("", include(settings.ROOT_URLCONF)),
]


# --- The floor: one SQL statement through a cursor ------------------------------------------

_FLOOR_COLUMNS = (
    "t.id, t.serial, t.name, t.production_run_id, pr.brand_id, t.current_status, t.last_report_received, "
    "t.battery_level, l.timestamp, l.latitude, l.longitude, l.nearest_city, l.confidence"
)
FLOOR_SQL = {
    "postgresql": f"""
        SELECT {_FLOOR_COLUMNS}
        FROM trackers t
        JOIN production_runs pr ON pr.id = t.production_run_id
        LEFT JOIN LATERAL (
            SELECT h.timestamp, h.latitude, h.longitude, h.nearest_city, h.confidence
            FROM location_history h WHERE h.tracker_id = t.id
            ORDER BY h.timestamp DESC, h.id DESC LIMIT 1
        ) l ON true
        ORDER BY t.last_report_received DESC NULLS LAST, t.id""",
    "sqlite": f"""
        SELECT {_FLOOR_COLUMNS}
        FROM trackers t
        JOIN production_runs pr ON pr.id = t.production_run_id
        LEFT JOIN location_history l ON l.id = (
            SELECT h.id FROM location_history h WHERE h.tracker_id = t.id
            ORDER BY h.timestamp DESC, h.id DESC LIMIT 1
        )
        ORDER BY t.last_report_received IS NULL, t.last_report_received DESC, t.id""",
}


def read_floor() -> int:
    """Every tracker with its latest location, as one statement; returns the row count."""
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL[connection.vendor])
        return len(cursor.fetchall())


def floor_once() -> tuple[int, None]:
    read_floor()
    return 200, None  # no HTTP: a status for the harness, no response bytes
