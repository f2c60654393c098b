"""JSON answers for what goes wrong under /api/ outside DRF's own error handling.

DRF turns its exceptions (validation, parse errors, 401/403/404, throttling) into JSON itself.
What reaches Django instead would be an HTML page or a 500:

- `RequestDataTooBig` (a body over DATA_UPLOAD_MAX_MEMORY_SIZE) → 413 `{"detail": "Request body over N bytes."}`;
- the database unreachable or restarting (`OperationalError`, `InterfaceError`) → 503 with
  `Retry-After`, like `/health/`, instead of a 500;
- a path no route matches, or an `Http404` outside DRF → a JSON 404;
- anything else → a JSON 500 (never Django's HTML page to an API client).

The page and the admin keep Django's own pages: every branch here checks the path first.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.views import defaults

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
# Seconds a client should wait before retrying when the database is away: about a PostgreSQL restart.
DATABASE_RETRY_AFTER_SECONDS = 5


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def too_big_response() -> JsonResponse:
    return JsonResponse({"detail": f"Request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."}, status=413)


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse({"detail": "The database is unavailable; retry shortly."}, status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


class ApiErrorsMiddleware:
    """Answers the view's unhandled faults under /api/ as JSON (DRF re-raises what it does not handle)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        # A declared length over the limit is refused before anything reads the body (DRF's form
        # parser reads the whole stream); a body without one is bounded by dashboard.parsers.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and is_api_request(request) and _content_length(request) > limit:
            return too_big_response()
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_api_request(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return too_big_response()
        if isinstance(exception, OperationalError | InterfaceError):
            logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exception)
            return database_unavailable_response()
        return None


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """The last route under /api/: no endpoint there answers Django's HTML 404."""
    return JsonResponse({"detail": "Not found."}, status=404)


def bad_request(request: HttpRequest, exception: Exception, **kwargs):
    if is_api_request(request):
        if isinstance(exception, RequestDataTooBig):
            return too_big_response()
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception, **kwargs)


def page_not_found(request: HttpRequest, exception: Exception, **kwargs):
    if is_api_request(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs):
    if is_api_request(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request, **kwargs)
