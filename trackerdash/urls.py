from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard import api_errors, views
from trackerdash import ops_urls

urlpatterns = [
    path("", views.index, name="index"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("dashboard.api_urls")),
    # Last under /api/: an unknown path (or /api/trackers/-1/) is a JSON 404, DEBUG or not.
    re_path(r"^api/", api_errors.api_not_found, name="api-not-found"),
]

# Under /api/, Django's error pages answer in JSON (dashboard/api_errors.py); elsewhere they are Django's.
handler400 = api_errors.bad_request
handler404 = api_errors.page_not_found
handler500 = api_errors.server_error

# /health/ and /metrics (README "Operations").
urlpatterns += ops_urls.urlpatterns
