from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Tracker dashboard"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from dashboard import receivers
        from dashboard.cache import register_reference_tables

        post_save.connect(
            receivers.create_profile_for_new_user,
            sender=get_user_model(),
            dispatch_uid="dashboard.create_profile_for_new_user",
        )
        register_reference_tables()
