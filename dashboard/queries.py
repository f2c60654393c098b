"""Reads: reference rows, the user's scope summary, trackers with their latest location.

Every read is scoped through `dashboard.scope`. Reference tables are loaded whole (they are
small) and scoped in memory, so the reference cache can hold one copy of each table. The
tracker list is a pure function of (scope, normalised filters), so the query cache can key
on exactly those (`CachedAnswer`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import (
    Aggregate,
    BigIntegerField,
    CharField,
    Count,
    F,
    FloatField,
    Func,
    OrderBy,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.functions import Cast, JSONObject
from django.utils import timezone

import cache_layer
from dashboard.filters import DEFAULT_ORDERING, DEFAULT_PAGE_SIZE, DEFAULT_TRAIL_POINTS, MAX_ID
from dashboard.models import (
    Brand,
    Client,
    DeliveryLocation,
    Image,
    LocationHistory,
    ProductionRun,
    StorageLocation,
    Tracker,
    TrackerLatestLocation,
    TrackerStatus,
)
from dashboard.scope import Scope, scope_for
from dashboard.simplification import simplify

# --- Reference data ----------------------------------------------------------------------


def _iso_dates(rows: list[dict], *fields: str) -> list[dict]:
    for row in rows:
        for field in fields:
            if isinstance(row[field], date):
                row[field] = row[field].isoformat()
    return rows


def _load_clients() -> list[dict]:
    return list(Client.objects.order_by("name", "id").values("id", "name"))


def _load_brands() -> list[dict]:
    rows = (
        Brand.objects.order_by("name", "id")
        .annotate(production_run_count=Count("production_runs"))
        .values("id", "name", "client_id", "logo_id", "production_run_count", logo_url=F("logo__url"))
    )
    rows = list(rows)
    for row in rows:
        row["logo"] = row.pop("logo_url")
    return rows


def _load_production_runs() -> list[dict]:
    rows = (
        ProductionRun.objects.order_by("-start_date", "id")
        .annotate(tracker_count=Count("trackers"))
        .values("id", "name", "brand_id", "start_date", "end_date", "tracker_count", client_id=F("brand__client_id"))
    )
    return _iso_dates(list(rows), "start_date", "end_date")


def _load_storage_locations() -> list[dict]:
    return list(
        StorageLocation.objects.order_by("name", "id").values(
            "id", "name", "city", "latitude", "longitude", "client_id"
        )
    )


def _load_delivery_locations() -> list[dict]:
    return list(
        DeliveryLocation.objects.order_by("name", "id").values(
            "id", "name", "address", "city", "latitude", "longitude", "client_id"
        )
    )


def _load_images() -> list[dict]:
    return list(Image.objects.order_by("title", "id").values("id", "title", "url", "client_id"))


# Each loads ALL rows of its table, unscoped, in one query: the reference cache's loaders.
REFERENCE_LOADERS: dict[str, Callable[[], list[dict]]] = {
    "clients": _load_clients,
    "brands": _load_brands,
    "production_runs": _load_production_runs,
    "storage_locations": _load_storage_locations,
    "delivery_locations": _load_delivery_locations,
    "images": _load_images,
}
# Images with no client are shared with everyone in scope.
SHARED_REFERENCE = {"images"}
STATUS_CHOICES = [{"value": value, "label": label} for value, label in TrackerStatus.choices]


def reference_rows_many(names: Iterable[str], *, current: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """All rows of several reference tables, validated in one cache round trip when warm (none more
    with `current`, the generations `cache_layer.reference_generations` read for the answer's tag)."""
    return cache_layer.get_many(names, current=current)


def _in_scope(scope: Scope, name: str, rows: list[dict]) -> list[dict]:
    if scope.is_all:
        return rows
    if name == "clients":
        return [row for row in rows if row["id"] == scope.client_id]
    shared = name in SHARED_REFERENCE
    return [row for row in rows if scope.allows(row["client_id"], shared=shared)]


def scoped_references(
    scope: Scope, names: Iterable[str], *, current: dict[str, int] | None = None
) -> dict[str, list[dict]]:
    """The rows of each named reference table that `scope` may see (one cache round trip when warm)."""
    names = list(names)
    if scope.is_empty:
        return {name: [] for name in names}
    rows = reference_rows_many(names, current=current)
    return {name: _in_scope(scope, name, rows[name]) for name in names}


def scoped_reference(scope: Scope, name: str) -> list[dict]:
    """The rows of one reference table that `scope` may see."""
    return scoped_references(scope, [name])[name]


def reference_payload(user, *, current: dict[str, int] | None = None) -> dict:
    """The body of `GET /api/reference/`: the six scoped reference lists plus the status choices."""
    payload: dict[str, Any] = scoped_references(scope_for(user), REFERENCE_LOADERS, current=current)
    payload["statuses"] = STATUS_CHOICES
    return payload


def reference_tag(user, *, current: dict[str, int] | None = None) -> str | None:
    """The version of `reference_payload(user)` (its ETag): the reference tables' generations (`current`,
    or read now) and the user's scope, no database. None when the cache can't tell."""
    return cache_layer.reference_tag(REFERENCE_LOADERS, key=scope_for(user).key, current=current)


def _prefers_full_load(user) -> bool:
    try:
        return bool(user.profile.prefers_full_load)
    except (ObjectDoesNotExist, AttributeError):
        return False


def summary_tables(user) -> list[str]:
    """The reference tables `scope_summary(user)` counts from."""
    return _summary_tables(scope_for(user))


def _summary_tables(scope: Scope) -> list[str]:
    return ["production_runs", "brands", *(["clients"] if scope.is_all else [])]


def scope_summary_tag(user, *, current: dict[str, int] | None = None) -> str | None:
    """The version of `scope_summary(user)` now (its ETag): the generations of the tables it counts,
    the scope, the user's preference and the lazy-mode settings. No database; None when the cache can't tell."""
    scope = scope_for(user)
    settings_part = (settings.LAZY_MODE_ENABLED, settings.LAZY_MODE_THRESHOLD, _prefers_full_load(user))
    return cache_layer.reference_tag(_summary_tables(scope), key=repr((scope.key, settings_part)), current=current)


def scope_summary(user, *, reference: dict | None = None, current: dict[str, int] | None = None) -> dict:
    """The body of `GET /api/me/scope/`, counted from the reference rows (no tracker query);
    `reference` is the user's `reference_payload()` when the caller has it already."""
    scope = scope_for(user)
    rows = reference or scoped_references(scope, _summary_tables(scope), current=current)
    runs = rows["production_runs"]
    if scope.is_all:
        client_ids = sorted(row["id"] for row in rows["clients"])
    else:
        client_ids = [scope.client_id] if scope.client_id is not None else []
    tracker_count = sum(row["tracker_count"] for row in runs)
    prefers_full_load = _prefers_full_load(user)
    return {
        "client_ids": client_ids,
        "brand_count": len(rows["brands"]),
        "production_run_count": len(runs),
        "tracker_count": tracker_count,
        "lazy_mode": bool(
            settings.LAZY_MODE_ENABLED and tracker_count > settings.LAZY_MODE_THRESHOLD and not prefers_full_load
        ),
        "lazy_mode_threshold": settings.LAZY_MODE_THRESHOLD,
        "prefers_full_load": prefers_full_load,
    }


# --- Trackers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackerFilters:
    """The tracker list's parameters in canonical form: ids and statuses sorted and deduplicated,
    defaults filled in. Equal filters mean equal results for one scope (the query cache's key)."""

    brand_ids: tuple[int, ...] = ()
    production_run_ids: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()
    search: str = ""
    battery_max: int | None = None
    silent_hours: int | None = None
    # With `silent_hours`: the instant (epoch seconds, a multiple of SILENT_CLOCK_SECONDS) the hours
    # count back from: part of the key, so a cached answer never outlives its clock's minute.
    as_of: int | None = None
    include_latest_location: bool = True
    lazy_load: bool = False
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    ordering: str = DEFAULT_ORDERING

    @property
    def has_filter(self) -> bool:
        """Paging and ordering are not filters."""
        return bool(
            self.brand_ids
            or self.production_run_ids
            or self.statuses
            or self.search
            or self.battery_max is not None
            or self.silent_hours is not None
        )

    @property
    def silent_before(self) -> datetime | None:
        """With `silent_hours`: the latest report a silent tracker may have (`as_of` − the hours)."""
        if self.silent_hours is None:
            return None
        as_of = silent_clock() if self.as_of is None else self.as_of
        return datetime.fromtimestamp(as_of, UTC) - timedelta(hours=self.silent_hours)

    @property
    def is_lazy_empty(self) -> bool:
        return self.lazy_load and not self.has_filter

    def without_paging(self) -> TrackerFilters:
        """The same filters with paging, ordering and the latest-location switch at their defaults
        (what the positions feed ignores), so that its cache keys are canonical."""
        return replace(
            self, include_latest_location=True, page=1, size=DEFAULT_PAGE_SIZE, ordering=DEFAULT_ORDERING
        )

    def key(self) -> str:
        """A canonical string of these filters, for cache keys."""
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS).decode()


# The clock of `silent_hours`: answers count back from the start of the current minute, so every
# process computes the same answer (and the same cache key) all minute long, and a cached answer is
# at most this late to see a tracker fall silent. No write marks that moment: only the clock does.
SILENT_CLOCK_SECONDS = 60


def wall_clock() -> float:
    """Now, in epoch seconds (the one clock of the attention filters: tests freeze or move it)."""
    return time.time()


def silent_clock(now: float | None = None) -> int:
    """The instant `silent_hours` counts back from: `now` (default: the wall clock) rounded down
    to SILENT_CLOCK_SECONDS."""
    now = wall_clock() if now is None else now
    return int(now // SILENT_CLOCK_SECONDS * SILENT_CLOCK_SECONDS)


def normalise_tracker_filters(cleaned: dict, *, now: float | None = None) -> TrackerFilters:
    """`TrackerFilterSet.bound_form(data).cleaned_data` → `TrackerFilters` (the FilterSet already sorted
    the ids); `silent_hours` counts back from `silent_clock(now)`."""
    include = cleaned.get("include_latest_location")
    lazy = cleaned.get("lazy_load")
    silent_hours = cleaned.get("silent_hours")
    filters = TrackerFilters(
        brand_ids=tuple(sorted(set(cleaned.get("brand_ids") or ()))),
        production_run_ids=tuple(sorted(set(cleaned.get("production_run_ids") or ()))),
        statuses=tuple(sorted(set(cleaned.get("status") or ()))),
        search=(cleaned.get("search") or "").strip(),
        battery_max=cleaned.get("battery_max"),
        silent_hours=silent_hours,
        as_of=silent_clock(now) if silent_hours is not None else None,
        include_latest_location=True if include is None else include,
        lazy_load=False if lazy is None else lazy,
        page=cleaned.get("page") or 1,
        size=cleaned.get("size") or DEFAULT_PAGE_SIZE,
        ordering=cleaned.get("ordering") or DEFAULT_ORDERING,
    )
    # Lazy mode without a filter answers the same empty page whatever the paging: one key.
    return TrackerFilters(lazy_load=True) if filters.is_lazy_empty else filters


class IsoUtc(Func):
    """A timestamp as ISO 8601 text in UTC with microseconds, `2026-11-26T10:00:00.000000Z`.

    Formatted by the database, so the same on PostgreSQL and SQLite, and rows need no
    Python datetime on their way to JSON.
    """

    output_field = CharField()
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; pad the fraction, add T and Z.
        template = "replace(substr(%(expressions)s || '.000000', 1, 26), ' ', 'T') || 'Z'"
        return self.as_sql(compiler, connection, template=template, **extra)


class EpochMicroseconds(Func):
    """A timestamp as integer microseconds since 1970 (UTC), exact: a trail's 43,200 rows arrive as
    integers instead of timezone-aware datetimes (28 ms of CPU to read as rows, against 185)."""

    output_field = BigIntegerField()
    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) * 1000000 AS bigint)"

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC: whole seconds, then the fraction's digits
        # (%%%%: Func formats the template, then the SQLite backend turns %% back into %).
        template = (
            "(CAST(strftime('%%%%s', %(expressions)s) AS INTEGER) * 1000000"
            " + CAST(substr(%(expressions)s || '.000000', 21, 6) AS INTEGER))"
        )
        return self.as_sql(compiler, connection, template=template, **extra)

    @property
    def convert_value(self):
        # Both drivers answer an int already: no converter call per row (43,200 in a month's trail).
        return self._convert_value_noop


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_from_microseconds(microseconds: int) -> str:
    """`EpochMicroseconds` back to the API's instant, `2026-11-26T10:00:00.000000Z` (as `IsoUtc`)."""
    return (_EPOCH + timedelta(microseconds=microseconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


LOCATION_FIELDS = ("timestamp", "latitude", "longitude", "nearest_city", "confidence")
NULLABLE_ORDERING = {"last_report_received", "battery_level"}


def _location_json(**extra: Any) -> Cast:
    # The database builds the JSON text; it reaches the response as an orjson.Fragment, unparsed.
    fields = {"timestamp": IsoUtc("timestamp"), **{name: F(name) for name in LOCATION_FIELDS[1:]}}
    return Cast(JSONObject(**extra, **fields), output_field=TextField())


def _latest() -> QuerySet:
    # One primary-key probe of tracker_latest_locations per tracker: no history access, so the
    # cost of the list follows the fleet, never the history's length.
    return TrackerLatestLocation.objects.filter(tracker=OuterRef("pk"))


def latest_location_subquery() -> Subquery:
    """The latest location as ONE JSON object per tracker: one probe, not five subqueries."""
    return Subquery(_latest().values(json=_location_json()), output_field=TextField())


def _order_by(ordering: str) -> list:
    name = ordering.lstrip("-")
    descending = ordering.startswith("-")
    # Never-reported trackers (and unknown batteries) sort last in both directions.
    if name in NULLABLE_ORDERING:
        first = OrderBy(F(name), descending=descending, nulls_last=True)
    else:
        first = OrderBy(F(name), descending=descending)
    if name == "id":
        return [first]
    return [first, OrderBy(F("id"), descending=descending)]


def scoped_trackers(scope: Scope) -> QuerySet:
    return scope.restrict(Tracker.objects.all(), "production_run__brand__client_id")


def filtered_trackers(scope: Scope, filters: TrackerFilters) -> QuerySet:
    """Trackers in scope that match the filters (not yet ordered, paged or shaped)."""
    queryset = scoped_trackers(scope)
    if filters.brand_ids:
        queryset = queryset.filter(production_run__brand_id__in=filters.brand_ids)
    if filters.production_run_ids:
        queryset = queryset.filter(production_run_id__in=filters.production_run_ids)
    if filters.statuses:
        queryset = queryset.filter(current_status__in=filters.statuses)
    if filters.search:
        # The latest location's city through a (left) join of the latest-location table: one hash
        # join for the whole fleet rather than a correlated probe per tracker.
        queryset = queryset.filter(
            Q(serial__icontains=filters.search)
            | Q(name__icontains=filters.search)
            | Q(latest__nearest_city__icontains=filters.search)
        )
    if filters.battery_max is not None:
        queryset = queryset.filter(battery_level__lte=filters.battery_max)
    if filters.silent_hours is not None:
        queryset = queryset.filter(
            Q(last_report_received__isnull=True) | Q(last_report_received__lte=filters.silent_before)
        )
    return queryset


# The columns of a tracker item, in order; `latest_location` last, when asked for.
TRACKER_COLUMNS = {
    "id": F("id"),
    "serial": F("serial"),
    "name": F("name"),
    "production_run_id": F("production_run_id"),
    "brand_id": F("production_run__brand_id"),
    "current_status": F("current_status"),
    "last_report_received": IsoUtc("last_report_received"),
    "battery_level": F("battery_level"),
}
TRACKER_KEYS = tuple(TRACKER_COLUMNS)


def _tracker_tuples(queryset: QuerySet, *, include_latest_location: bool) -> QuerySet:
    columns = dict(TRACKER_COLUMNS)
    if include_latest_location:
        columns["latest_location"] = latest_location_subquery()
    # Aliases that can't clash with model fields; rows come back as plain tuples.
    return queryset.values_list(*(expression for expression in columns.values()))


def ordered_tracker_rows(scope: Scope, filters: TrackerFilters) -> QuerySet:
    """Every matching tracker in the requested order, as tuples of `TRACKER_KEYS` (+ latest location)."""
    return _tracker_tuples(
        filtered_trackers(scope, filters).order_by(*_order_by(filters.ordering)),
        include_latest_location=filters.include_latest_location,
    )


def tracker_page_rows(scope: Scope, filters: TrackerFilters) -> QuerySet:
    """One page of matching trackers in the requested order, as tuples of `TRACKER_KEYS` (+ latest location).

    The page's ids come first from the cheap columns alone (the filters, the ordering keys and
    the id, with OFFSET/LIMIT), and only those rows get their latest location and JSON built:
    PostgreSQL evaluates a select list for every row an OFFSET skips, so annotating before
    paging made page k cost k pages' subqueries (page 15 of 1,000: 4.1× page 1).
    """
    ordering = _order_by(filters.ordering)
    offset = (filters.page - 1) * filters.size
    page_ids = filtered_trackers(scope, filters).order_by(*ordering).values("id")[offset : offset + filters.size]
    return _tracker_tuples(
        Tracker.objects.filter(id__in=page_ids).order_by(*ordering),
        include_latest_location=filters.include_latest_location,
    )


def _items(rows, *, include_latest_location: bool) -> list[dict]:
    """Tuples → items. The latest location is the database's JSON text, wrapped unparsed."""
    if not include_latest_location:
        return [dict(zip(TRACKER_KEYS, row)) for row in rows]
    keys = (*TRACKER_KEYS, "latest_location")
    fragment = orjson.Fragment
    return [dict(zip(keys, (*row[:-1], fragment(row[-1]) if row[-1] is not None else None))) for row in rows]


EMPTY_PAGE = {"items": [], "total": 0, "page": 1, "size": 0, "pages": 0}


def tracker_page_data(scope: Scope, filters: TrackerFilters) -> dict:
    """One page of trackers: `{"items", "total", "page", "size", "pages"}`.

    1. Lazy mode with no filter: the empty page, without touching the trackers table.
    2. One query for the page's rows (`tracker_page_rows`: ids first, then the latest location,
       one correlated subquery over the latest-location table, for those rows only).
    3. A COUNT only when the page can't tell the total: a partial page is the last one (total =
       offset + its rows; the common case of a filter that fits one page); a full page or an
       empty one past the first needs the COUNT.

    `latest_location` values are `orjson.Fragment`s (JSON text from the database): encode
    the result with orjson, or use `tracker_page()`.
    """
    if filters.is_lazy_empty:
        return dict(EMPTY_PAGE)
    if scope.is_empty:
        return {"items": [], "total": 0, "page": filters.page, "size": filters.size, "pages": 0}
    offset = (filters.page - 1) * filters.size
    rows = list(tracker_page_rows(scope, filters))
    if 0 < len(rows) < filters.size or (not rows and offset == 0):
        total = offset + len(rows)
    else:
        total = filtered_trackers(scope, filters).count()
    pages = math.ceil(total / filters.size) if total else 0
    items = _items(rows, include_latest_location=filters.include_latest_location)
    return {"items": items, "total": total, "page": filters.page, "size": filters.size, "pages": pages}


@dataclass
class CachedAnswer:
    """One answer of the query cache (the list's page, the map's positions): its version (the ETag)
    and its entry, which share the lookup of the production runs it covers (the reference cache's)."""

    name: str
    scope: Scope
    filters: TrackerFilters
    compute: Callable[[], bytes]
    # A small answer (a few bytes): its tag and its entry come from ONE read of the query cache (the
    # generations and the entry together). A large one reads the generations alone for its tag, so a
    # 304 never fetches the body it does not send.
    one_read: bool = False

    @property
    def built_without_cache(self) -> bool:
        """Lazy mode without a filter and an empty scope are answered without the database."""
        return self.filters.is_lazy_empty or self.scope.is_empty

    @cached_property
    def _entry(self) -> dict:
        """What names its query-cache entry: the key and the scopes it covers."""
        return {
            "name": self.name,
            "key": f"{self.scope.key}|{self.filters.key()}",
            "scopes": [("production_run", run_id) for run_id in covered_production_runs(self.scope, self.filters)],
        }

    def tag(self) -> str | None:
        """Its version now, from the query cache's generations: no tracker query. The answers built
        without the database are tagged by their bytes. None when the cache can't tell (off, away)."""
        if self.built_without_cache:
            return content_tag(self.entry.plain)
        if not cache_layer.query.enabled():
            return None
        if self.one_read:
            found = self._lookup
            if found is None:
                return None
            return cache_layer.query.tag_of(name=self.name, key=self._entry["key"], seen=found.generations)
        return cache_layer.query.tag(**self._entry)

    @cached_property
    def _lookup(self) -> cache_layer.query.Lookup | None:
        return cache_layer.query.lookup(**self._entry)

    @cached_property
    def entry(self) -> cache_layer.query.Entry:
        """The JSON body, from the query cache while none of the production runs it covers has been
        written since (at most TRACKER_QUERY_CACHE_TTL seconds); as stored (gzip from 1 KB: send
        `entry.body` with `Content-Encoding: entry.encoding`)."""
        if self.built_without_cache or not cache_layer.query.enabled():
            return cache_layer.query.Entry(self.compute())
        found = self._lookup if self.one_read else None  # read with the tag, before the answer
        return cache_layer.query.get_or_compute(**self._entry, compute=self.compute, found=found)


def content_tag(body: bytes) -> str:
    """The version of a body that is built without the database: its bytes' digest."""
    return hashlib.sha256(body).hexdigest()[:32]


def tracker_page(scope: Scope, filters: TrackerFilters) -> CachedAnswer:
    """The answer of `GET /api/trackers/` (cached per scope and filters)."""
    return CachedAnswer("trackers", scope, filters, lambda: orjson.dumps(tracker_page_data(scope, filters)))


POSITION_KEYS = ("id", "latitude", "longitude", "status", "timestamp")
COORDINATE_DECIMALS = 5  # about 1 m: what a map can show, and fewer bytes than the full float


class Coordinate(Func):
    """A coordinate rounded to COORDINATE_DECIMALS by the database (a Python `round()` per value
    cost ~13 % of the feed at 15,000 trackers); through numeric, so 0.5 rounds as written."""

    output_field = FloatField()
    template = f"CAST(ROUND(CAST(%(expressions)s AS numeric), {COORDINATE_DECIMALS}) AS double precision)"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=f"ROUND(%(expressions)s, {COORDINATE_DECIMALS})", **extra)

    @property
    def convert_value(self):
        # The driver already answers a float: no per-value converter (30,000 calls at 15,000 trackers).
        return self._convert_value_noop


def tracker_position_rows(scope: Scope, filters: TrackerFilters) -> QuerySet:
    """(id, latitude, longitude, status, ISO timestamp) of each matching tracker that has a latest
    location, by id: the filtered trackers joined to their latest locations, never the history."""
    return (
        filtered_trackers(scope, filters)
        .filter(latest__isnull=False)
        .order_by("id")
        .values_list(
            "id",
            Coordinate("latest__latitude"),
            Coordinate("latest__longitude"),
            "current_status",
            IsoUtc("latest__timestamp"),
        )
    )


def tracker_positions_data(scope: Scope, filters: TrackerFilters) -> dict:
    """Every tracker matching `filters` (the list's, without paging) that has a latest location,
    ordered by id, as columns: `{"total": N, "id": [...], "latitude": [...], "longitude": [...],
    "status": [...], "timestamp": [...]}`, each list N long.

    One query: the filtered trackers joined to their latest locations (no history access).
    Lazy mode with no filter: N = 0 without touching the trackers table.
    """
    columns: list[list] = [[] for _ in POSITION_KEYS]
    if not (filters.is_lazy_empty or scope.is_empty):
        if rows := list(tracker_position_rows(scope, filters)):
            columns = [list(column) for column in zip(*rows)]
    return {"total": len(columns[0]), **dict(zip(POSITION_KEYS, columns))}


def tracker_positions(scope: Scope, filters: TrackerFilters) -> CachedAnswer:
    """The answer of `GET /api/trackers/positions/`, cached (and versioned) exactly like the list."""
    filters = filters.without_paging()
    return CachedAnswer("positions", scope, filters, lambda: orjson.dumps(tracker_positions_data(scope, filters)))


# --- Attention ---------------------------------------------------------------------------

ATTENTION_KEYS = ("low_battery", "silent", "never_reported")


def attention_filters(*, now: float | None = None) -> TrackerFilters:
    """What `GET /api/attention/` counts, in the list's terms (each count is the total of the list
    with that one filter): a battery at or below LOW_BATTERY_PERCENT, no report for SILENT_AFTER_HOURS
    counted back from the clock's minute. Its cache key, so a changed setting or minute is a new entry."""
    return TrackerFilters(
        battery_max=settings.LOW_BATTERY_PERCENT, silent_hours=settings.SILENT_AFTER_HOURS, as_of=silent_clock(now)
    )


def attention_counts(scope: Scope, filters: TrackerFilters) -> dict[str, int]:
    """`{"low_battery", "silent", "never_reported"}` of the trackers in `scope`, in ONE query (a
    filtered COUNT each): low battery is `battery_max`'s list, silent `silent_hours`'s (never-reported
    trackers included), never reported those with no report at all."""
    if scope.is_empty:
        return dict.fromkeys(ATTENTION_KEYS, 0)
    never = Q(last_report_received__isnull=True)
    counts = scoped_trackers(scope).aggregate(
        low_battery=Count("id", filter=Q(battery_level__lte=filters.battery_max)),
        silent=Count("id", filter=never | Q(last_report_received__lte=filters.silent_before)),
        never_reported=Count("id", filter=never),
    )
    return {key: counts[key] for key in ATTENTION_KEYS}


def attention(scope: Scope, *, now: float | None = None) -> CachedAnswer:
    """The answer of `GET /api/attention/`: cached (and versioned) like the list, over every production
    run in scope (an ingest into any of them makes it stale), and keyed to the clock's minute."""
    filters = attention_filters(now=now)

    def compute() -> bytes:
        return orjson.dumps(attention_counts(scope, filters))

    return CachedAnswer("attention", scope, filters, compute, one_read=True)


def covered_production_runs(scope: Scope, filters: TrackerFilters) -> list[int]:
    """Every production run whose trackers `filters` can match in `scope`, from the reference cache
    (status and search can match in any run)."""
    runs = scoped_reference(scope, "production_runs")
    if filters.production_run_ids:
        runs = [run for run in runs if run["id"] in filters.production_run_ids]
    if filters.brand_ids:
        runs = [run for run in runs if run["brand_id"] in filters.brand_ids]
    return [run["id"] for run in runs]


# What one tracker's answer adds to a list item: where it is kept and where it goes (the
# dashboard's tracker panel names them from the reference data it already holds).
TRACKER_DETAIL_COLUMNS = {
    "storage_location_id": F("storage_location_id"),
    "delivery_location_id": F("delivery_location_id"),
}


def tracker_detail(scope: Scope, tracker_id: int) -> bytes | None:
    """The JSON body of one tracker in scope: a list item with its storage and delivery location
    ids, or None (outside scope or missing). One query."""
    if not 0 < tracker_id <= MAX_ID:
        return None
    columns = {**TRACKER_COLUMNS, **TRACKER_DETAIL_COLUMNS, "latest_location": latest_location_subquery()}
    row = scoped_trackers(scope).filter(pk=tracker_id).values_list(*columns.values()).first()
    if row is None:
        return None
    item = dict(zip(columns, row))
    if item["latest_location"] is not None:
        item["latest_location"] = orjson.Fragment(item["latest_location"])  # the database's JSON text
    return orjson.dumps(item)


# Rows a history page's `total` counts past the page itself (about 100 days at one report per 15 minutes).
HISTORY_TOTAL_LOOKAHEAD = 10_000


def tracker_history_page(
    scope: Scope,
    tracker_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    size: int = DEFAULT_PAGE_SIZE,
) -> bytes | None:
    """The JSON body of a tracker's location history, newest first, paginated; None when out of scope.

    `since`/`until` are plain comparisons on the partition key, so PostgreSQL reads only the
    partitions of the range. The page is read first; a page that is not full and has rows (or is
    page 1) tells the total itself. Otherwise a COUNT runs, of at most HISTORY_TOTAL_LOOKAHEAD
    rows past the page: exact for any range up to that, a lower bound beyond (that grows as the
    client pages on), so a one-day page never counts a year of history.
    """
    if not 0 < tracker_id <= MAX_ID or not scoped_trackers(scope).filter(pk=tracker_id).exists():
        return None
    queryset = LocationHistory.objects.filter(tracker_id=tracker_id)
    if since is not None:
        queryset = queryset.filter(timestamp__gte=since)
    if until is not None:
        queryset = queryset.filter(timestamp__lte=until)
    offset = (page - 1) * size
    rows = queryset.order_by("-timestamp", "-id").values_list(_location_json(id=F("id")), flat=True)
    items = [orjson.Fragment(row) for row in rows[offset : offset + size]]
    if len(items) < size and (items or page == 1):
        total = offset + len(items)
    else:
        total = queryset.order_by()[: offset + size + HISTORY_TOTAL_LOOKAHEAD].count()
    pages = math.ceil(total / size) if total else 0
    return orjson.dumps({"items": items, "total": total, "page": page, "size": size, "pages": pages})


TRAIL_DEFAULT_PERIOD = timedelta(hours=24)  # the period of a trail asked for without `since`
# Dropped points lie within this of where the simplified trail puts the tracker at their instant
# (dashboard.simplification): about a pixel at zoom 15, well under a GPS fix's own error.
TRAIL_TOLERANCE_M = 5.0
# The most reports one trail reads (139 days at one a minute): a longer period is a 400, so one
# request can't pull years of history into a worker's memory.
MAX_TRAIL_REPORTS = 200_000


class TrailTooLong(Exception):
    """The period holds more than MAX_TRAIL_REPORTS reports."""


class JSONList(Aggregate):
    """A column's values as one JSON array (text): a trail's 43,200 reports reach Python as three
    flat lists, not 43,200 row tuples (8 ms of the web process's CPU against 28 for rows: no row
    objects, no garbage collection over them). Aggregated over an ordered subquery, which
    PostgreSQL reads in index order with no sort (an ORDER BY inside each aggregate sorts once per
    column) and SQLite 3.40, which has no ORDER BY inside an aggregate, runs too; neither promises
    to keep that order, so the caller checks it (`in_time_order`)."""

    function = "json_agg"
    template = "CAST(%(function)s(%(expressions)s) AS text)"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler, connection, function="json_group_array", template="%(function)s(%(expressions)s)", **extra
        )


def in_time_order(times: list, *columns: list) -> tuple[list, ...]:
    """`times` and its parallel `columns` sorted by time (a no-op, one pass, when they already are)."""
    if times == sorted(times):
        return (times, *columns)
    order = sorted(range(len(times)), key=times.__getitem__)
    return tuple([column[index] for index in order] for column in (times, *columns))


def trail_columns(reports: QuerySet) -> tuple[list[int], list[float], list[float]]:
    """(instants as microseconds since 1970, latitudes, longitudes) of `reports`, oldest first, in
    one query; `TrailTooLong` past MAX_TRAIL_REPORTS."""
    # Sliced, the ordered query becomes the aggregate's subquery and keeps its ORDER BY.
    columns = reports.order_by("timestamp")[: MAX_TRAIL_REPORTS + 1].aggregate(
        times=JSONList(EpochMicroseconds("timestamp")), latitudes=JSONList("latitude"), longitudes=JSONList("longitude")
    )
    if columns["times"] is None:  # no report in the period
        return [], [], []
    times, latitudes, longitudes = in_time_order(
        *(orjson.loads(columns[name]) for name in ("times", "latitudes", "longitudes"))
    )
    if len(times) > MAX_TRAIL_REPORTS:
        raise TrailTooLong()
    return times, latitudes, longitudes


def tracker_trail(
    scope: Scope,
    tracker_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    max_points: int = DEFAULT_TRAIL_POINTS,
) -> bytes | None:
    """The JSON body of a tracker's trail for the map, or None when it is out of scope:
    `{"points": [{timestamp, latitude, longitude}, …], "reports": N, "simplified": bool}`;
    `TrailTooLong` when the period holds more than MAX_TRAIL_REPORTS reports.

    1. The reports of `since` ≤ timestamp ≤ `until` (no `since`: the TRAIL_DEFAULT_PERIOD before
       `until`, or before now), oldest first: one query over the partitions of the period, in
       the (tracker, timestamp) index's order, that answers three JSON arrays (instants as
       integer microseconds, latitudes, longitudes). A tracker has one report per instant (the
       unique constraint): no tie to break, and a tiebreaker would cost a sort.
    2. Simplified to at most `max_points`, within TRAIL_TOLERANCE_M where the budget allows, the
       first and the last report always kept; `simplified` says whether any report was dropped.
    3. Coordinates rounded to COORDINATE_DECIMALS (about 1 m, as the positions feed).
    """
    if not 0 < tracker_id <= MAX_ID or not scoped_trackers(scope).filter(pk=tracker_id).exists():
        return None
    if since is None:
        try:
            since = (until or timezone.now()) - TRAIL_DEFAULT_PERIOD
        except OverflowError:  # `until` in the first day of year 1
            since = datetime.min.replace(tzinfo=UTC)
    reports = LocationHistory.objects.filter(tracker_id=tracker_id, timestamp__gte=since)
    if until is not None:
        reports = reports.filter(timestamp__lte=until)
    times, latitudes, longitudes = trail_columns(reports)
    kept = simplify(times, latitudes, longitudes, max_points=max_points, tolerance_m=TRAIL_TOLERANCE_M)
    points = [
        {
            "timestamp": iso_from_microseconds(times[index]),
            "latitude": round(latitudes[index], COORDINATE_DECIMALS),
            "longitude": round(longitudes[index], COORDINATE_DECIMALS),
        }
        for index in kept
    ]
    return orjson.dumps({"points": points, "reports": len(times), "simplified": len(kept) < len(times)})


EXPORT_COLUMNS = (
    *TRACKER_KEYS,
    "latest_timestamp",
    "latest_latitude",
    "latest_longitude",
    "latest_nearest_city",
    "latest_confidence",
)


def tracker_export_rows(scope: Scope, filters: TrackerFilters, *, chunk_size: int = 2000) -> Iterator[list]:
    """Every tracker matching the filters (no paging), as CSV rows in `EXPORT_COLUMNS` order.

    Streams from a server-side cursor (`.iterator()`), so memory stays constant.
    """
    if scope.is_empty:
        return
    queryset = ordered_tracker_rows(scope, replace(filters, include_latest_location=True))
    blank = {}
    for *tracker, location_json in queryset.iterator(chunk_size=chunk_size):
        location = orjson.loads(location_json) if location_json else blank
        yield [
            *("" if value is None else value for value in tracker),
            *("" if location.get(key) is None else location[key] for key in LOCATION_FIELDS),
        ]


# --- Live stream -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveTracker:
    """A tracker as the live stream matches it against a stream's scope and filters (the same
    conditions as `filtered_trackers`, in memory), and the digest of its list item."""

    id: int
    client_id: int | None
    brand_id: int
    production_run_id: int
    current_status: str
    serial: str
    name: str
    nearest_city: str
    digest: int  # hash of the item's JSON: an entry that changed nothing a list shows sends nothing
    battery_level: int | None = None
    last_report: float | None = None  # last_report_received in epoch seconds (None: never reported)

    def matches(self, scope: Scope, filters: TrackerFilters, *, now: float | None = None) -> bool:
        """`silent_hours` counts back from `now` (default: the wall clock), not from the filters' `as_of`:
        a stream stays open for hours, and each change is judged when it happens."""
        if filters.is_lazy_empty or not scope.allows(self.client_id):
            return False
        if filters.battery_max is not None and (self.battery_level is None or self.battery_level > filters.battery_max):
            return False
        if filters.silent_hours is not None and self.last_report is not None:
            if self.last_report > (wall_clock() if now is None else now) - filters.silent_hours * 3600:
                return False
        if filters.brand_ids and self.brand_id not in filters.brand_ids:
            return False
        if filters.production_run_ids and self.production_run_id not in filters.production_run_ids:
            return False
        if filters.statuses and self.current_status not in filters.statuses:
            return False
        if filters.search:
            needle = filters.search.casefold()
            return needle in self.serial or needle in self.name or needle in self.nearest_city
        return True


LIVE_CHUNK = 5000  # ids per query: SQLite's limit of bound parameters is 32,766


def live_trackers(ids: Iterable[int] | None) -> dict[int, tuple[LiveTracker, bytes, bytes]]:
    """Trackers by id (None: every tracker), unscoped: `(LiveTracker, item JSON, item JSON without
    latest_location)`, the items exactly the list's. One query per LIVE_CHUNK ids."""
    columns = {**TRACKER_COLUMNS, "client_id": F("production_run__brand__client_id")}
    columns["latest_location"] = latest_location_subquery()
    queryset = Tracker.objects.order_by().values_list(*columns.values())
    if ids is None:
        batches = [queryset]
    else:
        ordered = sorted(ids)
        batches = [queryset.filter(id__in=ordered[i : i + LIVE_CHUNK]) for i in range(0, len(ordered), LIVE_CHUNK)]
    found = {}
    for batch in batches:
        for row in batch:
            *item_values, client_id, location_json = row
            item = dict(zip(TRACKER_KEYS, item_values))
            bare = orjson.dumps(item)
            item["latest_location"] = orjson.Fragment(location_json) if location_json is not None else None
            full = orjson.dumps(item)
            city = orjson.loads(location_json).get("nearest_city") or "" if location_json else ""
            reported = item["last_report_received"]
            tracker = LiveTracker(
                id=item["id"],
                client_id=client_id,
                brand_id=item["brand_id"],
                production_run_id=item["production_run_id"],
                current_status=item["current_status"],
                serial=item["serial"].casefold(),
                name=item["name"].casefold(),
                nearest_city=city.casefold(),
                battery_level=item["battery_level"],
                last_report=datetime.fromisoformat(reported).timestamp() if reported else None,
                digest=hash(full),
            )
            found[tracker.id] = (tracker, full, bare)
    return found


def fleet_for_simulation() -> list[dict]:
    """Every tracker with where it is (its latest location, else its storage location) and where it
    is headed (its delivery location): what `manage.py simulate_fleet` moves. One query."""
    rows = Tracker.objects.order_by("id").values(
        "id",
        "serial",
        "current_status",
        "battery_level",
        "storage_location__latitude",
        "storage_location__longitude",
        "delivery_location__latitude",
        "delivery_location__longitude",
        latest_json=latest_location_subquery(),
    )
    fleet = []
    for row in rows:
        latest = orjson.loads(row["latest_json"]) if row["latest_json"] else None
        fleet.append(
            {
                "id": row["id"],
                "serial": row["serial"],
                "status": row["current_status"],
                "battery": row["battery_level"],
                "position": (latest["latitude"], latest["longitude"])
                if latest
                else (row["storage_location__latitude"], row["storage_location__longitude"]),
                "destination": (row["delivery_location__latitude"], row["delivery_location__longitude"]),
                "last_report": latest["timestamp"] if latest else None,
            }
        )
    return fleet


def known_places() -> list[tuple[str, float, float]]:
    """(city, latitude, longitude) of every storage and delivery location: the simulator's nearest cities."""
    places = StorageLocation.objects.order_by().values_list("city", "latitude", "longitude")
    return list(places.union(DeliveryLocation.objects.order_by().values_list("city", "latitude", "longitude")))
