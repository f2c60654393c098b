"""Who sees what: the one place a user's data scope is decided.

Every read of scoped data goes through `scope_for(user)`: querysets through
`Scope.restrict()`, reference rows held in memory through `Scope.allows()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet


@dataclass(frozen=True)
class Scope:
    """A user's data scope: every client (staff), one client, or nothing.

    `key` names the scope in cache keys: "all", "client:<id>" or "none".
    """

    client_id: int | None
    is_all: bool
    key: str

    @property
    def is_empty(self) -> bool:
        return not self.is_all and self.client_id is None

    def allows(self, client_id: int | None, *, shared: bool = False) -> bool:
        """Whether a row owned by `client_id` is visible; `shared` rows with no client are visible to all."""
        if self.is_all:
            return True
        if self.client_id is None:
            return False
        return client_id == self.client_id or (shared and client_id is None)

    def restrict(self, queryset: QuerySet, client_field: str, *, shared: bool = False) -> QuerySet:
        """The rows of `queryset` in scope; `client_field` is the lookup path to the owning client's id."""
        if self.is_all:
            return queryset
        if self.client_id is None:
            return queryset.none()
        condition = Q(**{client_field: self.client_id})
        if shared:
            condition |= Q(**{f"{client_field}__isnull": True})
        return queryset.filter(condition)


ALL = Scope(client_id=None, is_all=True, key="all")
NONE = Scope(client_id=None, is_all=False, key="none")


def scope_for(user) -> Scope:
    """Staff see every client; a user with a client sees that client; anyone else sees nothing."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NONE
    if user.is_staff:
        return ALL
    try:
        client_id = user.profile.client_id
    except ObjectDoesNotExist:
        return NONE
    if client_id is None:
        return NONE
    return Scope(client_id=client_id, is_all=False, key=f"client:{client_id}")
