"""`POST /api/auth/token/`. Not in dashboard.authentication: DRF imports that module while it builds
APIView, and a view class there would import APIView back (a cycle)."""

from __future__ import annotations

from rest_framework import exceptions, parsers
from rest_framework.authtoken.views import ObtainAuthToken

from dashboard.parsers import JSONParser
from dashboard.throttling import lockout_seconds


class TokenView(ObtainAuthToken):
    """`POST /api/auth/token/`: DRF's token view with the API's JSON parser (DRF's own view names
    the standard library's), and django-axes' lockout as a 429 with `Retry-After`.

    axes marks the lockout on the request it was given, here DRF's Request, which its middleware
    never sees: the view answers it itself.
    """

    parser_classes = [parsers.FormParser, parsers.MultiPartParser, JSONParser]
    may_throttle = True  # the lockout's 429, documented by dashboard.schema

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            if getattr(request, "axes_locked_out", False):
                raise exceptions.Throttled(
                    wait=lockout_seconds(), detail="Too many failed logins; try again later."
                ) from None
            raise
