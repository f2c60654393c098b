"""Shapes of the API's input and output. No queries, no business rules.

The output serializers describe bodies that the views build from `.values()` rows (for the
OpenAPI schema); the input serializers validate what clients send.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from dashboard.filters import MAX_ID
from dashboard.models import TrackerStatus

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


class TrackerPageSerializer(PageSerializer):
    items = TrackerSerializer(many=True)


class HistoryItemSerializer(LocationSerializer):
    id = serializers.IntegerField()


class HistoryPageSerializer(PageSerializer):
    items = HistoryItemSerializer(many=True)


# --- Ingest ------------------------------------------------------------------------------


class LocationReportSerializer(serializers.Serializer):
    tracker = serializers.CharField(max_length=64, help_text="The tracker's serial.")
    timestamp = serializers.DateTimeField()
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    nearest_city = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    confidence = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True, default=None)

    def validate_timestamp(self, value):
        if value > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError("Timestamps more than 5 minutes in the future are rejected.")
        return value


class LocationReportBatchSerializer(serializers.ListSerializer):
    """A non-empty list of at most 10,000 reports; errors come back by row position."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("child", LocationReportSerializer())
        kwargs.setdefault("max_length", MAX_INGEST_BATCH)
        kwargs.setdefault("allow_empty", False)
        super().__init__(*args, **kwargs)


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Exact repeats (same tracker and timestamp) of stored reports.")


def row_errors(errors) -> dict[str, dict]:
    """A ListSerializer's positional errors → `{"<row index>": {field: [message]}}`, bad rows only."""
    if isinstance(errors, list):
        return {str(index): row for index, row in enumerate(errors) if row}
    return errors
