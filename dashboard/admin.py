from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.html import format_html

from dashboard.models import (
    Brand,
    Client,
    DeliveryLocation,
    Image,
    LocationHistory,
    ProductionRun,
    StorageLocation,
    Tracker,
    UserProfile,
)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "id"]
    search_fields = ["name"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["title", "client", "url"]
    list_filter = ["client"]
    list_select_related = ["client"]
    search_fields = ["title", "url"]
    autocomplete_fields = ["client"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "logo"]
    list_filter = ["client"]
    list_select_related = ["client", "logo"]
    search_fields = ["name", "client__name"]
    autocomplete_fields = ["client", "logo"]


@admin.register(ProductionRun)
class ProductionRunAdmin(admin.ModelAdmin):
    list_display = ["name", "brand", "client_name", "start_date", "end_date"]
    list_filter = ["brand__client", "start_date"]
    list_select_related = ["brand__client"]
    search_fields = ["name", "brand__name"]
    autocomplete_fields = ["brand"]
    date_hierarchy = "start_date"

    @admin.display(description="client", ordering="brand__client__name")
    def client_name(self, obj: ProductionRun) -> str:
        return obj.brand.client.name


@admin.register(StorageLocation)
class StorageLocationAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "client", "latitude", "longitude"]
    list_filter = ["client"]
    list_select_related = ["client"]
    search_fields = ["name", "city"]
    autocomplete_fields = ["client"]


@admin.register(DeliveryLocation)
class DeliveryLocationAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "address", "client", "latitude", "longitude"]
    list_filter = ["client"]
    list_select_related = ["client"]
    search_fields = ["name", "city", "address"]
    autocomplete_fields = ["client"]


@admin.register(Tracker)
class TrackerAdmin(admin.ModelAdmin):
    list_display = ["serial", "name", "production_run", "current_status", "last_report_received", "battery_level"]
    list_filter = ["current_status", "production_run__brand__client", "production_run__brand"]
    list_select_related = ["production_run__brand"]
    search_fields = ["serial", "name"]
    autocomplete_fields = ["production_run", "storage_location", "delivery_location"]
    readonly_fields = ["latest_location"]
    date_hierarchy = "last_report_received"
    show_full_result_count = False

    @admin.display(description="latest location")
    def latest_location(self, obj: Tracker) -> str:
        # One indexed probe on the change page only (never in the changelist).
        latest = obj.locations.order_by("-timestamp", "-id").first() if obj.pk else None
        if latest is None:
            return "never reported"
        return format_html(
            "{} — {}, {} near {} (confidence {})",
            latest.timestamp.isoformat(),
            f"{latest.latitude:.5f}",
            f"{latest.longitude:.5f}",
            latest.nearest_city or "?",
            latest.confidence if latest.confidence is not None else "?",
        )


@admin.register(LocationHistory)
class LocationHistoryAdmin(admin.ModelAdmin):
    list_display = ["tracker", "timestamp", "latitude", "longitude", "nearest_city", "confidence"]
    list_select_related = ["tracker"]
    search_fields = ["tracker__serial", "nearest_city"]
    raw_id_fields = ["tracker"]
    show_full_result_count = False


class UserProfileInline(admin.StackedInline):
    model = UserProfile
    can_delete = False
    autocomplete_fields = ["client"]


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(BaseUserAdmin):
    inlines = [UserProfileInline]
    list_display = [*BaseUserAdmin.list_display, "client_name"]
    list_select_related = ["profile__client"]

    def get_inlines(self, request, obj):
        # The profile is created by a receiver when the user is; edit it once it exists.
        return self.inlines if obj is not None else []

    @admin.display(description="client", ordering="profile__client__name")
    def client_name(self, obj) -> str:
        profile = getattr(obj, "profile", None)
        return profile.client.name if profile and profile.client else "—"
