"""Who the client is, and what happens when it asks too often.

- Failed logins (the login form, the admin, `POST /api/auth/token/`) are counted by django-axes,
  per username and per client address; the lockout answers 429 with `Retry-After`
  (`lockout_response`). README "Throttling" says why axes and not DRF throttles.
- The page's telemetry beacon is limited per session (`SessionRateThrottle`, a DRF throttle).
- The client address is `REMOTE_ADDR`, or, behind `TRUSTED_PROXY_COUNT` proxies, the address the
  outermost of them saw (DRF's `NUM_PROXIES` rule: X-Forwarded-For's n-th entry from the right).
  With the default of 0, X-Forwarded-For is never read: any client can set it.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from cache_layer import store

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str:
    """The client's address as the trusted proxies (if any) saw it; axes' AXES_CLIENT_IP_CALLABLE."""
    return BaseThrottle().get_ident(request)


def lockout_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """axes' AXES_LOCKOUT_CALLABLE for the login form and the admin: the lockout page, 429 + Retry-After.

    A failed attempt during the lockout starts it again (axes' default), so the whole cool-off is
    the honest wait. (The token endpoint answers its own JSON 429: dashboard.auth_views.)
    """
    seconds = lockout_seconds()
    response = render(request, "registration/lockout.html", {"retry_after": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response


class _StoreCache:
    """The throttle's history, read and written through cache_layer.store (short timeouts, breaker)."""

    def get(self, key, default=None):
        return store.get(key, default)

    def set(self, key, value, timeout=None):
        store.set(key, value, timeout)


class SessionRateThrottle(SimpleRateThrottle):
    """At most TELEMETRY_BEACONS_PER_MINUTE beacons per session.

    Keyed by a hash of the session key (never the key itself in Redis). With the cache away the
    beacon is let through: it only increments counters, and the cache's outage must not turn it
    into a 500 (DESIGN.md "Degraded, never broken").
    """

    scope = "telemetry"
    cache = _StoreCache()

    def get_rate(self) -> str:
        return f"{settings.TELEMETRY_BEACONS_PER_MINUTE}/min"  # read per request: tests override it

    def get_cache_key(self, request, view) -> str | None:
        session_key = request.session.session_key
        ident = hashlib.sha256(session_key.encode()).hexdigest() if session_key else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except store.CacheUnavailable:
            logger.warning("telemetry throttle skipped: the cache is unavailable")
            return True
