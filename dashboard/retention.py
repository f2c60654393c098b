"""How far back location history reaches: the retention window and the oldest report ingest accepts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings


def retention_cutoff(now: datetime) -> datetime | None:
    """History older than this may be removed; None when HISTORY_RETENTION_DAYS is 0 (kept forever)."""
    days = settings.HISTORY_RETENTION_DAYS
    return now - timedelta(days=days) if days > 0 else None


def report_age_limit() -> tuple[int, str]:
    """(days, setting): how old a report may be and the setting that says so. A report older than
    the retention window is refused too: it would be stored only to be dropped within the hour."""
    days = settings.REPORT_MAX_AGE_DAYS
    if 0 < settings.HISTORY_RETENTION_DAYS < days:
        return settings.HISTORY_RETENTION_DAYS, "HISTORY_RETENTION_DAYS"
    return days, "REPORT_MAX_AGE_DAYS"


def oldest_accepted_report(now: datetime) -> datetime:
    return now - timedelta(days=report_age_limit()[0])


def too_old_message() -> str:
    days, setting = report_age_limit()
    return f"Reports older than {days} days ({setting}) are refused."
