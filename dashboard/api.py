"""The REST API: thin DRF viewsets, registered on the router in `dashboard/api_urls.py`.
Reads go through `dashboard.queries`, writes through `dashboard.services`; DRF does
authentication, permissions, validation and the schema (one `extend_schema_view` per viewset).

The tracker list, detail, history and export build their rows from `.values()` and encode
them with orjson (DRF serializers would cost ~80 ms per 1,500 trackers).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import permissions, serializers, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

import cache_layer
from dashboard import conditional, queries, schema, services
from dashboard.auth_views import TokenView
from dashboard.csv_export import CSVContentNegotiation, csv_lines
from dashboard.filters import (
    DEFAULT_ORDERING,
    DEFAULT_PAGE_SIZE,
    DEFAULT_TRAIL_POINTS,
    MAX_BATTERY_PERCENT,
    MAX_ID,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_SEARCH_LENGTH,
    MAX_SILENT_HOURS,
    MAX_TRAIL_POINTS,
    MIN_TRAIL_POINTS,
    ORDERING_CHOICES,
    TrackerFilterSet,
    TrackerHistoryFilterSet,
    TrackerPositionsFilterSet,
    TrackerTrailFilterSet,
    form_errors,
)
from dashboard.models import TrackerStatus
from dashboard.scope import scope_for
from dashboard.serializers import (
    AttentionSerializer,
    BrandSerializer,
    ClientSerializer,
    DeliveryLocationSerializer,
    HistoryPageSerializer,
    ImageSerializer,
    IngestResultSerializer,
    LocationReportBatchSerializer,
    PreferencesSerializer,
    ProductionRunQuerySerializer,
    ProductionRunSerializer,
    ReferenceSerializer,
    ScopeSummarySerializer,
    StorageLocationSerializer,
    TokenRequestSerializer,
    TrackerPageSerializer,
    TrackerPositionsSerializer,
    TrackerSerializer,
    TrackerTrailSerializer,
    validated_location_reports,
)

JSON = "application/json"


def _json(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type=JSON)


def _cached_json(entry: cache_layer.query.Entry) -> HttpResponse:
    """A query-cache entry's bytes as stored: gzip bodies go out without compressing again
    (`trackerdash.compression` decodes them for a client that does not accept gzip)."""
    response = _json(entry.body)
    if entry.encoding:
        response["Content-Encoding"] = entry.encoding
    return response


# --- Permissions -------------------------------------------------------------------------


class CanIngestLocationReports(permissions.BasePermission):
    """Staff, or a user (usually a token's) holding `dashboard.ingest_location_reports`."""

    message = "Ingest needs staff or the dashboard.ingest_location_reports permission."

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and (user.is_staff or user.has_perm("dashboard.ingest_location_reports"))
        )


# --- Token ------------------------------------------------------------------------------


# POST /api/auth/token/: DRF's own view (username and password → the user's token) with the
# API's parser and the login lockout (dashboard.auth_views), on the router. It answers 200 (an
# existing token is handed back, not created), as it always has.
@extend_schema_view(
    create=extend_schema(
        request=TokenRequestSerializer,
        responses={200: AuthTokenSerializer},
        summary="The user's API token for a username and password",
        description="Failed attempts are counted per username and per client address: past "
        "LOGIN_FAILURE_LIMIT, 429 with `Retry-After` until LOGIN_LOCKOUT_SECONDS have passed.",
    )
)
class AuthTokenViewSet(TokenView, viewsets.ViewSet):
    create = TokenView.post


# --- Reference data ----------------------------------------------------------------------


@extend_schema_view(
    # One object, not a list: the operation keeps the id it had as a plain view.
    list=extend_schema(
        responses=ReferenceSerializer,
        operation_id="reference_retrieve",
        summary="All six reference lists and the status choices",
    ),
)
class ReferenceViewSet(viewsets.ViewSet):
    def list(self, request: Request) -> HttpResponseBase:
        current = cache_layer.reference_generations(queries.REFERENCE_LOADERS)  # one read: tag and rows
        return conditional.respond(
            request,
            tag=lambda: queries.reference_tag(request.user, current=current),
            answer=lambda: Response(queries.reference_payload(request.user, current=current)),
        )


class ReferenceListViewSet(viewsets.ViewSet):
    """One scoped reference list; subclasses name the table."""

    # (The docstring is each list's description in the schema; `reference_list_viewset` makes the subclasses.)

    table = ""
    query_serializer: type[serializers.Serializer] | None = None

    def list(self, request: Request) -> Response:
        rows = queries.scoped_reference(scope_for(request.user), self.table)
        if self.query_serializer is not None:
            # Each given parameter keeps the rows whose field of that name equals it (brand_id).
            params = self.query_serializer(data=request.query_params)
            params.is_valid(raise_exception=True)
            wanted = {field: value for field, value in params.validated_data.items() if value is not None}
            rows = [row for row in rows if all(row[field] == value for field, value in wanted.items())]
        return Response(rows)


@dataclass(frozen=True)
class ReferenceList:
    prefix: str  # the URL: /api/<prefix>/
    table: str  # the cache_layer table (dashboard/cache.py)
    serializer: type[serializers.Serializer]  # the schema of one row
    summary: str
    query_serializer: type[serializers.Serializer] | None = None  # optional filters on the rows


# The six reference tables, each a list endpoint: the one declaration api_urls.py registers.
REFERENCE_LISTS = [
    ReferenceList("clients", "clients", ClientSerializer, "Scoped clients"),
    ReferenceList("brands", "brands", BrandSerializer, "Scoped brands"),
    ReferenceList(
        "production-runs",
        "production_runs",
        ProductionRunSerializer,
        "Scoped production runs, optionally of one brand",
        query_serializer=ProductionRunQuerySerializer,
    ),
    ReferenceList("storage-locations", "storage_locations", StorageLocationSerializer, "Scoped storage locations"),
    ReferenceList("delivery-locations", "delivery_locations", DeliveryLocationSerializer, "Scoped delivery locations"),
    ReferenceList("images", "images", ImageSerializer, "Scoped images, with the shared ones"),
]


def reference_list_viewset(reference: ReferenceList) -> type[ReferenceListViewSet]:
    """The viewset of one declared reference list, with its schema."""
    name = "".join(part.title() for part in reference.table.split("_")) + "ViewSet"
    viewset = type(
        name,
        (ReferenceListViewSet,),
        {"table": reference.table, "query_serializer": reference.query_serializer, "__module__": __name__},
    )
    parameters = [reference.query_serializer] if reference.query_serializer else None
    return extend_schema_view(
        list=extend_schema(parameters=parameters, responses=reference.serializer(many=True), summary=reference.summary)
    )(viewset)


# --- The user's scope and preferences ----------------------------------------------------


@extend_schema_view(
    scope=extend_schema(responses=ScopeSummarySerializer, summary="The user's data scope and whether lazy mode is on"),
    preferences=extend_schema(
        request=PreferencesSerializer,
        responses=ScopeSummarySerializer,
        summary="Set prefers_full_load (PATCH: given fields only); answers the new scope summary",
    ),
)
class MeViewSet(viewsets.ViewSet):
    # /api/me/…: the requesting user's own scope and preferences.

    @action(detail=False, methods=["get"])
    def scope(self, request: Request) -> HttpResponseBase:
        current = cache_layer.reference_generations(queries.summary_tables(request.user))  # one read: tag and rows
        return conditional.respond(
            request,
            tag=lambda: queries.scope_summary_tag(request.user, current=current),
            answer=lambda: Response(queries.scope_summary(request.user, current=current)),
        )

    @action(detail=False, methods=["patch"])
    def preferences(self, request: Request) -> Response:
        serializer = PreferencesSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data:  # PATCH: what is given changes, `{}` changes nothing
            services.user_preferences_update(user=request.user, **serializer.validated_data)
        return Response(queries.scope_summary(request.user))


# --- Attention ---------------------------------------------------------------------------


@extend_schema_view(
    # One object, not a list: an operation id of a retrieve.
    list=extend_schema(
        responses=AttentionSerializer,
        operation_id="attention_retrieve",
        summary="What needs attention in your scope: low battery, silent, never reported",
        description="Counts of the trackers in your scope, each the `total` of the tracker list with one "
        "filter: `battery_max=LOW_BATTERY_PERCENT`, `silent_hours=SILENT_AFTER_HOURS` (never-reported "
        "trackers included, counted back from the start of the current minute), and never reported. Cached "
        "like the list (a report into any of your production runs refreshes it); `ETag` and `If-None-Match`.",
    ),
)
class AttentionViewSet(viewsets.ViewSet):
    # GET /api/attention/: the top bar's chips.

    def list(self, request: Request) -> HttpResponseBase:
        counts = queries.attention(scope_for(request.user))
        return conditional.respond(request, tag=counts.tag, answer=lambda: _cached_json(counts.entry))


# --- Trackers ----------------------------------------------------------------------------

_ID_LIST_HELP = "Repeat the parameter (`{0}=1&{0}=2`) or separate with commas (`{0}=1,2`). Positive 64-bit integers."
TRACKER_FILTER_PARAMETERS = [
    OpenApiParameter(
        "brand_ids",
        {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
        description=_ID_LIST_HELP.format("brand_ids"),
        explode=True,
    ),
    OpenApiParameter(
        "production_run_ids",
        {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
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
        "battery_max",
        {"type": "integer", "minimum": 0, "maximum": MAX_BATTERY_PERCENT},
        description="Trackers whose battery is known and at or below this percent.",
    ),
    OpenApiParameter(
        "silent_hours",
        {"type": "integer", "minimum": 1, "maximum": MAX_SILENT_HOURS},
        description="Trackers with no report for at least this many hours, never-reported ones included "
        f"(counted back from the start of the current minute; {MAX_SILENT_HOURS}: only those that never reported).",
    ),
    OpenApiParameter(
        "ordering",
        {"type": "string", "enum": [value for value, _ in ORDERING_CHOICES], "default": DEFAULT_ORDERING},
        description="Sort field, `-` for descending. Never-reported trackers sort last.",
    ),
]
_LAZY_LOAD_PARAMETER = OpenApiParameter(
    "lazy_load",
    {"type": "boolean", "default": False},
    description="true and no filter (brand_ids, production_run_ids, status, battery_max, silent_hours, "
    "non-empty search): the empty page.",
)
# The positions feed takes the list's filters without paging or ordering.
TRACKER_POSITIONS_PARAMETERS = [
    *(parameter for parameter in TRACKER_FILTER_PARAMETERS if parameter.name != "ordering"),
    _LAZY_LOAD_PARAMETER,
]
TRACKER_LIST_PARAMETERS = [
    *TRACKER_FILTER_PARAMETERS,
    OpenApiParameter(
        "include_latest_location",
        {"type": "boolean", "default": True},
        description="false: skip the latest-location lookup (items then carry no `latest_location`).",
    ),
    _LAZY_LOAD_PARAMETER,
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}, description="1-based page number."
    ),
    OpenApiParameter(
        "size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
        description="Trackers per page.",
    ),
]


def tracker_filters(request: Request, filterset: type[TrackerFilterSet] = TrackerFilterSet) -> queries.TrackerFilters:
    """The request's validated, normalised tracker filters; a 400 naming each bad parameter."""
    form = filterset.bound_form(request.query_params)
    if not form.is_valid():
        raise ValidationError(form_errors(form))
    return queries.normalise_tracker_filters(form.cleaned_data)


@extend_schema_view(
    list=extend_schema(
        parameters=TRACKER_LIST_PARAMETERS,
        responses=TrackerPageSerializer,
        operation_id="trackers_list",
        summary="Filtered, paginated trackers with their latest location",
    ),
    retrieve=extend_schema(responses=TrackerSerializer),
    history=extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Reports at or after this instant."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Reports at or before this instant."),
            OpenApiParameter("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}),
            OpenApiParameter(
                "size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}
            ),
        ],
        responses=HistoryPageSerializer,
        summary="A tracker's location history, newest first",
    ),
    trail=extend_schema(
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Reports at or after this instant; absent: the 24 hours before `until` (or before now).",
            ),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Reports at or before this instant."),
            OpenApiParameter(
                "max_points",
                {
                    "type": "integer",
                    "minimum": MIN_TRAIL_POINTS,
                    "maximum": MAX_TRAIL_POINTS,
                    "default": DEFAULT_TRAIL_POINTS,
                },
                description="The most points the answer holds, the first and the last report included.",
            ),
        ],
        responses=TrackerTrailSerializer,
        summary="A tracker's path for the map: its reports of a period, oldest first, simplified server-side",
        description=(
            "Simplified by a time-aware Douglas–Peucker: a dropped report lies within "
            f"{queries.TRAIL_TOLERANCE_M:g} m of where the returned trail, interpolated in time, puts the "
            "tracker at that report's instant, unless `max_points` ran out first (the budget then goes "
            "where the error is largest). `reports` counts the period's reports; `simplified` is true "
            "when fewer points than reports came back. `since` after `until`: no points. A period "
            f"holding more than {queries.MAX_TRAIL_REPORTS:,} reports is a 400 naming `since`. "
            "Scoped like the history (404 outside your scope)."
        ),
    ),
    positions=extend_schema(
        parameters=TRACKER_POSITIONS_PARAMETERS,
        responses=TrackerPositionsSerializer,
        operation_id="trackers_positions",
        summary="Every matching tracker that has a location, for the map: one columnar answer, by id",
        description=(
            "The list's filters and scope, no paging. Columns, each `total` long and in the same order "
            "(ascending tracker id): `id`, `latitude` and `longitude` (degrees, 5 decimals), `status`, "
            "`timestamp` (the latest report, ISO 8601 UTC). Trackers that never reported are left out. "
            "`lazy_load=true` with no filter: `total` 0 and empty arrays. Cached like the list."
        ),
    ),
    export=extend_schema(
        parameters=TRACKER_FILTER_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="Every matching tracker with its latest location, as streamed CSV",
    ),
)
class TrackerViewSet(viewsets.ViewSet):
    # The user's trackers: bodies come from `queries` as orjson bytes (no serializer on this path).

    lookup_value_converter = "int"  # /api/trackers/<int:pk>/: anything else is not a tracker URL (404)

    def list(self, request: Request) -> HttpResponseBase:
        page = queries.tracker_page(scope_for(request.user), tracker_filters(request))
        return conditional.respond(request, tag=page.tag, answer=lambda: _cached_json(page.entry))

    def retrieve(self, request: Request, pk: int) -> HttpResponse:
        body = queries.tracker_detail(scope_for(request.user), pk)
        if body is None:
            raise NotFound()
        return _json(body)

    @action(detail=True)
    def history(self, request: Request, pk: int) -> HttpResponse:
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

    @action(detail=True)
    def trail(self, request: Request, pk: int) -> HttpResponse:
        form = TrackerTrailFilterSet.bound_form(request.query_params)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        params = form.cleaned_data
        try:
            body = queries.tracker_trail(
                scope_for(request.user),
                pk,
                since=params.get("since"),
                until=params.get("until"),
                max_points=params.get("max_points") or DEFAULT_TRAIL_POINTS,
            )
        except queries.TrailTooLong:
            message = f"The period holds more than {queries.MAX_TRAIL_REPORTS:,} reports: choose a shorter one."
            raise ValidationError({"since": [message]}) from None
        if body is None:
            raise NotFound()
        return _json(body)

    @action(detail=False)
    def positions(self, request: Request) -> HttpResponse:
        filters = tracker_filters(request, TrackerPositionsFilterSet)
        positions = queries.tracker_positions(scope_for(request.user), filters)
        return conditional.respond(request, tag=positions.tag, answer=lambda: _cached_json(positions.entry))

    @action(detail=False, url_path="export.csv", content_negotiation_class=CSVContentNegotiation)
    def export(self, request: Request) -> StreamingHttpResponse:
        filters = tracker_filters(request)
        rows = queries.tracker_export_rows(scope_for(request.user), filters)
        response = StreamingHttpResponse(
            csv_lines(queries.EXPORT_COLUMNS, rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="trackers.csv"'
        return response


# --- Ingest ------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(
        request=LocationReportBatchSerializer,
        responses={
            200: IngestResultSerializer,
            400: OpenApiResponse(
                {"anyOf": [schema.component_ref("IngestErrors"), schema.component_ref("Error")]},
                description='Bad rows by index: `{"3": {"latitude": ["..."]}}`; nothing stored.',
            ),
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
    ),
)
class LocationReportViewSet(viewsets.ViewSet):
    permission_classes = [permissions.IsAuthenticated, CanIngestLocationReports]

    def create(self, request: Request) -> Response:
        reports = validated_location_reports(request.data)
        try:
            result = services.location_reports_ingest(reports=reports, scope=scope_for(request.user))
        except services.IngestRejected as rejected:
            raise ValidationError({str(index): errors for index, errors in rejected.errors.items()}) from None
        return Response({"accepted": result.accepted, "duplicates": result.duplicates})
