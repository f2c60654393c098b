"""`GET /api/trackers/stream/`: the live stream, a plain async Django view (DRF views are sync, and a
sync view would consume the stream in a thread and buffer it: NOTES.md "Streaming pitfalls").

Authentication is the API's (session, or `Authorization: Token …`), checked again every
LIVE_AUTH_RECHECK_SECONDS: a logout, a deleted token or a lost scope ends the stream. The
filters are the list's, validated by the same FilterSet (400 naming the parameter).
"""

from __future__ import annotations

from importlib import import_module

import orjson
from django.conf import settings
from django.contrib.auth import get_user
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET
from rest_framework import exceptions

from dashboard import live
from dashboard.authentication import ProfileTokenAuthentication
from dashboard.filters import TrackerFilterSet, form_errors
from dashboard.queries import normalise_tracker_filters
from dashboard.scope import scope_for


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


class _SessionOnly:
    """What `django.contrib.auth.get_user` reads from a request: its session."""

    def __init__(self, session_key: str) -> None:
        self.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def current_user(*, session_key: str | None, token: str | None):
    """The user of a session key or a token as it is now (None: logged out, token deleted, inactive)."""
    if token is not None:
        try:
            user, _ = ProfileTokenAuthentication().authenticate_credentials(token)
        except exceptions.AuthenticationFailed:
            return None
        return user
    if session_key is None:
        return None
    user = get_user(_SessionOnly(session_key))
    return user if user.is_authenticated else None


_current_user = live._fresh_connection(current_user)


def _credentials(request: HttpRequest) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "").split()
    if len(header) == 2 and header[0].lower() == "token":
        return None, header[1]
    return request.COOKIES.get(settings.SESSION_COOKIE_NAME), None


def is_served(request: HttpRequest) -> bool:
    """Whether this server streams: under WSGI a stream would hold a worker for as long as it is open."""
    return isinstance(request, ASGIRequest) and settings.LIVE_STREAM_ENABLED


@require_GET
async def tracker_stream(request: HttpRequest) -> HttpResponse:
    if not is_served(request):
        # Under WSGI a stream would hold a worker for as long as it is open.
        return _json(503, {"detail": "The live stream is not served here; reload the list instead."})
    session_key, token = _credentials(request)
    user = await _current_user(session_key=session_key, token=token)
    if user is None:
        message = "Invalid token." if token else "Authentication credentials were not provided."
        return _json(403, {"detail": message})
    form = TrackerFilterSet.bound_form(request.GET)
    if not form.is_valid():
        return _json(400, form_errors(form))
    scope = scope_for(user)
    stream = live.Stream(scope=scope, filters=normalise_tracker_filters(form.cleaned_data))

    async def still_allowed() -> bool:
        now = await _current_user(session_key=session_key, token=token)
        return now is not None and scope_for(now) == scope

    response = StreamingHttpResponse(
        live.events(stream, last_event_id=request.headers.get("Last-Event-ID"), still_allowed=still_allowed),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
