"""Writes: location-report ingest, clients' ingest tokens, user preferences.

Keyword-only, atomic, return what they made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone
from rest_framework.authtoken.models import Token

import cache_layer
from dashboard import history_partitions, queries, retention
from dashboard.models import Client, LocationHistory, Tracker, TrackerLatestLocation, UserProfile
from dashboard.scope import ALL, Scope


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
def location_reports_ingest(*, reports: list[dict], scope: Scope = ALL) -> IngestResult:
    """Store a batch of validated reports whole or not at all, for trackers in `scope` only.

    The API passes the caller's scope (staff: all; a client's ingest token: its client's
    trackers); programs of the project itself (simulators, benchmarks) write everywhere.

    1. Resolve serials to trackers in scope in one query; any other serial rejects the whole
       batch with the same error whether the tracker is another client's or does not exist
       (no oracle of other clients' serials).
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
        for serial, tracker_id, run_id in queries.scoped_trackers(scope)
        .filter(serial__in=serials)
        .values_list("serial", "id", "production_run_id")
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


@dataclass(frozen=True)
class HistoryMaintenance:
    created: list[str]  # partitions made (PostgreSQL)
    dropped: list[str]  # partitions dropped (PostgreSQL)
    deleted: int  # rows deleted: SQLite's whole history, or strays in PostgreSQL's default partition
    partitions: int  # monthly partitions after the run (0 on SQLite)
    oldest: datetime | None  # the oldest report kept


# Partitions exist this many months past the current one, so a report never waits for one.
MONTHS_AHEAD = 3
# Two runs at once (a slow run overlapping the next hour's) must not race on the same DDL.
_MAINTAIN_LOCK_KEY = 0x7472_6B68_6973  # "trkhis"


def location_history_maintain(*, now: datetime | None = None) -> HistoryMaintenance | None:
    """One run of `manage.py maintain_history`; None when another run holds the lock.

    PostgreSQL (partitioned location_history):
    1. Create the month partitions from the oldest month ingest accepts reports for to
       MONTHS_AHEAD months ahead (idempotent: existing ones are left alone).
    2. Drop each partition whose whole month ends before now - HISTORY_RETENTION_DAYS (none
       when 0), and delete the default partition's strays that old. Each DDL is its own short
       transaction, waiting at most 50 ms for its lock (history_partitions._ddl), so it is not
       one atomic service: a run stopped half-way is finished by the next.
    No query-cache entry reads the history (the lists read tracker_latest_locations), so a
    drop, which fires no trigger, has nothing to invalidate.
    SQLite (plain table): DELETE the rows older than the window, except each tracker's latest
    report: there the latest-location row follows a deleted history row (its triggers), and
    retention never loses a tracker's last known location.
    Trackers, their last_report_received and their latest location are never touched.
    """
    now = now or timezone.now()
    cutoff = retention.retention_cutoff(now)
    if not history_partitions.is_partitioned():
        deleted = 0
        if cutoff is not None:
            deleted, _ = (
                LocationHistory.objects.filter(timestamp__lt=cutoff)
                .exclude(id__in=TrackerLatestLocation.objects.values("history_id"))
                .delete()
            )
        oldest = LocationHistory.objects.order_by("timestamp").values_list("timestamp", flat=True).first()
        return HistoryMaintenance(created=[], dropped=[], deleted=deleted, partitions=0, oldest=oldest)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_MAINTAIN_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return None
    try:
        created = []
        first = history_partitions.month_start(retention.oldest_accepted_report(now))
        month, last = first, history_partitions.add_months(history_partitions.month_start(now), MONTHS_AHEAD)
        while month <= last:
            if history_partitions.partition_create(month):
                created.append(history_partitions.partition_name(month))
            month = history_partitions.add_months(month, 1)
        dropped, deleted = [], 0
        if cutoff is not None:
            for partition in history_partitions.monthly_partitions():
                if partition.end <= cutoff:
                    history_partitions.partition_drop(partition)
                    dropped.append(partition.name)
            deleted = history_partitions.default_partition_prune(before=cutoff)
        partitions = len(history_partitions.monthly_partitions())
        oldest = history_partitions.oldest_timestamp()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_MAINTAIN_LOCK_KEY])
    return HistoryMaintenance(created=created, dropped=dropped, deleted=deleted, partitions=partitions, oldest=oldest)


@transaction.atomic
def user_preferences_update(*, user, prefers_full_load: bool) -> UserProfile:
    profile, _ = UserProfile.objects.select_for_update().get_or_create(user=user)
    profile.prefers_full_load = prefers_full_load
    profile.save(update_fields=["prefers_full_load"])
    user.profile = profile  # later reads in this request see the new value
    return profile


@transaction.atomic
def ingest_token_create(*, client: Client, username: str) -> Token:
    """A token that ingests reports for `client`'s trackers only; returns it (its `key` is the secret).

    Makes the user if it does not exist (no usable password: it logs in by token only), puts it
    in `client`'s scope and grants `dashboard.ingest_location_reports`. An existing user keeps
    its token; a user of another client, or staff (who writes every client's), is refused.
    """
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if user.is_staff:
        raise IngestTokenRefused(f"{username!r} is staff: its token would write every client's trackers.")
    profile, _ = UserProfile.objects.select_for_update().get_or_create(user=user)
    if profile.client_id not in (None, client.pk):
        raise IngestTokenRefused(f"{username!r} belongs to another client.")
    if profile.client_id is None:
        profile.client = client
        profile.save(update_fields=["client"])
    user.user_permissions.add(
        Permission.objects.get(codename="ingest_location_reports", content_type__app_label="dashboard")
    )
    token, _ = Token.objects.get_or_create(user=user)
    return token


class IngestTokenRefused(Exception):
    """The user named for a client's ingest token can't be given one (its message says why)."""
