"""The test actors (a client's user, another client's user, staff) and the service markers.

Tests marked `postgres` or `redis` need the real service: they are skipped with the reason
when DATABASE_URL / REDIS_URL are not set, and fail instead when REQUIRE_SERVICES=1 (CI).
"""

import os

import pytest
from django.conf import settings
from django.core.cache import caches
from model_bakery import baker
from rest_framework.test import APIClient

# Each test run gets its own Redis key prefix, so tests never see or leave the shared
# Redis's keys (and two runs side by side don't collide). Subprocesses inherit it.
TEST_KEY_PREFIX = f"trackerdash-test-{os.getpid()}"
os.environ["CACHE_KEY_PREFIX"] = TEST_KEY_PREFIX
for alias in settings.CACHES:
    settings.CACHES[alias]["KEY_PREFIX"] = TEST_KEY_PREFIX

# Every test makes users: a fast password hasher keeps the suite in seconds (PBKDF2 is slow on purpose).
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
SERVICE_MISSING = {
    "postgres": (
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        "needs PostgreSQL: set DATABASE_URL=postgres://...",
    ),
    "redis": (not settings.REDIS_URL, "needs Redis: set REDIS_URL=redis://..."),
}


@pytest.fixture(autouse=True)
def _require_services(request):
    for marker, (missing, reason) in SERVICE_MISSING.items():
        if missing and request.node.get_closest_marker(marker):
            if REQUIRE_SERVICES:
                pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}")
            pytest.skip(reason)


def _clear_test_cache() -> None:
    cache = caches["default"]
    if hasattr(cache, "delete_pattern"):
        try:
            cache.delete_pattern("*")  # only this run's prefix
        except Exception:  # a test may have pointed the cache at a stopped Redis
            pass
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clean_cache():
    _clear_test_cache()
    yield
    _clear_test_cache()


@pytest.fixture
def client_a(db):
    return baker.make("dashboard.Client", name="Client A")


@pytest.fixture
def client_b(db):
    return baker.make("dashboard.Client", name="Client B")


def make_user(username: str, *, client=None, is_staff: bool = False):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, password="pw-for-tests", is_staff=is_staff)
    if client is not None:
        user.profile.client = client
        user.profile.save()
    return user


@pytest.fixture
def owner(client_a):
    """A user of client A: sees client A's data only."""
    return make_user("owner", client=client_a)


@pytest.fixture
def other_user(client_b):
    """A user of client B: must never see client A's data."""
    return make_user("other", client=client_b)


@pytest.fixture
def staff(db):
    return make_user("staff", is_staff=True)


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")


def _logged_in(user) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


@pytest.fixture
def owner_api(owner):
    return _logged_in(owner)


@pytest.fixture
def other_api(other_user):
    return _logged_in(other_user)


@pytest.fixture
def staff_api(staff):
    return _logged_in(staff)
