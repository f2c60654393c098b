"""Shapes of the API's input and output. No queries, no business rules.

The output serializers describe bodies that the views build from `.values()` rows (for the
OpenAPI schema); the input serializers validate what clients send.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from dashboard.filters import MAX_ID
from dashboard.models import TrackerStatus
from dashboard.retention import oldest_accepted_report, too_old_message

MAX_INGEST_BATCH = 10_000
FUTURE_TOLERANCE = timedelta(minutes=5)


# --- Reference data ----------------------------------------------------------------------


class ClientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BrandSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    client_id = serializers.IntegerField()
    logo_id = serializers.IntegerField(allow_null=True)
    logo = serializers.URLField(allow_null=True, help_text="URL of the brand's logo image.")
    production_run_count = serializers.IntegerField()


class ProductionRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    brand_id = serializers.IntegerField()
    client_id = serializers.IntegerField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    tracker_count = serializers.IntegerField()


class ProductionRunQuerySerializer(serializers.Serializer):
    brand_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Runs of this brand.")


class StorageLocationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    city = serializers.CharField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    client_id = serializers.IntegerField()


class DeliveryLocationSerializer(StorageLocationSerializer):
    address = serializers.CharField()


class ImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.URLField()
    client_id = serializers.IntegerField(allow_null=True, help_text="null: shared with every client.")


class StatusChoiceSerializer(serializers.Serializer):
    value = serializers.ChoiceField(choices=TrackerStatus.choices)
    label = serializers.CharField()


# One object, though a viewset's `list` answers it: the schema must not wrap it in an array.
@extend_schema_serializer(many=False)
class ReferenceSerializer(serializers.Serializer):
    clients = ClientSerializer(many=True)
    brands = BrandSerializer(many=True)
    production_runs = ProductionRunSerializer(many=True)
    storage_locations = StorageLocationSerializer(many=True)
    delivery_locations = DeliveryLocationSerializer(many=True)
    images = ImageSerializer(many=True)
    statuses = StatusChoiceSerializer(many=True)


class ScopeSummarySerializer(serializers.Serializer):
    client_ids = serializers.ListField(child=serializers.IntegerField())
    brand_count = serializers.IntegerField()
    production_run_count = serializers.IntegerField()
    tracker_count = serializers.IntegerField()
    lazy_mode = serializers.BooleanField(help_text="Load trackers only once a filter is chosen.")
    lazy_mode_threshold = serializers.IntegerField()
    prefers_full_load = serializers.BooleanField()


# One object (`GET /api/attention/`), not an array.
@extend_schema_serializer(many=False)
class AttentionSerializer(serializers.Serializer):
    low_battery = serializers.IntegerField(
        min_value=0, help_text="Trackers whose battery is at or below LOW_BATTERY_PERCENT (the list's `battery_max`)."
    )
    silent = serializers.IntegerField(
        min_value=0,
        help_text="Trackers with no report for SILENT_AFTER_HOURS, never-reported ones included "
        "(the list's `silent_hours`).",
    )
    never_reported = serializers.IntegerField(min_value=0, help_text="Trackers that have never reported.")


class PreferencesSerializer(serializers.Serializer):
    prefers_full_load = serializers.BooleanField(help_text="true: never load lazily.")


# --- Trackers ----------------------------------------------------------------------------


class LocationSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    nearest_city = serializers.CharField(allow_blank=True)
    confidence = serializers.FloatField(allow_null=True)


class TrackerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    serial = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    production_run_id = serializers.IntegerField()
    brand_id = serializers.IntegerField()
    current_status = serializers.ChoiceField(choices=TrackerStatus.choices)
    last_report_received = serializers.DateTimeField(allow_null=True)
    battery_level = serializers.IntegerField(allow_null=True)
    latest_location = LocationSerializer(
        allow_null=True, required=False, help_text="null: never reported; absent with include_latest_location=false."
    )


class PageSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    size = serializers.IntegerField()
    pages = serializers.IntegerField()


# One page object, though a viewset's `list` answers it: not wrapped in an array in the schema.
@extend_schema_serializer(many=False)
class TrackerPageSerializer(PageSerializer):
    items = TrackerSerializer(many=True)


# One columnar object (`GET /api/trackers/positions/`), not an array.
@extend_schema_serializer(many=False)
class TrackerPositionsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Trackers in the answer: the length of every array.")
    id = serializers.ListField(child=serializers.IntegerField(), help_text="Tracker ids, ascending.")
    latitude = serializers.ListField(
        child=serializers.FloatField(min_value=-90, max_value=90), help_text="Degrees, rounded to 5 decimals."
    )
    longitude = serializers.ListField(
        child=serializers.FloatField(min_value=-180, max_value=180), help_text="Degrees, rounded to 5 decimals."
    )
    status = serializers.ListField(child=serializers.ChoiceField(choices=TrackerStatus.choices))
    timestamp = serializers.ListField(
        child=serializers.DateTimeField(), help_text="The latest report's instant, ISO 8601 in UTC."
    )


class HistoryItemSerializer(LocationSerializer):
    id = serializers.IntegerField()


class HistoryPageSerializer(PageSerializer):
    items = HistoryItemSerializer(many=True)


class TrailPointSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField(help_text="The report's instant, ISO 8601 in UTC.")
    latitude = serializers.FloatField(min_value=-90, max_value=90, help_text="Degrees, rounded to 5 decimals.")
    longitude = serializers.FloatField(min_value=-180, max_value=180, help_text="Degrees, rounded to 5 decimals.")


class TrackerTrailSerializer(serializers.Serializer):
    points = TrailPointSerializer(many=True, help_text="Oldest first: the period's first and last report always.")
    reports = serializers.IntegerField(min_value=0, help_text="Reports in the period, before simplification.")
    simplified = serializers.BooleanField(help_text="true: some reports were dropped (points < reports).")


# --- Token ------------------------------------------------------------------------------


# The token endpoint's body as DRF's AuthTokenSerializer validates it, for the schema only (its
# docstring is the schema's description; the request component is `TokenRequest`).
@extend_schema_serializer(component_name="Token")
class TokenRequestSerializer(serializers.Serializer):
    """A username and a password, neither empty (the password is taken as sent)."""

    username = serializers.CharField(min_length=1)
    password = serializers.CharField(min_length=1, trim_whitespace=False)


# --- Ingest ------------------------------------------------------------------------------


def report_time_window() -> tuple[datetime, datetime]:
    """The instants a report may carry, now: (earliest, latest).

    Not older than REPORT_MAX_AGE_DAYS nor than the history retention window when that is shorter
    (`dashboard.retention`), not more than 5 minutes ahead. The one place the bounds are decided,
    for the serializer and the plain-Python path alike.
    """
    now = timezone.now()
    return oldest_accepted_report(now), now + FUTURE_TOLERANCE


def timestamp_error(value: datetime, window: tuple[datetime, datetime]) -> str | None:
    """Why a report's (UTC) instant is refused, or None when it is inside `window`."""
    earliest, latest = window
    if value > latest:
        return "Timestamps more than 5 minutes in the future are rejected."
    if value < earliest:
        return too_old_message()
    return None


class LocationReportSerializer(serializers.Serializer):
    tracker = serializers.CharField(min_length=1, max_length=64, help_text="The tracker's serial.")
    timestamp = serializers.DateTimeField()
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    nearest_city = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    confidence = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True, default=None)
    battery_level = serializers.IntegerField(
        min_value=0, max_value=100, required=False, allow_null=True, default=None,
        help_text="Percent; the tracker's newest report sets its battery level.",
    )

    def validate_timestamp(self, value):
        error = timestamp_error(value, report_time_window())
        if error:
            raise serializers.ValidationError(error)
        return value


# many=False: the schema's examples are whole batches already (drf-spectacular would wrap them in a list).
@extend_schema_serializer(many=False)
class LocationReportBatchSerializer(serializers.ListSerializer):
    """A non-empty list of at most 10,000 reports; errors come back by row position."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("child", LocationReportSerializer())
        kwargs.setdefault("max_length", MAX_INGEST_BATCH)
        kwargs.setdefault("allow_empty", False)
        super().__init__(*args, **kwargs)


_SURROGATES = re.compile("[\ud800-\udfff]")
_COORDINATE_RANGES = (("latitude", 90.0), ("longitude", 180.0))


def _plain_text(value, max_length: int) -> str | None:
    """`value` as LocationReportSerializer's CharFields keep it (stripped), or None unless it is
    plainly valid text (DRF also turns numbers into text: that is left to it)."""
    if type(value) is not str:
        return None
    value = value.strip()
    if len(value) > max_length or "\x00" in value or _SURROGATES.search(value):
        return None
    return value


def _plain_report(row, window: tuple[datetime, datetime], datetimes: serializers.DateTimeField) -> dict | None:
    """One row as LocationReportSerializer validates it, or None unless every field is plainly good."""
    if type(row) is not dict:
        return None
    tracker = _plain_text(row.get("tracker"), 64)
    if not tracker:  # missing, null, blank or not plain text
        return None
    timestamp = row.get("timestamp")
    if type(timestamp) is not str:
        return None
    try:
        timestamp = datetimes.to_internal_value(timestamp)
    except serializers.ValidationError:
        return None
    if timestamp_error(timestamp, window):
        return None
    report = {"tracker": tracker, "timestamp": timestamp}
    for name, limit in _COORDINATE_RANGES:
        value = row.get(name)
        if type(value) not in (float, int) or not -limit <= value <= limit:
            return None
        report[name] = float(value)
    city = row.get("nearest_city", "")
    report["nearest_city"] = city = _plain_text(city, 200)
    if city is None:
        return None
    confidence = row.get("confidence")
    if confidence is not None:
        if type(confidence) not in (float, int) or not 0 <= confidence <= 1:
            return None
        confidence = float(confidence)
    report["confidence"] = confidence
    battery = row.get("battery_level")
    if battery is not None and (type(battery) is not int or not 0 <= battery <= 100):
        return None
    report["battery_level"] = battery
    return report


def _plain_reports(data) -> list[dict] | None:
    """The batch as `LocationReportBatchSerializer` would validate it, in one pass of plain Python, or
    None as soon as a row is not plainly good (then DRF judges the whole batch and names the errors)."""
    if type(data) is not list or not 0 < len(data) <= MAX_INGEST_BATCH:
        return None
    # One window for the whole batch: its future bound is earlier than DRF's per-row now(), so never laxer.
    window = report_time_window()
    # The serializer's DateTimeField looks the current time zone up for every row; it can't change
    # within a request, so this one is given it once (USE_TZ off: None, the field's own default).
    datetimes = serializers.DateTimeField(default_timezone=timezone.get_current_timezone() if settings.USE_TZ else None)
    reports = []
    for row in data:
        report = _plain_report(row, window, datetimes)
        if report is None:
            return None
        reports.append(report)
    return reports


def validated_location_reports(data) -> list[dict]:
    """The reports of an ingest body, validated as `LocationReportBatchSerializer` does, or a
    `ValidationError` with its errors by row index.

    A batch whose rows are all plainly good (the usual case) is checked in one plain-Python pass,
    ~20× cheaper than a serializer per row; any other batch goes through the serializers, so
    errors, and values DRF coerces (a number as a serial, a string as a number), stay exactly theirs.
    """
    reports = _plain_reports(data)
    if reports is not None:
        return reports
    batch = LocationReportBatchSerializer(data=data)
    if not batch.is_valid():
        raise serializers.ValidationError(row_errors(batch.errors))
    return batch.validated_data


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Exact repeats (same tracker and timestamp) of stored reports.")


def row_errors(errors) -> dict[str, dict]:
    """A ListSerializer's positional errors → `{"<row index>": {field: [message]}}`, bad rows only."""
    if isinstance(errors, list):
        return {str(index): row for index, row in enumerate(errors) if row}
    return errors
