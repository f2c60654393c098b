"""Builders of tenant data for the API tests: a client's brand, run, trackers and history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from model_bakery import baker

from dashboard.models import Brand, Client, LocationHistory, ProductionRun, Tracker


@dataclass
class Fleet:
    client: Client
    brand: Brand
    run: ProductionRun
    trackers: list[Tracker]
    storage: object
    delivery: object
    image: object


def make_fleet(client: Client, *, trackers: int = 3, prefix: str = "A") -> Fleet:
    image = baker.make("dashboard.Image", client=client, title=f"{prefix} logo", url=f"https://img.test/{prefix}.png")
    brand = baker.make(Brand, client=client, name=f"{prefix} brand", logo=image)
    run = baker.make(ProductionRun, brand=brand, name=f"{prefix} run", start_date="2026-01-01", end_date=None)
    storage = baker.make(
        "dashboard.StorageLocation", client=client, name=f"{prefix} depot", city="Lyon", latitude=45.7, longitude=4.8
    )
    delivery = baker.make(
        "dashboard.DeliveryLocation", client=client, name=f"{prefix} shop", city="Nice", latitude=43.7, longitude=7.2
    )
    made = make_trackers(run, trackers, prefix=prefix)
    return Fleet(client, brand, run, made, storage, delivery, image)


def make_trackers(run: ProductionRun, count: int, *, prefix: str = "A", start: int = 0) -> list[Tracker]:
    return Tracker.objects.bulk_create(
        Tracker(
            production_run=run,
            serial=f"{prefix}-{start + index:05d}",
            name=f"{prefix} tracker {start + index}",
            current_status="in_transit",
            battery_level=50,
        )
        for index in range(count)
    )


def add_history(tracker: Tracker, count: int, *, start: datetime | None = None, city: str = "Lyon") -> None:
    """`count` reports one minute apart, the newest last; moves last_report_received to it."""
    start = start or timezone.now() - timedelta(days=1)
    LocationHistory.objects.bulk_create(
        LocationHistory(
            tracker=tracker,
            timestamp=start + timedelta(minutes=minute),
            latitude=45.0 + minute / 10_000,
            longitude=4.0,
            nearest_city=city,
            confidence=0.5,
        )
        for minute in range(count)
    )
    Tracker.objects.filter(pk=tracker.pk).update(last_report_received=start + timedelta(minutes=count - 1))


def iso(moment: datetime) -> str:
    """How the API writes an instant: ISO 8601 in UTC with microseconds, `…T10:00:00.000000Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
