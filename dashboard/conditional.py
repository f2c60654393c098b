"""Conditional GET for the answers the caches can version: `ETag`, `Cache-Control: private, no-cache`,
and 304 Not Modified for an `If-None-Match` that names the current version.

The version comes from `dashboard.queries` (`*_tag()`: the caches' generations, no database). It is
read before the answer is built, so the answer is at least as new as its tag: a write in between
makes the next request's tag differ, never a stale body pass for current. Tags are weak (`W/"…"`):
the same version may be sent compressed or not. Django's `get_conditional_response` judges the
request's `If-None-Match` (lists, `*`, weak comparison).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponseBase
from django.utils.cache import get_conditional_response, patch_cache_control


def etag(version: str) -> str:
    return f'W/"{version}"'


def respond(request, *, tag: Callable[[], str | None], answer: Callable[[], HttpResponseBase]) -> HttpResponseBase:
    """304 when the request's `If-None-Match` names the current version, else `answer()`; either way
    with the version's `ETag` (none when the caches can't tell: then every request gets the answer)."""
    version = tag()
    if version is not None and "HTTP_IF_NONE_MATCH" in request.META:
        unchanged = get_conditional_response(request, etag=etag(version))
        if unchanged is not None:
            return _revalidate(unchanged, version)
    return _revalidate(answer(), version)


def _revalidate(response: HttpResponseBase, version: str | None) -> HttpResponseBase:
    # private: the answer is the user's scope's; no-cache: a browser keeps it, and asks each time.
    patch_cache_control(response, private=True, no_cache=True)
    if version is not None:
        response["ETag"] = etag(version)
    return response
