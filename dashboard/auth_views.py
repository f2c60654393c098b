"""`POST /api/auth/token/`. Not in dashboard.authentication: DRF imports that module while it builds
APIView, and a view class there would import APIView back (a cycle)."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from rest_framework import exceptions, parsers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from dashboard.parsers import JSONParser
from dashboard.throttling import lockout_seconds


class TokenView(ObtainAuthToken):
    # DRF's token view with the API's JSON parser (DRF's own view names the standard library's)
    # and django-axes' lockout (a comment, not a docstring: a docstring becomes the schema's text):
    # 1. axes marks a lockout on the request it was given, here DRF's Request, which its middleware
    #    never sees: the view answers it itself, 429 with `Retry-After`.
    # 2. A token request is a login that never calls `login()`, so axes hears of no success: the
    #    view tells it, which resets the failures counted against the username and the address.

    parser_classes = [parsers.FormParser, parsers.MultiPartParser, JSONParser]
    may_throttle = True  # the lockout's 429, documented by dashboard.schema

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):
                raise exceptions.Throttled(wait=lockout_seconds(), detail="Too many failed logins.")
            raise exceptions.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        AxesProxyHandler.user_logged_in(sender=type(self), request=request, user=user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
