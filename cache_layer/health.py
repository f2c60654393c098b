"""State of the cache and of the invalidation listener, for /health/."""


def cache_health() -> dict:
    """{"status": "ok" | "degraded" | "disabled", ...details}."""
    return {"status": "disabled"}


def listener_health() -> dict:
    """{"last_heartbeat_age": seconds or None, "stale": bool}."""
    return {"last_heartbeat_age": None, "stale": True}
