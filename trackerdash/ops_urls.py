"""Routes of the operations endpoints (included at the root by trackerdash/urls.py)."""

from django.urls import path

from trackerdash.health import health_view
from trackerdash.monitoring import metrics_view

urlpatterns = [
    path("health/", health_view, name="health"),
    path("metrics", metrics_view, name="metrics"),
]
