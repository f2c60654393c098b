"""Authentication that fetches the user's profile together with the user: the scope of every
request comes from `user.profile`, so reading it costs no query of its own."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class ProfileModelBackend(ModelBackend):
    """Session authentication: the user of a session comes with their profile (one query, a join)."""

    def _users(self):
        return get_user_model()._default_manager.select_related("profile")

    def get_user(self, user_id):
        try:
            user = self._users().get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    async def aget_user(self, user_id):
        try:
            user = await self._users().aget(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


class ProfileTokenAuthentication(TokenAuthentication):
    """Token authentication: the token, its user and the user's profile in one query."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            token = model.objects.select_related("user__profile").get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
