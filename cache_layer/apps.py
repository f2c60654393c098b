from django.apps import AppConfig


class CacheLayerConfig(AppConfig):
    name = "cache_layer"
    verbose_name = "Cache layer"

    def ready(self) -> None:
        from cache_layer import conf  # noqa: F401 - registers the settings check
