"""State of the cache and of the invalidation listener, for /health/."""

from __future__ import annotations

import time

from cache_layer import conf, listener, store


def cache_health() -> dict:
    """{"status": "ok" | "degraded" | "disabled", ...details}."""
    if not conf.get("ENABLED"):
        return {"status": "disabled"}
    try:
        store.ping()
        memory = store.memory_info()
    except store.CacheUnavailable as error:
        return {"status": "degraded", "error": str(error), "failures": store.failures()}
    state = {"status": store.state(), "failures": store.failures()}
    if memory is not None:
        state |= {"maxmemory": memory["maxmemory"], "maxmemory_policy": memory["maxmemory_policy"]}
        # Unbounded, Redis grows until the host runs out; with noeviction, a full Redis refuses
        # writes (every store and invalidation fails). Both work today and break one day: degraded.
        if memory["maxmemory"] == 0 or memory["maxmemory_policy"] == "noeviction":
            state["status"] = "degraded"
    return state


def listener_health() -> dict:
    """{"last_heartbeat_age": seconds or None, "stale": bool}."""
    try:
        beat = listener.last_heartbeat()
    except store.CacheUnavailable:
        beat = None
    if beat is None:
        return {"last_heartbeat_age": None, "stale": True}
    age = max(0.0, time.time() - beat)
    return {"last_heartbeat_age": round(age, 3), "stale": age > conf.get("LISTENER_HEARTBEAT_STALE_SECONDS")}


def redis_memory() -> dict | None:
    """Redis's `used_memory`, `maxmemory`, `maxmemory_policy` and `evicted_keys`; None when the
    cache is off, is not Redis, or does not answer (within the backend's socket timeout)."""
    if not conf.get("ENABLED"):
        return None
    try:
        return store.memory_info()
    except store.CacheUnavailable:
        return None
