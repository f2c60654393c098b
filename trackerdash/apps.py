from django.apps import AppConfig


class TrackerdashConfig(AppConfig):
    """The project's own wiring: SQL metrics on every connection, and the operations settings' checks."""

    name = "trackerdash"
    verbose_name = "trackerdash operations"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from trackerdash import checks  # noqa: F401  (registers the checks)
        from trackerdash.monitoring import install_query_observer

        connection_created.connect(install_query_observer, dispatch_uid="trackerdash.install_query_observer")
