"""`manage.py serve`: the ASGI application under uvicorn in this one process (`make run`).

uvicorn rather than `runserver`: Django's development server is WSGI, so an async view's
stream would be consumed in a thread and buffered (NOTES.md "Streaming pitfalls"); daphne's
`runserver` would add a dependency that `make serve` does not need.
"""

from __future__ import annotations

import uvicorn
from django.core.management.base import BaseCommand

from trackerdash.serving import UVICORN_OPTIONS


class Command(BaseCommand):
    help = "Serve the ASGI application (API, page, live stream) with uvicorn in this process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        self.stdout.write(f"Serving on http://{host}:{port}/ (uvicorn, one process; Ctrl-C stops)")
        uvicorn.run("trackerdash.asgi:application", host=host, port=port, log_level="info", **UVICORN_OPTIONS)
