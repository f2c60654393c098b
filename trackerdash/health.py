"""GET /health/: database, cache and listener state, and the version. 200 when the database answers."""

from __future__ import annotations

import copy
import logging
import tomllib
from functools import cache

from django.conf import settings
from django.db import connections
from django.db.utils import load_backend
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from cache_layer import health as cache_layer_health

logger = logging.getLogger(__name__)


@cache
def version() -> str:
    with open(settings.BASE_DIR / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["version"]


def database_state() -> dict:
    """SELECT 1 on a connection of its own, with a short connect (and, on PostgreSQL, statement) timeout.

    Its own connection, so a probe never waits DB_CONNECT_TIMEOUT nor disturbs the
    request's persistent connection. The error's class only: its text names hosts.
    """
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    timeout = settings.HEALTH_DB_TIMEOUT
    if settings_dict["ENGINE"] == "django.db.backends.postgresql":
        options = settings_dict.setdefault("OPTIONS", {})
        options["connect_timeout"] = timeout
        options["options"] = f"{options.get('options', '')} -c statement_timeout={timeout * 1000}".strip()
    probe = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias="health")
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        logger.warning("health: database unreachable: %s", error)
        return {"status": "error", "error": type(error).__name__}
    finally:
        probe.close()
    return {"status": "ok"}


def cache_state() -> dict:
    """cache_layer's state without its error text (it names hosts; cache_layer logs it)."""
    try:
        state = cache_layer_health.cache_health()
    except Exception as error:  # a health probe must answer whatever the cache does
        logger.warning("health: cache state unreadable: %s", error)
        return {"status": "degraded", "error": type(error).__name__}
    return {key: value for key, value in state.items() if key != "error"}


def listener_state() -> dict:
    """The listener exists on PostgreSQL only; it is stale without a heartbeat in LISTENER_STALE_SECONDS."""
    if connections["default"].vendor != "postgresql":
        return {"status": "not_used"}
    stale_after = settings.LISTENER_STALE_SECONDS
    try:
        age = cache_layer_health.listener_health().get("last_heartbeat_age")
    except Exception as error:
        logger.warning("health: listener heartbeat unreadable: %s", error)
        return {"status": "stale", "last_heartbeat_age": None, "stale_after": stale_after}
    stale = age is None or age > stale_after
    return {"status": "stale" if stale else "ok", "last_heartbeat_age": age, "stale_after": stale_after}


@never_cache
@require_safe
def health_view(request: HttpRequest) -> JsonResponse:
    database, cache_, listener = database_state(), cache_state(), listener_state()
    if database["status"] != "ok":
        status = "error"
    elif cache_.get("status") == "degraded" or listener["status"] == "stale":
        status = "degraded"
    else:
        status = "ok"
    body = {"status": status, "version": version(), "database": database, "cache": cache_, "listener": listener}
    return JsonResponse(body, status=503 if status == "error" else 200)
