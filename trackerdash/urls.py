from django.contrib import admin
from django.urls import include, path

from dashboard import views

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
]

# /health/ and /metrics (README "Operations").
urlpatterns += [path("", include("trackerdash.ops_urls"))]
