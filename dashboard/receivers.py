"""Signal receivers of the domain app: a few lines each, one call each."""

from dashboard.models import UserProfile


def create_profile_for_new_user(sender, instance, created, raw=False, **kwargs) -> None:
    if created and not raw:
        UserProfile.objects.get_or_create(user=instance)
