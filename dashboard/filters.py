"""django-filter FilterSets: parse and validate the query parameters of the tracker endpoints.

They only validate: `dashboard.queries` turns the cleaned values into a normalised,
hashable `TrackerFilters` and builds the query from it (so the query cache can key on it).
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from dashboard.models import LocationHistory, Tracker, TrackerStatus

MAX_ID = 2**63 - 1  # ids are BIGINT: anything larger is a 400, never a database error
MAX_PAGE_SIZE = 5000
# The largest page whose offset, (page - 1) × size, still fits the database's 64-bit integer.
MAX_PAGE = MAX_ID // MAX_PAGE_SIZE
DEFAULT_PAGE_SIZE = 100
MAX_SEARCH_LENGTH = 200
# A trail's point budget (GET /api/trackers/{id}/trail/?max_points=): its first and last point at least.
DEFAULT_TRAIL_POINTS = 2000
MIN_TRAIL_POINTS = 2
MAX_TRAIL_POINTS = 10_000
MAX_BATTERY_PERCENT = 100
# 100 years: the page's "never reported" chip asks for this (nothing reports from that long ago,
# and never-reported trackers always match `silent_hours`).
MAX_SILENT_HOURS = 876_000

ORDERING_FIELDS = ["last_report_received", "serial", "name", "current_status", "battery_level", "id"]
ORDERING_CHOICES = [(f"{sign}{name}", f"{sign}{name}") for name in ORDERING_FIELDS for sign in ("", "-")]
DEFAULT_ORDERING = "-last_report_received"


class ListWidget(forms.Widget):
    """Reads every value of a repeated parameter (`a=1&a=2`) as a list."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            return data.getlist(name)
        value = data.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [value]

    def value_omitted_from_data(self, data, files, name):
        return name not in data


def _split(values) -> list[str]:
    """`["1,2", "3"]` → `["1", "2", "3"]`; blank parameters (`a=`) count as absent."""
    pieces: list[str] = []
    for value in values or []:
        value = str(value).strip()
        if value:
            pieces.extend(piece.strip() for piece in value.split(","))
    return pieces


class IdListField(forms.Field):
    """Positive 64-bit ids, repeated or comma-separated; cleaned to a sorted tuple without duplicates."""

    widget = ListWidget

    def to_python(self, value) -> tuple[int, ...]:
        ids = set()
        for piece in _split(value):
            if not piece.isascii() or not piece.isdigit() or not 0 < int(piece) <= MAX_ID:
                raise ValidationError(
                    "Enter positive integer ids (at most %(max)s), repeated or comma-separated; %(piece)r is not one.",
                    code="invalid",
                    params={"max": MAX_ID, "piece": piece[:40]},
                )
            ids.add(int(piece))
        return tuple(sorted(ids))


class StatusListField(forms.Field):
    """One or more tracker statuses, repeated or comma-separated; cleaned to a sorted tuple."""

    widget = ListWidget

    def to_python(self, value) -> tuple[str, ...]:
        statuses = set()
        for piece in _split(value):
            if piece not in TrackerStatus.values:
                raise ValidationError(
                    "%(piece)r is not a status; choose from %(choices)s.",
                    code="invalid_choice",
                    params={"piece": piece[:40], "choices": ", ".join(TrackerStatus.values)},
                )
            statuses.add(piece)
        return tuple(sorted(statuses))


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no, on/off); anything else is an error, not a silent null."""

    TRUE = {"true", "1", "yes", "on"}
    FALSE = {"false", "0", "no", "off"}

    def __init__(self, *, default: bool, **kwargs):
        self.default = default
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value) -> bool:
        if value in (None, ""):
            return self.default
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError("Must be true or false.", code="invalid")


class UTCDateTimeField(forms.DateTimeField):
    """An ISO 8601 instant, converted to UTC before it reaches the database.

    Python takes offsets up to ±23:59 and PostgreSQL only to ±15:59 ("time zone displacement out
    of range", a 500): in UTC every offset is fine. An instant that leaves Python's years 1-9999
    on the way (`0001-01-01T00:00+01:00`) is an error naming the parameter.
    """

    default_error_messages = {"overflow": "Enter an instant that falls between the years 1 and 9999 in UTC."}

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["overflow"], code="overflow") from None


class UTCDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UTCDateTimeField


class IdListFilter(django_filters.Filter):
    field_class = IdListField


class StatusListFilter(django_filters.Filter):
    field_class = StatusListField


class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class FormOnceFilterSet(django_filters.FilterSet):
    """A FilterSet whose form class is built once per class, not per request.

    django-filter deep-copies every filter and builds the form class (every field, its label) on
    each request; ours depends on the FilterSet class alone, and Django deep-copies the form's
    fields into each form instance. `bound_form(data)` validates without a FilterSet instance.
    """

    def get_form_class(self) -> type[forms.Form]:
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class

    @classmethod
    def bound_form(cls, data) -> forms.Form:
        """The parameters' form bound to `data` (call `is_valid()`, then read `cleaned_data` or `errors`)."""
        form_class = cls.__dict__.get("_form_class") or cls(queryset=cls._meta.model.objects.none()).get_form_class()
        return form_class(data)


class TrackerFilterSet(FormOnceFilterSet):
    """The parameters of `GET /api/trackers/` and `GET /api/trackers/export.csv`."""

    brand_ids = IdListFilter(field_name="production_run__brand_id", lookup_expr="in")
    production_run_ids = IdListFilter(field_name="production_run_id", lookup_expr="in")
    status = StatusListFilter(field_name="current_status", lookup_expr="in")
    # Serial, name or the latest location's nearest city: queries.filtered_trackers() builds it.
    search = django_filters.CharFilter(max_length=MAX_SEARCH_LENGTH, strip=True)
    # A known battery at or below this percent (an unknown battery is not low).
    battery_max = IntegerFilter(
        field_name="battery_level", lookup_expr="lte", min_value=0, max_value=MAX_BATTERY_PERCENT
    )
    # No report for at least this many hours, never-reported trackers included: the instant it
    # counts back from is the query cache's clock (queries.silent_clock), so queries builds it.
    silent_hours = IntegerFilter(
        field_name="last_report_received", lookup_expr="lte", min_value=1, max_value=MAX_SILENT_HOURS
    )
    include_latest_location = StrictBooleanFilter(default=True)
    lazy_load = StrictBooleanFilter(default=False)
    page = IntegerFilter(min_value=1, max_value=MAX_PAGE)
    size = IntegerFilter(min_value=1, max_value=MAX_PAGE_SIZE)
    ordering = django_filters.ChoiceFilter(choices=ORDERING_CHOICES)

    class Meta:
        model = Tracker
        fields: list[str] = []


class TrackerPositionsFilterSet(TrackerFilterSet):
    """The parameters of `GET /api/trackers/positions/`: every filter of the list (a filter added to
    `TrackerFilterSet` applies here too), without paging, ordering or the latest-location switch."""

    include_latest_location = page = size = ordering = None


class TrackerHistoryFilterSet(FormOnceFilterSet):
    """The parameters of `GET /api/trackers/{id}/history/`."""

    since = UTCDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="timestamp", lookup_expr="lte")
    page = IntegerFilter(min_value=1, max_value=MAX_PAGE)
    size = IntegerFilter(min_value=1, max_value=MAX_PAGE_SIZE)

    class Meta:
        model = LocationHistory
        fields: list[str] = []


class TrackerTrailFilterSet(FormOnceFilterSet):
    """The parameters of `GET /api/trackers/{id}/trail/` (no `since`: the 24 hours before `until`)."""

    since = UTCDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="timestamp", lookup_expr="lte")
    max_points = IntegerFilter(min_value=MIN_TRAIL_POINTS, max_value=MAX_TRAIL_POINTS)

    class Meta:
        model = LocationHistory
        fields: list[str] = []


def form_errors(form: forms.Form | django_filters.FilterSet) -> dict[str, list[str]]:
    """DRF's usual `{"field": ["message"]}` body from a form's (or a FilterSet's) errors."""
    return {field: [str(message) for message in messages] for field, messages in form.errors.items()}
