"""The REST API: thin DRF views. Reads go through `dashboard.queries`, writes through
`dashboard.services`; DRF does authentication, permissions, validation and the schema.

The tracker list, detail, history and export build their rows from `.values()` and encode
them with orjson (DRF serializers would cost ~80 ms per 1,500 trackers).
"""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard import queries, services
from dashboard.csv_export import CSVContentNegotiation, csv_lines
from dashboard.filters import (
    DEFAULT_ORDERING,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_SEARCH_LENGTH,
    ORDERING_CHOICES,
    TrackerFilterSet,
    TrackerHistoryFilterSet,
    form_errors,
)
from dashboard.models import TrackerStatus
from dashboard.scope import scope_for
from dashboard.serializers import (
    BrandSerializer,
    ClientSerializer,
    DeliveryLocationSerializer,
    HistoryPageSerializer,
    ImageSerializer,
    IngestResultSerializer,
    LocationReportSerializer,
    PreferencesSerializer,
    ProductionRunQuerySerializer,
    ProductionRunSerializer,
    ReferenceSerializer,
    ScopeSummarySerializer,
    StorageLocationSerializer,
    TrackerPageSerializer,
    TrackerSerializer,
    validated_location_reports,
)

JSON = "application/json"


def _json(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type=JSON)


# --- Permissions -------------------------------------------------------------------------


class CanIngestLocationReports(permissions.BasePermission):
    """Staff, or a user (usually a token's) holding `dashboard.ingest_location_reports`."""

    message = "Ingest needs staff or the dashboard.ingest_location_reports permission."

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and (user.is_staff or user.has_perm("dashboard.ingest_location_reports"))
        )


# --- Reference data ----------------------------------------------------------------------


class ReferenceView(APIView):
    @extend_schema(responses=ReferenceSerializer, summary="All six reference lists and the status choices")
    def get(self, request: Request) -> Response:
        return Response(queries.reference_payload(request.user))


class ReferenceListView(APIView):
    """One scoped reference list; subclasses name the table."""

    table = ""

    def rows(self, request: Request) -> list[dict]:
        return queries.scoped_reference(scope_for(request.user), self.table)

    def get(self, request: Request) -> Response:
        return Response(self.rows(request))


class ClientListView(ReferenceListView):
    table = "clients"

    @extend_schema(responses=ClientSerializer(many=True), summary="Scoped clients")
    def get(self, request: Request) -> Response:
        return super().get(request)


class BrandListView(ReferenceListView):
    table = "brands"

    @extend_schema(responses=BrandSerializer(many=True), summary="Scoped brands")
    def get(self, request: Request) -> Response:
        return super().get(request)


class StorageLocationListView(ReferenceListView):
    table = "storage_locations"

    @extend_schema(responses=StorageLocationSerializer(many=True), summary="Scoped storage locations")
    def get(self, request: Request) -> Response:
        return super().get(request)


class DeliveryLocationListView(ReferenceListView):
    table = "delivery_locations"

    @extend_schema(responses=DeliveryLocationSerializer(many=True), summary="Scoped delivery locations")
    def get(self, request: Request) -> Response:
        return super().get(request)


class ImageListView(ReferenceListView):
    table = "images"

    @extend_schema(responses=ImageSerializer(many=True), summary="Scoped images, with the shared ones")
    def get(self, request: Request) -> Response:
        return super().get(request)


class ProductionRunListView(ReferenceListView):
    table = "production_runs"

    @extend_schema(
        parameters=[ProductionRunQuerySerializer],
        responses=ProductionRunSerializer(many=True),
        summary="Scoped production runs, optionally of one brand",
    )
    def get(self, request: Request) -> Response:
        params = ProductionRunQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = self.rows(request)
        brand_id = params.validated_data.get("brand_id")
        if brand_id is not None:
            rows = [row for row in rows if row["brand_id"] == brand_id]
        return Response(rows)


# --- The user's scope and preferences ----------------------------------------------------


class ScopeView(APIView):
    @extend_schema(responses=ScopeSummarySerializer, summary="The user's data scope and whether lazy mode is on")
    def get(self, request: Request) -> Response:
        return Response(queries.scope_summary(request.user))


class PreferencesView(APIView):
    @extend_schema(
        request=PreferencesSerializer,
        responses=ScopeSummarySerializer,
        summary="Set prefers_full_load; answers the new scope summary",
    )
    def patch(self, request: Request) -> Response:
        serializer = PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_preferences_update(user=request.user, **serializer.validated_data)
        return Response(queries.scope_summary(request.user))


# --- Trackers ----------------------------------------------------------------------------

_ID_LIST_HELP = "Repeat the parameter (`{0}=1&{0}=2`) or separate with commas (`{0}=1,2`). Positive 64-bit integers."
TRACKER_FILTER_PARAMETERS = [
    OpenApiParameter(
        "brand_ids",
        {"type": "array", "items": {"type": "integer", "minimum": 1}},
        description=_ID_LIST_HELP.format("brand_ids"),
        explode=True,
    ),
    OpenApiParameter(
        "production_run_ids",
        {"type": "array", "items": {"type": "integer", "minimum": 1}},
        description=_ID_LIST_HELP.format("production_run_ids"),
        explode=True,
    ),
    OpenApiParameter(
        "status",
        {"type": "array", "items": {"type": "string", "enum": TrackerStatus.values}},
        description="One or more statuses, repeated or comma-separated.",
        explode=True,
    ),
    OpenApiParameter(
        "search",
        {"type": "string", "maxLength": MAX_SEARCH_LENGTH},
        description="Case-insensitive substring of the serial, the name or the latest location's nearest city.",
    ),
    OpenApiParameter(
        "ordering",
        {"type": "string", "enum": [value for value, _ in ORDERING_CHOICES], "default": DEFAULT_ORDERING},
        description="Sort field, `-` for descending. Never-reported trackers sort last.",
    ),
]
TRACKER_LIST_PARAMETERS = [
    *TRACKER_FILTER_PARAMETERS,
    OpenApiParameter(
        "include_latest_location",
        {"type": "boolean", "default": True},
        description="false: skip the latest-location lookup (items then carry no `latest_location`).",
    ),
    OpenApiParameter(
        "lazy_load",
        {"type": "boolean", "default": False},
        description="true and no filter (brand_ids, production_run_ids, status, non-empty search): the empty page.",
    ),
    OpenApiParameter("page", {"type": "integer", "minimum": 1, "default": 1}, description="1-based page number."),
    OpenApiParameter(
        "size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
        description="Trackers per page.",
    ),
]


def tracker_filters(request: Request) -> queries.TrackerFilters:
    """The request's validated, normalised tracker filters; a 400 naming each bad parameter."""
    form = TrackerFilterSet.bound_form(request.query_params)
    if not form.is_valid():
        raise ValidationError(form_errors(form))
    return queries.normalise_tracker_filters(form.cleaned_data)


class TrackerListView(APIView):
    @extend_schema(
        parameters=TRACKER_LIST_PARAMETERS,
        responses=TrackerPageSerializer,
        operation_id="trackers_list",
        summary="Filtered, paginated trackers with their latest location",
    )
    def get(self, request: Request) -> HttpResponse:
        filters = tracker_filters(request)
        return _json(queries.tracker_page(scope_for(request.user), filters))


class TrackerDetailView(APIView):
    @extend_schema(responses={200: TrackerSerializer, 404: OpenApiResponse(description="Not in your scope.")})
    def get(self, request: Request, pk: int) -> HttpResponse:
        body = queries.tracker_detail(scope_for(request.user), pk)
        if body is None:
            raise NotFound()
        return _json(body)


class TrackerHistoryView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Reports at or after this instant."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Reports at or before this instant."),
            OpenApiParameter("page", {"type": "integer", "minimum": 1, "default": 1}),
            OpenApiParameter(
                "size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}
            ),
        ],
        responses={200: HistoryPageSerializer, 404: OpenApiResponse(description="Not in your scope.")},
        summary="A tracker's location history, newest first",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        form = TrackerHistoryFilterSet.bound_form(request.query_params)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        params = form.cleaned_data
        body = queries.tracker_history_page(
            scope_for(request.user),
            pk,
            since=params.get("since"),
            until=params.get("until"),
            page=params.get("page") or 1,
            size=params.get("size") or DEFAULT_PAGE_SIZE,
        )
        if body is None:
            raise NotFound()
        return _json(body)


class TrackerExportView(APIView):
    content_negotiation_class = CSVContentNegotiation

    @extend_schema(
        parameters=TRACKER_FILTER_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="Every matching tracker with its latest location, as streamed CSV",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters = tracker_filters(request)
        rows = queries.tracker_export_rows(scope_for(request.user), filters)
        response = StreamingHttpResponse(
            csv_lines(queries.EXPORT_COLUMNS, rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="trackers.csv"'
        return response


# --- Ingest ------------------------------------------------------------------------------


class LocationReportsView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanIngestLocationReports]

    @extend_schema(
        request=LocationReportSerializer(many=True),
        responses={
            200: IngestResultSerializer,
            400: OpenApiResponse(description='Bad rows by index: `{"3": {"latitude": ["..."]}}`; nothing stored.'),
        },
        examples=[
            OpenApiExample(
                "Two reports",
                value=[
                    {
                        "tracker": "TRK-000001",
                        "timestamp": "2026-11-26T10:00:00Z",
                        "latitude": 52.52,
                        "longitude": 13.4,
                    },
                    {
                        "tracker": "TRK-000002",
                        "timestamp": "2026-11-26T10:00:05Z",
                        "latitude": 48.85,
                        "longitude": 2.35,
                        "nearest_city": "Paris",
                        "confidence": 0.9,
                    },
                ],
                request_only=True,
            )
        ],
        summary="Batch ingest of up to 10,000 location reports, all or nothing",
    )
    def post(self, request: Request) -> Response:
        reports = validated_location_reports(request.data)
        try:
            result = services.location_reports_ingest(reports=reports, scope=scope_for(request.user))
        except services.IngestRejected as rejected:
            raise ValidationError({str(index): errors for index, errors in rejected.errors.items()}) from None
        return Response({"accepted": result.accepted, "duplicates": result.duplicates})
