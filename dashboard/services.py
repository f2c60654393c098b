"""Writes: location-report ingest and user preferences. Keyword-only, atomic, return what they made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When

import cache_layer
from dashboard.models import LocationHistory, Tracker, TrackerLatestLocation, UserProfile


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    # The runs whose trackers got new history: the query cache drops their cached results.
    production_run_ids: frozenset[int] = field(default_factory=frozenset)


class IngestRejected(Exception):
    """A batch with bad rows: `errors` maps each bad row's index to `{field: [message]}`."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]):
        super().__init__(f"{len(errors)} bad row(s)")
        self.errors = errors


@transaction.atomic
def location_reports_ingest(*, reports: list[dict]) -> IngestResult:
    """Store a batch of validated reports whole or not at all.

    1. Resolve serials to trackers in one query; unknown serials reject the whole batch.
    2. Insert all but exact repeats (same tracker and instant) of stored reports or of earlier
       rows in the batch: those are counted as duplicates (`_insert_new`).
    3. Move each touched tracker's `last_report_received` to its newest stored report, in
       one UPDATE that never moves it backwards (an older report only lands in history).

    The insert itself moves `TrackerLatestLocation` forward (never backwards), in this
    transaction: the database's triggers on location_history do it for every write path, so no
    Python code here (or anywhere) writes that table.
    """
    serials = {report["tracker"] for report in reports}
    trackers = {
        serial: (tracker_id, run_id)
        for serial, tracker_id, run_id in Tracker.objects.filter(serial__in=serials).values_list(
            "serial", "id", "production_run_id"
        )
    }
    unknown = {
        index: {"tracker": [f"No tracker with serial {report['tracker']!r}."]}
        for index, report in enumerate(reports)
        if report["tracker"] not in trackers
    }
    if unknown:
        raise IngestRejected(unknown)

    rows = [
        (
            trackers[report["tracker"]][0],
            report["timestamp"],
            report["latitude"],
            report["longitude"],
            report.get("nearest_city") or "",
            report.get("confidence"),
        )
        for report in reports
    ]
    inserted = _insert_new(rows)
    run_of = dict(trackers.values())
    touched = set(inserted)
    run_ids = {run_of[tracker_id] for tracker_id in touched}
    if touched:
        # The insert's trigger has already moved each tracker's latest location: read it there
        # (a primary-key probe) rather than probing the history again.
        newest = Subquery(TrackerLatestLocation.objects.filter(tracker=OuterRef("pk")).values("timestamp"))
        Tracker.objects.filter(id__in=touched).filter(
            Q(last_report_received__isnull=True) | Q(last_report_received__lt=newest)
        ).declare_scopes("production_run", run_ids).declare_rows("tracker").update(last_report_received=newest)
        _battery_levels_update(reports=reports, trackers=trackers, touched=touched, run_ids=run_ids)
    # The runs written to: their query-cache entries go stale at commit (one round trip per batch);
    # the trackers written to: one entry of the live feed.
    cache_layer.scopes_changed("production_run", run_ids)
    cache_layer.rows_changed("tracker", touched)
    return IngestResult(
        accepted=len(inserted), duplicates=len(reports) - len(inserted), production_run_ids=frozenset(run_ids)
    )


def _battery_levels_update(*, reports: list[dict], trackers: dict, touched: set[int], run_ids: set[int]) -> None:
    """The battery level of each tracker's newest report, when that report is now the tracker's newest
    (an older report leaves the battery alone): one UPDATE for the batch."""
    newest: dict[int, tuple[datetime, int]] = {}
    for report in reports:
        tracker_id = trackers[report["tracker"]][0]
        if report.get("battery_level") is None or tracker_id not in touched:
            continue
        if tracker_id not in newest or report["timestamp"] > newest[tracker_id][0]:
            newest[tracker_id] = (report["timestamp"], report["battery_level"])
    if not newest:
        return
    battery = Case(
        *(When(id=tracker, last_report_received=at, then=Value(level)) for tracker, (at, level) in newest.items()),
        default=F("battery_level"),
        output_field=Tracker._meta.get_field("battery_level"),
    )
    Tracker.objects.filter(id__in=newest).declare_scopes("production_run", run_ids).declare_rows("tracker").update(
        battery_level=battery
    )


# (tracker_id, timestamp, latitude, longitude, nearest_city, confidence)
ReportRow = tuple[int, datetime, float, float, str, float | None]

_INSERT_NEW_POSTGRESQL = """
    INSERT INTO location_history (tracker_id, "timestamp", latitude, longitude, nearest_city, confidence)
    SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[], %s::float8[], %s::text[], %s::float8[])
    ON CONFLICT (tracker_id, "timestamp") DO NOTHING
    RETURNING tracker_id
"""


def _insert_new(rows: list[ReportRow]) -> list[int]:
    """Insert the rows that are not exact repeats (same tracker and instant) of stored rows or of
    earlier rows in the batch; return the tracker id of each row inserted.

    PostgreSQL: one `INSERT ... SELECT FROM unnest(<6 arrays>) ON CONFLICT DO NOTHING RETURNING`:
    no lookup of stored instants, no model instances, 6 parameters instead of 6 per row (a
    1,000-row batch: ~20 ms less than `bulk_create`). A concurrent batch that stored the same
    instant first makes it a duplicate, not an error.
    """
    unique: dict[tuple[int, datetime], ReportRow] = {}
    for row in rows:
        unique.setdefault((row[0], row[1]), row)  # the first of repeats within the batch wins
    if not unique:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_NEW_POSTGRESQL, [list(column) for column in zip(*unique.values())])
            return [tracker_id for (tracker_id,) in cursor.fetchall()]
    seen = set(
        LocationHistory.objects.filter(
            tracker_id__in={tracker_id for tracker_id, _ in unique}, timestamp__in={instant for _, instant in unique}
        ).values_list("tracker_id", "timestamp")
    )
    new_rows = [
        LocationHistory(
            tracker_id=tracker_id,
            timestamp=timestamp,
            latitude=latitude,
            longitude=longitude,
            nearest_city=nearest_city,
            confidence=confidence,
        )
        for key, (tracker_id, timestamp, latitude, longitude, nearest_city, confidence) in unique.items()
        if key not in seen
    ]
    # ignore_conflicts: a concurrent batch that stored the same instant first is not an error.
    # The caller moves the runs' query-cache scopes itself (one round trip for the batch).
    LocationHistory.objects.declare_scopes("production_run", ()).declare_rows("tracker").bulk_create(
        new_rows, batch_size=1000, ignore_conflicts=True
    )
    return [row.tracker_id for row in new_rows]


@transaction.atomic
def user_preferences_update(*, user, prefers_full_load: bool) -> UserProfile:
    profile, _ = UserProfile.objects.select_for_update().get_or_create(user=user)
    profile.prefers_full_load = prefers_full_load
    profile.save(update_fields=["prefers_full_load"])
    user.profile = profile  # later reads in this request see the new value
    return profile
