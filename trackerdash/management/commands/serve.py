"""`manage.py serve`: the ASGI application under uvicorn in this one process (`make run`).

uvicorn rather than `runserver`: Django's development server is WSGI, so an async view's
stream would be consumed in a thread and buffered (NOTES.md "Streaming pitfalls"); daphne's
`runserver` would add a dependency that `make serve` does not need. With SIMULATE_FLEET on,
the fleet simulator runs in a thread of this same process, so that its writes reach the open
streams through the in-process change feed when there is no Redis (the embedded default).
"""

from __future__ import annotations

import threading

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from dashboard.simulation import FleetSimulator
from trackerdash.serving import UVICORN_OPTIONS


class Command(BaseCommand):
    help = "Serve the ASGI application (API, page, live stream) with uvicorn in this process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--simulate", choices=["auto", "on", "off"], default="auto",
            help="the fleet simulator beside the server (auto: SIMULATE_FLEET)",
        )

    def handle(self, *args, host: str, port: int, simulate: str, **options) -> None:
        database = settings.DATABASES["default"]
        if database["ENGINE"] == "django.db.backends.postgresql" and "pool" not in database["OPTIONS"]:
            # Each request's sync code runs in a thread of its own under ASGI: a persistent connection
            # per thread would leak. `make run` sets DB_POOL=true (a pool, settings.py); without it,
            # close each request's connection at its end. (Connections are made lazily: not yet.)
            database["CONN_MAX_AGE"] = 0
        simulator = None
        if simulate == "on" or (simulate == "auto" and settings.SIMULATE_FLEET):
            simulator = FleetSimulator(rate=settings.SIMULATE_FLEET_RATE)
            threading.Thread(target=simulator.run, name="simulate_fleet", daemon=True).start()
            self.stdout.write(
                f"Fleet simulator on: {settings.SIMULATE_FLEET_RATE:g} reports/s (SIMULATE_FLEET=false turns it off)"
            )
        self.stdout.write(f"Serving on http://{host}:{port}/ (uvicorn, one process; Ctrl-C stops)")
        try:
            uvicorn.run("trackerdash.asgi:application", host=host, port=port, log_level="info", **UVICORN_OPTIONS)
        finally:
            if simulator is not None:
                simulator.stop()
