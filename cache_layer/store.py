"""The only code that talks to the cache backend: short timeouts, errors caught, a circuit breaker.

Every function raises `CacheUnavailable` instead of the backend's own errors, and does so at
once (without touching the backend) while the breaker is open. Callers answer from the
database. When the backend answers again after a failure, the recovery hooks run first
(invalidation registers one that treats every entry as changed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import caches
from django.core.signals import setting_changed

from cache_layer import conf

logger = logging.getLogger("cache_layer")

KEY_PREFIX = "cl:"


class CacheUnavailable(Exception):
    """The cache backend failed, timed out, or the breaker is open."""


class _Breaker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open_until = 0.0
        self.outage = False  # a failure was seen and recovery hooks have not yet succeeded
        self.recovering = threading.local()
        self.failures = 0

    def reset(self) -> None:
        with self.lock:
            self.open_until = 0.0
            self.outage = False
            self.failures = 0


_breaker = _Breaker()
_recovery_hooks: list[Callable[[], None]] = []


def add_recovery_hook(hook: Callable[[], None]) -> None:
    """Run `hook` once the backend answers again after a failure (it may raise CacheUnavailable)."""
    if hook not in _recovery_hooks:
        _recovery_hooks.append(hook)


def _backend():
    return caches[conf.get("CACHE_ALIAS")]


def _fail(error: BaseException) -> CacheUnavailable:
    with _breaker.lock:
        was_closed = not _breaker.outage or time.monotonic() >= _breaker.open_until
        _breaker.open_until = time.monotonic() + conf.get("BREAKER_COOLDOWN_SECONDS")
        _breaker.outage = True
        _breaker.failures += 1
    if was_closed:
        logger.warning(
            "cache backend unavailable, answering from the database: %r", error,
            extra={"event": "cache_breaker_opened", "cooldown_s": conf.get("BREAKER_COOLDOWN_SECONDS")},
        )
    return CacheUnavailable(str(error))


def _recover() -> None:
    """The backend may be back: run the recovery hooks before anything is read from it, so an
    entry cached before the outage is never served after it (raises CacheUnavailable if not back)."""
    _breaker.recovering.active = True
    try:
        for hook in _recovery_hooks:
            hook()
    finally:
        _breaker.recovering.active = False
    with _breaker.lock:
        _breaker.outage = False
    logger.warning(
        "cache backend is back; every cached entry was treated as changed", extra={"event": "cache_recovered"}
    )


def _call(operation: Callable[..., Any], *args, **kwargs) -> Any:
    if _breaker.outage and not getattr(_breaker.recovering, "active", False):
        if time.monotonic() < _breaker.open_until:
            raise CacheUnavailable("circuit breaker open")
        _recover()
    try:
        return operation(*args, **kwargs)
    except ValueError:
        raise  # incr of a missing key: an answer, not a failure
    except Exception as error:  # redis errors, timeouts, ConnectionInterrupted ...
        raise _fail(error) from error


def key(*parts: object) -> str:
    return KEY_PREFIX + ":".join(str(p) for p in parts)


def get(k: str, default: Any = None) -> Any:
    return _call(lambda: _backend().get(k, default))


def get_many(keys: Iterable[str]) -> dict[str, Any]:
    keys = list(keys)
    return _call(lambda: _backend().get_many(keys)) if keys else {}


def set(k: str, value: Any, timeout: float | None = None) -> None:  # noqa: A001 - mirrors the cache API
    _call(lambda: _backend().set(k, value, timeout))


def add(k: str, value: Any, timeout: float | None = None) -> bool:
    """Set only if absent (atomic): locks and first-writer-wins markers."""
    return bool(_call(lambda: _backend().add(k, value, timeout)))


def delete(k: str) -> None:
    _call(lambda: _backend().delete(k))


def delete_pattern(pattern: str) -> None:
    """Delete every key matching `pattern` (a glob) where the backend can (django-redis: SCAN, in batches)."""
    backend = _backend()
    if hasattr(backend, "delete_pattern"):
        _call(lambda: backend.delete_pattern(pattern))


def incr(k: str) -> int:
    """Atomic increment; raises ValueError when the key does not exist."""
    return _call(lambda: _backend().incr(k))


# INCR, or start a missing counter at ARGV[1] (a random value: see generations.new_generation).
_INCR_OR_START = """
if redis.call('exists', KEYS[1]) == 1 then return redis.call('incr', KEYS[1]) end
redis.call('set', KEYS[1], ARGV[1])
return tonumber(ARGV[1])
"""


def incr_many(starts: dict[str, int]) -> None:
    """Increment every key (a missing one starts at its value in `starts`): one round trip on Redis."""
    if not starts:
        return
    backend = _backend()

    def operation() -> None:
        client = getattr(backend, "client", None)
        if client is not None and hasattr(client, "get_client"):  # django-redis: one pipeline
            pipe = client.get_client(write=True).pipeline(transaction=False)
            for k, start in starts.items():
                pipe.eval(_INCR_OR_START, 1, client.make_key(k), start)
            pipe.execute()
            return
        for k, start in starts.items():
            try:
                backend.incr(k)
            except ValueError:
                backend.set(k, start, None)

    _call(operation)


def ping() -> None:
    """One cheap round trip (runs the recovery hooks if the backend just came back)."""
    get(key("ping"))


def state() -> str:
    """ "ok" or "degraded" (a failure was seen and the backend has not answered since)."""
    return "degraded" if _breaker.outage else "ok"


def failures() -> int:
    return _breaker.failures


def reset() -> None:
    """Forget the breaker state (tests, and settings changes)."""
    _breaker.reset()


def _on_setting_changed(setting, **kwargs) -> None:
    if setting in ("CACHES", "CACHE_LAYER"):
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="cache_layer.store.setting_changed")
