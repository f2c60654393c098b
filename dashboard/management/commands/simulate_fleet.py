"""`manage.py simulate_fleet`: move the fleet and ingest its reports through the ingest service until SIGTERM."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from dashboard.simulation import FleetSimulator


class Command(BaseCommand):
    help = "Simulate the fleet: trackers in transit move, some go silent, batteries drain (SIGTERM stops)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rate", type=float, default=settings.SIMULATE_FLEET_RATE, help="reports per second")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between ingest batches")
        parser.add_argument("--speedup", type=float, default=60.0, help="simulated seconds per real second")
        parser.add_argument("--silent-share", type=float, default=0.05, help="share of trackers that never report")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--ticks", type=int, default=0, help="stop after this many ticks (0: until SIGTERM)")

    def handle(self, *args, rate, interval, speedup, silent_share, seed, ticks, **options) -> None:
        simulator = FleetSimulator(rate=rate, interval=interval, speedup=speedup, silent_share=silent_share, seed=seed)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: simulator.stop())
        if ticks:
            for _ in range(ticks):
                simulator.run_once()
        else:
            self.stdout.write(f"Simulating the fleet at {rate:g} reports/s (SIGTERM stops).")
            simulator.run()
        self.stdout.write(f"Fleet simulator stopped after {simulator.reports_sent} reports.")
