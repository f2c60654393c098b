from django.urls import path

from dashboard import api, auth_views

app_name = "api"

urlpatterns = [
    path("auth/token/", auth_views.TokenView.as_view(), name="token"),
    path("reference/", api.ReferenceView.as_view(), name="reference"),
    path("clients/", api.ClientListView.as_view(), name="clients"),
    path("brands/", api.BrandListView.as_view(), name="brands"),
    path("production-runs/", api.ProductionRunListView.as_view(), name="production-runs"),
    path("storage-locations/", api.StorageLocationListView.as_view(), name="storage-locations"),
    path("delivery-locations/", api.DeliveryLocationListView.as_view(), name="delivery-locations"),
    path("images/", api.ImageListView.as_view(), name="images"),
    path("me/scope/", api.ScopeView.as_view(), name="me-scope"),
    path("me/preferences/", api.PreferencesView.as_view(), name="me-preferences"),
    path("trackers/", api.TrackerListView.as_view(), name="trackers"),
    path("trackers/export.csv", api.TrackerExportView.as_view(), name="trackers-export"),
    path("trackers/<int:pk>/", api.TrackerDetailView.as_view(), name="tracker-detail"),
    path("trackers/<int:pk>/history/", api.TrackerHistoryView.as_view(), name="tracker-history"),
    path("location-reports/", api.LocationReportsView.as_view(), name="location-reports"),
]
