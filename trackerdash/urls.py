from django.contrib import admin
from django.urls import path

from dashboard import views
from trackerdash.health import health_view
from trackerdash.monitoring import metrics_view

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("health/", health_view, name="health"),
    path("metrics", metrics_view, name="metrics"),
]
