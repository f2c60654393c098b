"""The API's one list of URLs: every viewset on one router (URL names `<basename>-list`,
`<basename>-detail`, `<basename>-<action>`)."""

from django.urls import path
from rest_framework import routers

from dashboard import api, stream
from dashboard.telemetry import TelemetryViewSet


class Router(routers.SimpleRouter):
    """DRF's SimpleRouter on path converters (`<int:pk>`, from `lookup_value_converter`), no API root
    view, and no trailing slash after an action whose url_path names a file (`trackers/export.csv`)."""

    def __init__(self) -> None:
        super().__init__(use_regex_path=False)

    def get_routes(self, viewset):
        return [
            route._replace(url=route.url.replace("{trailing_slash}", "")) if "." in route.url else route
            for route in super().get_routes(viewset)
        ]


app_name = "api"

router = Router()
router.register("auth/token", api.AuthTokenViewSet, basename="token")
router.register("reference", api.ReferenceViewSet, basename="reference")
for reference in api.REFERENCE_LISTS:
    router.register(reference.prefix, api.reference_list_viewset(reference), basename=reference.prefix)
router.register("me", api.MeViewSet, basename="me")
router.register("attention", api.AttentionViewSet, basename="attention")
router.register("trackers", api.TrackerViewSet, basename="trackers")
router.register("location-reports", api.LocationReportViewSet, basename="location-reports")
router.register("telemetry", TelemetryViewSet, basename="telemetry")

# The live stream is a plain async view (DRF views are sync), listed before the router's routes so
# that no tracker route can ever claim `trackers/stream/`.
urlpatterns = [path("trackers/stream/", stream.tracker_stream, name="trackers-stream"), *router.urls]
