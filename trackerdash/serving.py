"""How the ASGI application is served: uvicorn's options, shared by gunicorn's worker class
(`make serve`, gunicorn.conf.py) and the one-process server of `make run` (`manage.py serve`)."""

from __future__ import annotations

from uvicorn_worker import UvicornWorker

UVICORN_OPTIONS = {
    # Django answers only HTTP scopes; "off" spares a warning per worker start.
    "lifespan": "off",
    # On SIGTERM, open live streams get this long to end before they are cut: their clients
    # reconnect with Last-Event-ID to another worker (or to this server once it is back).
    "timeout_graceful_shutdown": 10,
}


class Worker(UvicornWorker):
    """gunicorn's worker class for the ASGI application (uvloop and httptools when installed)."""

    CONFIG_KWARGS = {"loop": "auto", "http": "auto", **UVICORN_OPTIONS}
