"""System checks of the operations settings: a misconfiguration fails `manage.py check`, not a request."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_metrics_token(app_configs, **kwargs):
    token = settings.METRICS_TOKEN
    if token and len(token) < 32:
        return [
            Warning(
                "METRICS_TOKEN is shorter than 32 characters.",
                hint="Use a long random string, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
                id="trackerdash.W001",
            )
        ]
    return []


@register()
def check_operations_numbers(app_configs, **kwargs):
    errors = []
    for name in ("CACHE_HIT_RATE_WINDOW_SECONDS", "LISTENER_STALE_SECONDS", "HEALTH_DB_TIMEOUT"):
        if getattr(settings, name) <= 0:
            errors.append(Error(f"{name} must be a positive number of seconds.", id="trackerdash.E001"))
    if settings.WORKER_MEMORY_ALERT_BYTES <= 0:
        errors.append(Error("WORKER_MEMORY_ALERT_BYTES must be a positive number of bytes.", id="trackerdash.E002"))
    return errors
