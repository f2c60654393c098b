"""`GET /api/trackers/stream/`: the live stream, a plain async Django view (DRF views are sync, and a
sync view would consume the stream in a thread and buffer it: NOTES.md "Streaming pitfalls").

Authentication is the API's (session, or `Authorization: Token …`), checked again every
LIVE_AUTH_RECHECK_SECONDS: a logout, a deleted token or a lost scope ends the stream. The
filters are the list's, validated by the same FilterSet (400 naming the parameter).

drf-spectacular documents DRF views only: `document_in_schema` (a postprocessing hook) adds this
one to /api/schema/, its parameters taken from the list's operation, so they can't drift apart.
"""

from __future__ import annotations

import copy
from importlib import import_module

import orjson
from django.conf import settings
from django.contrib.auth import get_user
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
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


# --- The OpenAPI schema ------------------------------------------------------------------

# The list's parameters the stream accepts (the FilterSet validates them) and ignores: a stream
# has no page and no order. Every other parameter of the list is a filter of the stream.
IGNORED_LIST_PARAMETERS = frozenset({"page", "size", "ordering"})

EVENTS_EXAMPLE = (
    "retry: 3000\nid: 3f9c2a71b0d4.1764629331123-0\n\n"
    'event: changes\nid: 3f9c2a71b0d4.1764629331907-0\ndata: {"items": [{"id": 7, "serial": "TRK-0000007"}], '
    '"removed": [12]}\n\n'
    ": keepalive\nid: 3f9c2a71b0d4.1764629346907-0\n\n"
    "event: resync\nid: 3f9c2a71b0d4.1764629350001-0\ndata: {}\n\n"
)
STREAM_DESCRIPTION = (
    "Server-Sent Events of the trackers matching the list's filters, in the list's scope (session or "
    "token). A `retry:` hint and the current cursor first; then `changes` events (`id:` the cursor, "
    "`data:` one line of JSON, the `TrackerChanges` schema: list items of trackers that changed and "
    "match, ids of those that no longer match or left the scope); `resync` (`data: {}`) when the "
    "server can't replay from `Last-Event-ID` (refetch the list); a comment line every 15 s carrying "
    "the cursor. The answer does not end: read it with an EventSource, or a streaming HTTP client. "
    "Never compressed; `Cache-Control: no-cache`. 503 where the server can't stream (WSGI, or "
    "LIVE_STREAM_ENABLED=false)."
)
TRACKER_CHANGES = {
    "type": "object",
    "description": "The `data` of a `changes` event.",
    "properties": {
        "items": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Tracker"},
            "description": "List items (the list's shape) of trackers that changed and match the filters.",
        },
        "removed": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "Ids that matched before and no longer do, or left the scope.",
        },
    },
    "required": ["items", "removed"],
}
LAST_EVENT_ID = {
    "in": "header",
    "name": "Last-Event-ID",
    "schema": {"type": "string"},
    "description": "The last cursor received (browsers send it when they reconnect): the first event "
    "brings what changed since, or `resync` when that is out of the replay window or unknown.",
}


def document_in_schema(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: `GET /api/trackers/stream/` in the schema, with the list's
    filters (from the list's own operation), the `Last-Event-ID` header, and every status it answers."""
    paths = result["paths"]
    if "get" not in paths.get(reverse("api:trackers-list"), {}):
        return result  # a schema without the list (a filtered view of the API): nothing to copy from
    listing = copy.deepcopy(paths[reverse("api:trackers-list")]["get"])  # copies: no shared node in the YAML
    errors = listing["responses"]
    parameters = [p for p in listing.get("parameters", []) if p["name"] not in IGNORED_LIST_PARAMETERS]
    result.setdefault("components", {}).setdefault("schemas", {})["TrackerChanges"] = TRACKER_CHANGES
    operation = {
        "operationId": "trackers_stream",
        "summary": "Live changes of the trackers matching the list's filters, as Server-Sent Events",
        "description": STREAM_DESCRIPTION,
        "parameters": [*parameters, LAST_EVENT_ID],
        "tags": listing.get("tags", []),
        "security": listing.get("security", []),
        "responses": {
            "200": {
                "description": "The event stream (it does not end).",
                "headers": {
                    "Cache-Control": {"schema": {"type": "string", "enum": ["no-cache"]}},
                    "X-Accel-Buffering": {"schema": {"type": "string", "enum": ["no"]}},
                },
                "content": {"text/event-stream": {"schema": {"type": "string"}, "example": EVENTS_EXAMPLE}},
            },
            "400": errors["400"],
            "403": errors["403"],
            "503": {
                "description": "This server does not stream (WSGI, or LIVE_STREAM_ENABLED=false): reload the list.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    paths[reverse("api:trackers-stream")] = {"get": operation}
    return result
