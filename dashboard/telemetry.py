"""POST /api/telemetry/: the dashboard page's timings and events, validated and counted.

The page sends a batch of events with `navigator.sendBeacon`, which can't set headers, so
there is no CSRF header. The endpoint still needs the user's session, and the session
cookie is `SameSite=Lax`: another site's page can't make a browser send it on a POST.
It only accepts `application/json`, which a cross-site form can't send either, and all
it can do is increment counters.
"""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import metrics

MAX_EVENTS_PER_BEACON = 50
MAX_SECONDS = 3600.0  # a timing longer than an hour is a broken clock, not a slow page

# Timings carry the seconds they measured; the other events are counted once each.
TIMINGS = {
    "dashboard_load": metrics.DASHBOARD_LOAD_SECONDS,  # navigation start → filters interactive
    "filter_to_data": metrics.FILTER_TO_DATA_SECONDS,  # filter applied → its first data shown
}
COUNTS = {
    "filter_applied": metrics.FILTER_APPLICATIONS,
    "lazy_load": metrics.LAZY_LOAD_TRIGGERS,
    "empty_state": metrics.EMPTY_STATE_VIEWS,
}


class TelemetryEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=sorted([*TIMINGS, *COUNTS]))
    seconds = serializers.FloatField(required=False, min_value=0.0, max_value=MAX_SECONDS)

    def validate(self, attrs: dict) -> dict:
        if attrs["type"] in TIMINGS and "seconds" not in attrs:
            raise serializers.ValidationError({"seconds": [f"A {attrs['type']} event needs its seconds."]})
        if attrs["type"] in COUNTS and "seconds" in attrs:
            raise serializers.ValidationError({"seconds": [f"A {attrs['type']} event carries no seconds."]})
        return attrs


class TelemetryBeaconSerializer(serializers.Serializer):
    events = TelemetryEventSerializer(many=True, allow_empty=False, max_length=MAX_EVENTS_PER_BEACON)


class BeaconSessionAuthentication(SessionAuthentication):
    """The session, without DRF's CSRF check (the module docstring says why that is safe here).

    DRF's `as_view()` (a viewset's too) already exempts the view from Django's CSRF middleware.
    """

    def enforce_csrf(self, request) -> None:
        return None


class BeaconSessionScheme(SessionScheme):
    """The schema documents it as the session cookie it is (its own name: a class, a component)."""

    target_class = "dashboard.telemetry.BeaconSessionAuthentication"
    name = "beaconCookieAuth"


def record_telemetry(*, events: list[dict]) -> None:
    for event in events:
        if event["type"] in TIMINGS:
            TIMINGS[event["type"]].observe(event["seconds"])
        else:
            COUNTS[event["type"]].inc()


@extend_schema_view(
    create=extend_schema(
        request=TelemetryBeaconSerializer,
        responses={204: None},
        summary="The dashboard page's timings and events (navigator.sendBeacon); counted in /metrics",
    ),
)
class TelemetryViewSet(viewsets.ViewSet):
    # POST /api/telemetry/, registered on the API's router (dashboard/api_urls.py).

    authentication_classes = [BeaconSessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    def create(self, request: Request) -> Response:
        beacon = TelemetryBeaconSerializer(data=request.data)
        beacon.is_valid(raise_exception=True)
        record_telemetry(events=beacon.validated_data["events"])
        return Response(status=status.HTTP_204_NO_CONTENT)
