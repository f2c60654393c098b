"""The reference endpoints read the cache: a warm /api/reference/ runs no reference SQL; prewarm, health, settings."""

import pytest
from django.core.management import call_command
from django.test import override_settings
from model_bakery import baker
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cache_layer import conf, health
from dashboard.models import Brand, Image
from tests.cache_helpers import backend_round_trips

pytestmark = pytest.mark.django_db


@pytest.fixture
def reference_data(client_a, client_b):
    logo = baker.make(Image, client=client_a, title="Logo A", url="https://example.com/a.png")
    baker.make(Image, client=None, title="Shared", url="https://example.com/s.png")
    baker.make(Brand, client=client_a, name="Trail", logo=logo)
    baker.make(Brand, client=client_b, name="Summit")


def test_a_warm_reference_request_runs_no_reference_sql(owner_api, reference_data, django_assert_num_queries):
    cold = owner_api.get("/api/reference/").json()
    # 1 the user with their profile (their client, one join): authentication only; the session
    # comes from the cache.
    with django_assert_num_queries(1):
        warm = owner_api.get("/api/reference/").json()
    assert warm == cold
    assert [b["name"] for b in warm["brands"]] == ["Trail"]  # scoped in memory
    assert [i["title"] for i in warm["images"]] == ["Logo A", "Shared"]


def test_a_token_request_reads_the_token_user_and_profile_in_one_query(
    owner, reference_data, django_assert_num_queries
):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    cold = api.get("/api/reference/").json()
    # 1 the token with its user and the user's profile (one join); no session, no reference SQL.
    with django_assert_num_queries(1):
        warm = api.get("/api/reference/").json()
    assert warm == cold
    assert [b["name"] for b in warm["brands"]] == ["Trail"]


def test_a_warm_bootstrap_validates_the_six_tables_in_one_cache_round_trip(owner_api, staff_api, reference_data):
    owner_api.get("/api/reference/")
    with backend_round_trips() as calls:
        assert [b["name"] for b in owner_api.get("/api/reference/").json()["brands"]] == ["Trail"]
    # 1 the session, 2 the six generations, read once for the ETag and the rows (held in process)
    assert len(calls) == 2
    staff_api.get("/api/me/scope/")
    with backend_round_trips() as calls:
        assert staff_api.get("/api/me/scope/").json()["brand_count"] == 2
    assert len(calls) == 2  # 1 the session, 2 the generations of runs, brands and clients (ETag and rows)


def test_each_scope_gets_its_own_rows_from_one_cached_table(owner_api, other_api, staff_api, reference_data):
    assert [b["name"] for b in owner_api.get("/api/brands/").json()] == ["Trail"]
    assert [b["name"] for b in other_api.get("/api/brands/").json()] == ["Summit"]
    assert [b["name"] for b in staff_api.get("/api/brands/").json()] == ["Summit", "Trail"]


def test_prewarm_fills_every_reference_table(staff_api, reference_data, django_assert_num_queries, capsys):
    call_command("prewarm_caches")
    out = capsys.readouterr().out
    for table in ("clients", "brands", "production_runs", "storage_locations", "delivery_locations", "images"):
        assert table in out
    assert "Prewarmed 6 tables" in out
    with django_assert_num_queries(1):  # 1 the user (session from the cache; staff: no profile needed)
        assert staff_api.get("/api/reference/").status_code == 200


def test_the_cache_switched_off_reads_the_database(settings, owner_api, reference_data, django_assert_num_queries):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "ENABLED": False}
    owner_api.get("/api/reference/")
    # 1 session, 2 the user with their profile, 3-8 the six reference tables.
    with django_assert_num_queries(8):
        assert [b["name"] for b in owner_api.get("/api/reference/").json()["brands"]] == ["Trail"]
    assert health.cache_health() == {"status": "disabled"}


def test_cache_health_is_ok_when_the_backend_answers(settings):
    settings.CACHES = {**settings.CACHES, "memory": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "CACHE_ALIAS": "memory"}
    assert health.cache_health() == {"status": "ok", "failures": 0}  # local memory: no maxmemory to report


@pytest.mark.redis
def test_cache_health_is_ok_when_redis_answers_and_is_bounded(private_redis):
    assert health.cache_health() == {
        "status": "ok",
        "failures": 0,
        "maxmemory": 64 * 1024 * 1024,
        "maxmemory_policy": "allkeys-lru",
    }


@pytest.mark.parametrize(
    "bad",
    [{"DEBOUNCE_SECONDS": "2"}, {"NO_SUCH_SETTING": 1}, {"CACHE_ALIAS": "missing"}, {"ENABLED": 1}],
)
def test_a_misconfiguration_fails_the_system_check(bad):
    with override_settings(CACHE_LAYER=bad):
        assert conf.check_settings()


def test_the_project_settings_pass_the_system_check():
    assert conf.check_settings() == []
