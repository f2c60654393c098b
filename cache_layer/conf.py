"""The one namespaced settings dict of cache_layer (`settings.CACHE_LAYER`), with defaults and checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

DEFAULTS: dict[str, Any] = {
    # Master switch: False sends every read to the database.
    "ENABLED": True,
    # The alias in settings.CACHES that holds generations and entries (django-redis or local memory).
    "CACHE_ALIAS": "default",
    # A burst of invalidations of one table reloads it once, this many seconds after the burst.
    "DEBOUNCE_SECONDS": 2.0,
    # A burst that never pauses is still reloaded after this many debounce windows.
    "DEBOUNCE_MAX_WINDOWS": 5,
    # The in-process layer in front of the cache backend (valid while its generation matches).
    "LOCAL_LAYER": True,
    # Circuit breaker: after a backend error, skip the backend for this many seconds.
    "BREAKER_COOLDOWN_SECONDS": 5.0,
    # Stampede protection: readers that miss while another process loads wait at most this long.
    "STAMPEDE_WAIT_SECONDS": 1.0,
    # The loader's lock expires after this many seconds (a crashed loader does not block others).
    "LOCK_TIMEOUT_SECONDS": 30.0,
    # PostgreSQL NOTIFY channel of the triggers, and the listener's timings.
    "CHANNEL": "cache_layer",
    "LISTENER_PING_SECONDS": 5.0,
    "LISTENER_HEARTBEAT_STALE_SECONDS": 30.0,
    # Query-result cache (tracker lists): on/off and the longest life of an entry.
    "QUERY_CACHE_ENABLED": True,
    "QUERY_CACHE_TTL": 300,
    # Changed-rows feed (cache_layer.feed): entries are kept at least this long (a reader's replay window).
    "FEED_REPLAY_SECONDS": 600.0,
    # An async reader waits this long for a new entry per read; socket timeout on top of it.
    "FEED_BLOCK_SECONDS": 5.0,
    "FEED_SOCKET_TIMEOUT_SECONDS": 2.0,
    # A replay longer than this many entries is refused (the reader resyncs instead).
    "FEED_MAX_REPLAY_ENTRIES": 100_000,
    # Query-cache bodies of at least this many bytes are stored gzip-compressed (once, on a miss).
    "QUERY_CACHE_COMPRESS": True,
    "QUERY_CACHE_COMPRESS_MIN_BYTES": 1024,
    # An answer larger than this, as stored, is not cached (answered from the database and counted
    # in cache_skipped_total{reason="too_large"}): one huge entry must not evict hundreds of small ones.
    # 0 = no bound.
    "QUERY_CACHE_MAX_ENTRY_BYTES": 1_048_576,
}

_TYPES: dict[str, tuple[type, ...]] = {
    "ENABLED": (bool,),
    "CACHE_ALIAS": (str,),
    "DEBOUNCE_SECONDS": (int, float),
    "DEBOUNCE_MAX_WINDOWS": (int,),
    "LOCAL_LAYER": (bool,),
    "BREAKER_COOLDOWN_SECONDS": (int, float),
    "STAMPEDE_WAIT_SECONDS": (int, float),
    "LOCK_TIMEOUT_SECONDS": (int, float),
    "CHANNEL": (str,),
    "LISTENER_PING_SECONDS": (int, float),
    "LISTENER_HEARTBEAT_STALE_SECONDS": (int, float),
    "QUERY_CACHE_ENABLED": (bool,),
    "QUERY_CACHE_TTL": (int,),
    "FEED_REPLAY_SECONDS": (int, float),
    "FEED_BLOCK_SECONDS": (int, float),
    "FEED_SOCKET_TIMEOUT_SECONDS": (int, float),
    "FEED_MAX_REPLAY_ENTRIES": (int,),
    "QUERY_CACHE_COMPRESS": (bool,),
    "QUERY_CACHE_COMPRESS_MIN_BYTES": (int,),
    "QUERY_CACHE_MAX_ENTRY_BYTES": (int,),
}


def get(name: str) -> Any:
    """One setting, read at call time so that override_settings applies."""
    return {**DEFAULTS, **getattr(settings, "CACHE_LAYER", {})}[name]


@register()
def check_settings(app_configs=None, **kwargs) -> list[Error]:
    user = getattr(settings, "CACHE_LAYER", {})
    if not isinstance(user, dict):
        return [Error("settings.CACHE_LAYER must be a dict.", id="cache_layer.E001")]
    errors = []
    for key, value in user.items():
        if key not in DEFAULTS:
            errors.append(Error(f"Unknown setting CACHE_LAYER[{key!r}].", id="cache_layer.E002"))
        elif not isinstance(value, _TYPES[key]) or (isinstance(value, bool) and bool not in _TYPES[key]):
            expected = " or ".join(t.__name__ for t in _TYPES[key])
            errors.append(Error(f"CACHE_LAYER[{key!r}] must be {expected}, not {value!r}.", id="cache_layer.E003"))
        elif _TYPES[key] != (bool,) and _TYPES[key] != (str,) and value < 0:
            errors.append(Error(f"CACHE_LAYER[{key!r}] must not be negative.", id="cache_layer.E004"))
    alias = user.get("CACHE_ALIAS", DEFAULTS["CACHE_ALIAS"])
    if isinstance(alias, str) and alias not in settings.CACHES:
        errors.append(Error(f"CACHE_LAYER['CACHE_ALIAS'] {alias!r} is not in settings.CACHES.", id="cache_layer.E005"))
    return errors
