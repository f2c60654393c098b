"""A fleet simulator: trackers in transit move toward their delivery location, some go silent,
batteries drain; every report goes through the ingest service, like a real device's.

`manage.py simulate_fleet` runs it on its own; `manage.py serve` (`make run`) runs it in a thread
beside the server, so a newcomer sees the map move.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from datetime import UTC, datetime

from django.db import close_old_connections

from dashboard import queries, services
from dashboard.seeding import BATTERY_DRAIN_PER_DAY

logger = logging.getLogger("dashboard.simulation")

EARTH_KM = 6371.0


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def step_toward(start: tuple[float, float], end: tuple[float, float], km: float) -> tuple[float, float]:
    """`km` along the way from `start` to `end` (linear in degrees: fine over a truck's leg), never past it."""
    total = distance_km(start, end)
    if total <= km or total == 0:
        return end
    share = km / total
    return (start[0] + (end[0] - start[0]) * share, start[1] + (end[1] - start[1]) * share)


class FleetSimulator:
    """`run_once()` is one tick: up to `rate × interval` reports of the fleet, one ingest batch.

    - In transit: moves `speed_kmh × speedup × elapsed` toward its destination (its delivery
      location, or a new point nearby once it arrives), with a little noise.
    - Elsewhere: reports now and then from where it is (one in ten ticks' share).
    - `silent_share` of the trackers, and any whose battery is empty, never report.
    - Batteries drain with simulated time (`speedup`), each tracker at its own rate from
      `drain_per_day` (percent a day: seeding's rates), plus `report_cost` percent per report sent,
      whether it moves or rests; the reported level is the rounded percent.
    """

    def __init__(
        self,
        *,
        rate: float = 5.0,
        interval: float = 1.0,
        speed_kmh: float = 70.0,
        speedup: float = 60.0,
        silent_share: float = 0.05,
        drain_per_day: tuple[float, float] = BATTERY_DRAIN_PER_DAY,
        report_cost: float = 0.02,
        seed: int | None = None,
    ) -> None:
        self.rate, self.interval, self.speed_kmh, self.speedup = rate, interval, speed_kmh, speedup
        self.silent_share, self.drain_per_day, self.report_cost = silent_share, drain_per_day, report_cost
        self.random = random.Random(seed)
        self.fleet: list[dict] | None = None
        self.places: list[tuple[str, float, float]] = []
        self.silent: set[int] = set()
        self.stopping = False
        self.wake = threading.Event()
        self.reports_sent = 0

    def load(self) -> None:
        fleet = queries.fleet_for_simulation()
        self.places = queries.known_places()
        for tracker in fleet:
            if tracker["position"][0] is None:  # no location and no storage: somewhere in Europe
                tracker["position"] = (self.random.uniform(43, 55), self.random.uniform(-2, 20))
            if tracker["destination"][0] is None:
                tracker["destination"] = self._nearby(tracker["position"])
            tracker["battery_exact"] = float(tracker["battery"] if tracker["battery"] is not None else 100)
            tracker["moved_at"] = time.monotonic()
        count = round(len(fleet) * self.silent_share)
        self.silent = {t["id"] for t in self.random.sample(fleet, count)} if count else set()
        for tracker in fleet:
            tracker["drain_per_day"] = self.random.uniform(*self.drain_per_day)
        self.fleet = fleet

    def _nearby(self, position: tuple[float, float]) -> tuple[float, float]:
        return (
            max(-89.0, min(89.0, position[0] + self.random.uniform(-1.5, 1.5))),
            ((position[1] + self.random.uniform(-2.0, 2.0) + 180) % 360) - 180,
        )

    def _nearest_city(self, position: tuple[float, float]) -> str:
        if not self.places:
            return ""
        city, *_ = min(self.places, key=lambda p: (p[1] - position[0]) ** 2 + (p[2] - position[1]) ** 2)
        return city

    def _report(self, tracker: dict, now: datetime) -> dict:
        elapsed = time.monotonic() - tracker["moved_at"]
        tracker["moved_at"] = time.monotonic()
        if tracker["status"] == "in_transit":
            km = self.speed_kmh * self.speedup * elapsed / 3600 * self.random.uniform(0.6, 1.2)
            tracker["position"] = step_toward(tracker["position"], tracker["destination"], km)
            if tracker["position"] == tracker["destination"]:
                tracker["destination"] = self._nearby(tracker["position"])
        drained = tracker["drain_per_day"] * self.speedup * elapsed / 86400 + self.report_cost
        tracker["battery_exact"] = max(0.0, tracker["battery_exact"] - drained)
        latitude, longitude = tracker["position"]
        return {
            "tracker": tracker["serial"],
            "timestamp": now,
            "latitude": round(latitude + self.random.gauss(0, 0.0002), 6),
            "longitude": round(longitude + self.random.gauss(0, 0.0002), 6),
            "nearest_city": self._nearest_city(tracker["position"]),
            "confidence": round(self.random.uniform(0.6, 1.0), 2),
            "battery_level": round(tracker["battery_exact"]),
        }

    def run_once(self) -> int:
        """One tick; returns the number of reports ingested."""
        if self.fleet is None:
            self.load()
        reporting = [t for t in self.fleet if t["id"] not in self.silent and t["battery_exact"] > 0]
        moving = [t for t in reporting if t["status"] == "in_transit"]
        resting = [t for t in reporting if t["status"] != "in_transit"]
        wanted = self.rate * self.interval
        count = int(wanted) + (self.random.random() < wanted - int(wanted))
        chosen = self.random.sample(moving, min(len(moving), count))
        if resting and self.random.random() < 0.1:
            chosen.append(self.random.choice(resting))
        if not chosen:
            return 0
        now = datetime.now(UTC)
        reports = [self._report(tracker, now) for tracker in chosen]
        services.location_reports_ingest(reports=reports)
        self.reports_sent += len(reports)
        return len(reports)

    def run(self) -> None:
        """Tick every `interval` seconds until `stopping` (a failed tick is logged, the next one tries again)."""
        while not self.stopping:
            started = time.monotonic()
            close_old_connections()  # a long-lived thread: drop a broken or expired connection first
            try:
                self.run_once()
            except Exception:
                logger.exception("simulated reports were not ingested; trying again next tick")
            self.wake.wait(max(0.0, self.interval - (time.monotonic() - started)))
        close_old_connections()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
