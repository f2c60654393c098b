from django.conf import settings
from django.db import models
from django.db.models import Q

from cache_layer import CacheAwareManager


def _coordinate_constraints(prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=Q(latitude__gte=-90) & Q(latitude__lte=90), name=f"{prefix}_latitude_range"),
        models.CheckConstraint(
            condition=Q(longitude__gte=-180) & Q(longitude__lte=180), name=f"{prefix}_longitude_range"
        ),
    ]


class Client(models.Model):
    name = models.CharField(max_length=200, unique=True)

    objects = CacheAwareManager()  # bulk writes invalidate the reference cache

    class Meta:
        db_table = "clients"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    """A picture (a brand's logo, a product shot). No client means shared with everyone."""

    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="images")
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500)

    objects = CacheAwareManager()  # bulk writes invalidate the reference cache

    class Meta:
        db_table = "images"
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title


class Brand(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="brands")
    name = models.CharField(max_length=200)
    logo = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = CacheAwareManager()  # bulk writes invalidate the reference cache

    class Meta:
        db_table = "brands"
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["client", "name"], name="brand_unique_name_per_client")]

    def __str__(self) -> str:
        return self.name


class ProductionRun(models.Model):
    # Indexed by production_runs_brand_idx (Meta.indexes).
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="production_runs", db_index=False)
    name = models.CharField(max_length=200)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)

    objects = CacheAwareManager()  # bulk writes invalidate the reference cache

    class Meta:
        db_table = "production_runs"
        ordering = ["-start_date", "id"]
        indexes = [models.Index(fields=["brand"], name="production_runs_brand_idx")]
        constraints = [
            models.UniqueConstraint(fields=["brand", "name"], name="production_run_unique_name_per_brand"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="production_run_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.brand})"


class StorageLocation(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="storage_locations")
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=200)
    latitude = models.FloatField()
    longitude = models.FloatField()

    objects = CacheAwareManager()  # bulk writes invalidate the reference cache

    class Meta:
        db_table = "storage_locations"
        ordering = ["name", "id"]
        constraints = _coordinate_constraints("storage_location")

    def __str__(self) -> str:
        return f"{self.name}, {self.city}"


class DeliveryLocation(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="delivery_locations")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=200)
    latitude = models.FloatField()
    longitude = models.FloatField()

    objects = CacheAwareManager()  # bulk writes invalidate the reference cache

    class Meta:
        db_table = "delivery_locations"
        ordering = ["name", "id"]
        constraints = _coordinate_constraints("delivery_location")

    def __str__(self) -> str:
        return f"{self.name}, {self.city}"


class TrackerStatus(models.TextChoices):
    IN_STORAGE = "in_storage", "In storage"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned"
    LOST = "lost", "Lost"


class Tracker(models.Model):
    # Indexed by trackers_run_idx (Meta.indexes): no second, automatic index on the same column.
    production_run = models.ForeignKey(
        ProductionRun, on_delete=models.PROTECT, related_name="trackers", db_index=False
    )
    serial = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    current_status = models.CharField(max_length=20, choices=TrackerStatus.choices, default=TrackerStatus.IN_STORAGE)
    last_report_received = models.DateTimeField(null=True, blank=True)
    battery_level = models.PositiveSmallIntegerField(null=True, blank=True)
    storage_location = models.ForeignKey(
        StorageLocation, null=True, blank=True, on_delete=models.SET_NULL, related_name="trackers"
    )
    delivery_location = models.ForeignKey(
        DeliveryLocation, null=True, blank=True, on_delete=models.SET_NULL, related_name="trackers"
    )

    objects = CacheAwareManager()  # bulk writes invalidate the reference cache

    class Meta:
        db_table = "trackers"
        ordering = ["serial"]
        indexes = [
            models.Index(fields=["production_run"], name="trackers_run_idx"),
            models.Index(fields=["current_status"], name="trackers_status_idx"),
            models.Index(fields=["last_report_received"], name="trackers_last_report_idx"),
            models.Index(fields=["current_status", "production_run"], name="trackers_status_run_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(battery_level__isnull=True) | Q(battery_level__gte=0) & Q(battery_level__lte=100),
                name="tracker_battery_level_range",
            ),
            models.CheckConstraint(condition=Q(current_status__in=TrackerStatus.values), name="tracker_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.serial} {self.name}".strip()


class LocationHistory(models.Model):
    tracker = models.ForeignKey(Tracker, on_delete=models.CASCADE, related_name="locations", db_index=False)
    timestamp = models.DateTimeField()
    latitude = models.FloatField()
    longitude = models.FloatField()
    nearest_city = models.CharField(max_length=200, blank=True)
    confidence = models.FloatField(null=True, blank=True)

    # Bulk writes move the query-cache scopes of the runs written (tracker lists show the latest location).
    objects = CacheAwareManager()

    class Meta:
        db_table = "location_history"
        verbose_name_plural = "location history"
        ordering = ["-timestamp", "-id"]
        permissions = [("ingest_location_reports", "Can ingest location reports through the API")]
        indexes = [
            # The latest-location subquery and the history endpoint are one probe of this index.
            models.Index(fields=["tracker", "-timestamp"], name="location_history_latest_idx"),
        ]
        constraints = [
            *_coordinate_constraints("location_history"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0) & Q(confidence__lte=1),
                name="location_history_confidence_range",
            ),
            models.UniqueConstraint(fields=["tracker", "timestamp"], name="location_history_one_per_instant"),
        ]

    def __str__(self) -> str:
        return f"{self.tracker_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S} ({self.latitude:.4f}, {self.longitude:.4f})"


class TrackerLatestLocation(models.Model):
    """A tracker's newest report: one row per tracker that has reported, a copy of its newest
    `LocationHistory` row (ties: the highest id). Reading it costs one primary-key probe, whatever
    the history's length (the pattern of ThingsBoard's `ts_kv_latest`).

    Written only by database triggers on `location_history` (`dashboard/sql/latest_location_*.sql`,
    migration 0004), so that every write path keeps it exact in the writer's own transaction:
    ingest, ORM saves/deletes, bulk paths, the admin, and raw SQL. An insert only moves it forward
    (an older report leaves it alone); deleting the row it copies falls back to the one before.
    Dropping history by retention (whole partitions, or a TRUNCATE) leaves it: the last known
    location stays known.
    """

    tracker = models.OneToOneField(Tracker, primary_key=True, on_delete=models.CASCADE, related_name="latest")
    # The location_history row copied (no foreign key: history rows may be dropped by retention).
    history_id = models.BigIntegerField()
    timestamp = models.DateTimeField()
    latitude = models.FloatField()
    longitude = models.FloatField()
    nearest_city = models.CharField(max_length=200, blank=True)
    confidence = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "tracker_latest_locations"
        verbose_name = "latest location"

    def __str__(self) -> str:
        return f"{self.tracker_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S} ({self.latitude:.4f}, {self.longitude:.4f})"


class UserProfile(models.Model):
    """Scope and preferences of a dashboard user; created for every new user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.SET_NULL, related_name="users")
    prefers_full_load = models.BooleanField(
        default=False, help_text="Power users: load every tracker at once, never lazily."
    )

    class Meta:
        db_table = "user_profiles"

    def __str__(self) -> str:
        return f"Profile of {self.user}"
