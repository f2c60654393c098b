from django.contrib import admin
from django.urls import path

from dashboard import views
from trackerdash import ops_urls

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
]

# /health/ and /metrics (README "Operations").
urlpatterns += ops_urls.urlpatterns
