"""Writes: location-report ingest and user preferences. Keyword-only, atomic, return what they made."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery

from dashboard.models import LocationHistory, Tracker, UserProfile


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
    2. Drop exact repeats (same tracker and instant) of stored reports or of earlier rows in
       the batch: they are counted as duplicates.
    3. Bulk-insert the rest.
    4. Move each touched tracker's `last_report_received` to its newest stored report, in
       one UPDATE that never moves it backwards (an older report only lands in history).
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

    tracker_ids = {tracker_id for tracker_id, _ in trackers.values()}
    seen = set(
        LocationHistory.objects.filter(
            tracker_id__in=tracker_ids, timestamp__in={report["timestamp"] for report in reports}
        ).values_list("tracker_id", "timestamp")
    )
    new_rows: list[LocationHistory] = []
    run_ids: set[int] = set()
    for report in reports:
        tracker_id, run_id = trackers[report["tracker"]]
        instant = (tracker_id, report["timestamp"])
        if instant in seen:
            continue
        seen.add(instant)
        run_ids.add(run_id)
        new_rows.append(
            LocationHistory(
                tracker_id=tracker_id,
                timestamp=report["timestamp"],
                latitude=report["latitude"],
                longitude=report["longitude"],
                nearest_city=report.get("nearest_city") or "",
                confidence=report.get("confidence"),
            )
        )
    # ignore_conflicts: a concurrent batch that stored the same instant first is not an error.
    LocationHistory.objects.bulk_create(new_rows, batch_size=1000, ignore_conflicts=True)

    touched = {row.tracker_id for row in new_rows}
    if touched:
        newest = Subquery(
            LocationHistory.objects.filter(tracker=OuterRef("pk")).order_by("-timestamp").values("timestamp")[:1]
        )
        Tracker.objects.filter(id__in=touched).filter(
            Q(last_report_received__isnull=True) | Q(last_report_received__lt=newest)
        ).update(last_report_received=newest)
    return IngestResult(
        accepted=len(new_rows), duplicates=len(reports) - len(new_rows), production_run_ids=frozenset(run_ids)
    )


@transaction.atomic
def user_preferences_update(*, user, prefers_full_load: bool) -> UserProfile:
    profile, _ = UserProfile.objects.select_for_update().get_or_create(user=user)
    profile.prefers_full_load = prefers_full_load
    profile.save(update_fields=["prefers_full_load"])
    user.profile = profile  # later reads in this request see the new value
    return profile
