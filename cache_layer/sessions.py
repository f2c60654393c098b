"""Sessions read from the cache, with the database behind it (Django's cached_db) — through store.

`SESSION_ENGINE = "cache_layer.sessions"`. Django's `cached_db` engine as it is, except that its
cache goes through `cache_layer.store` (the CACHE_LAYER alias): a backend error or timeout is a
miss for a read and nothing for a write, the circuit breaker spares later requests the timeout,
and the session is read from and written to the database as usual. With the cache switched off
(`CACHE_LAYER["ENABLED"]`) sessions are plain database sessions.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import cached_db

from cache_layer import conf, store


def _forget_cached_sessions() -> None:
    """After an outage, drop every cached session: a logout (or any session write) that could not
    reach the cache must not be undone by the copy the backend kept through a pause."""
    store.delete_pattern(cached_db.KEY_PREFIX + "*")


store.add_recovery_hook(_forget_cached_sessions)


class _GuardedCache:
    """The few cache methods `cached_db` calls, each answering as a miss when the backend can't."""

    def get(self, key: str, default: Any = None) -> Any:
        if not conf.get("ENABLED"):
            return default
        try:
            return store.get(key, default)
        except store.CacheUnavailable:
            return default

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:  # noqa: A003
        if conf.get("ENABLED"):
            try:
                store.set(key, value, timeout)
            except store.CacheUnavailable:
                pass

    def delete(self, key: str) -> None:
        """A logout while the backend is unreachable can't remove the cached copy now: the recovery
        hook drops every cached session before the backend is read again."""
        if conf.get("ENABLED"):
            try:
                store.delete(key)
            except store.CacheUnavailable:
                pass

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.get(key, default)

    async def aset(self, key: str, value: Any, timeout: float | None = None) -> None:
        self.set(key, value, timeout)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    def __str__(self) -> str:
        return f"cache_layer.store({conf.get('CACHE_ALIAS')})"


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _GuardedCache()
