"""Redis refused, paused, down during a write, flushed: answers stay correct, from the database when they must."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client as DjangoClient
from rest_framework.test import APIClient

import cache_layer
from cache_layer import health, invalidation, store
from dashboard.models import Client
from tests.cache_helpers import reloads

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def short_debounce(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "DEBOUNCE_SECONDS": 0.1}


def names():
    return [row["name"] for row in cache_layer.get("clients")]


def warm(expected, django_assert_num_queries):
    assert names() == expected
    with django_assert_num_queries(0):
        assert names() == expected


def test_refused_connections_are_answered_from_the_database(
    private_redis, client_a, staff_api, django_assert_num_queries
):
    warm(["Client A"], django_assert_num_queries)
    private_redis.stop()
    assert names() == ["Client A"]
    response = staff_api.get("/api/reference/")
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["clients"]] == ["Client A"]
    assert health.cache_health()["status"] == "degraded"


def test_while_the_breaker_is_open_reads_do_not_try_redis(settings, private_redis, client_a):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "BREAKER_COOLDOWN_SECONDS": 60}
    names()
    private_redis.stop()
    names()
    failures = store.failures()
    for _ in range(5):
        assert names() == ["Client A"]
    assert store.failures() == failures  # no request paid the timeout again


@pytest.mark.django_db(transaction=True)
def test_a_paused_redis_costs_a_bounded_wait_not_a_hang(private_redis, client_a):
    invalidation.wait_for_reloads()
    names()
    private_redis.client().execute_command("CLIENT", "PAUSE", "20000", "ALL")
    result = {}

    def read():
        try:
            result["names"] = names()
        finally:
            connections.close_all()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(10)  # the pause lasts 20 s: only the socket timeout can end the read this early
    assert not reader.is_alive()
    assert result["names"] == ["Client A"]
    assert store.state() == "degraded"


def test_a_write_while_redis_is_down_is_never_hidden_by_the_old_entry(
    private_redis, client_a, django_capture_on_commit_callbacks, django_assert_num_queries
):
    warm(["Client A"], django_assert_num_queries)
    private_redis.freeze()  # unreachable, but keeps the old entry and generation for when it returns
    with django_capture_on_commit_callbacks(execute=True):
        Client.objects.filter(pk=client_a.pk).update(name="Written during the outage")
    assert names() == ["Written during the outage"]  # from the database
    private_redis.thaw()
    time.sleep(0.3)  # the breaker's cooldown (0.2 s in this test)
    assert names() == ["Written during the outage"]
    assert store.state() == "ok"


def test_a_flushed_redis_reloads(private_redis, client_a, django_assert_num_queries):
    warm(["Client A"], django_assert_num_queries)
    before = reloads("clients")
    private_redis.client().flushall()
    assert names() == ["Client A"]
    assert reloads("clients") == before + 1
    with django_assert_num_queries(0):
        assert names() == ["Client A"]


@pytest.mark.django_db(transaction=True)
def test_redis_back_after_an_outage_serves_from_the_cache_again(private_redis, client_a, django_assert_num_queries):
    invalidation.wait_for_reloads()
    warm(["Client A"], django_assert_num_queries)
    private_redis.freeze()
    names()
    private_redis.thaw()
    time.sleep(0.3)
    assert names() == ["Client A"]  # recovery: every generation bumped, a reload scheduled
    invalidation.wait_for_reloads()
    with django_assert_num_queries(0):
        assert names() == ["Client A"]


def test_with_redis_stopped_a_logged_in_session_still_answers(private_redis, client_a, staff):
    api = APIClient()
    api.force_login(staff)  # the session is in the database and in the (private) cache
    assert api.get("/api/me/scope/").status_code == 200
    private_redis.stop()
    response = api.get("/api/me/scope/")  # the session comes from the database now
    assert response.status_code == 200
    assert response.json()["client_ids"] == [client_a.pk]


def test_with_redis_stopped_a_user_logs_in_and_out(private_redis, client_a, staff):
    private_redis.stop()
    browser = DjangoClient()
    response = browser.post("/admin/login/", {"username": "staff", "password": "pw-for-tests", "next": "/admin/"})
    assert response.status_code == 302
    assert browser.get("/api/me/scope/").json()["client_ids"] == [client_a.pk]
    logout_keeping_the_cookie(browser)
    assert browser.get("/api/me/scope/").status_code == 403


def test_a_logout_while_redis_is_paused_stays_logged_out_when_it_returns(private_redis, client_a, staff):
    browser = DjangoClient()
    browser.force_login(staff)
    assert browser.get("/api/me/scope/").status_code == 200  # the session is cached
    private_redis.freeze()  # unreachable, but keeps the cached session for when it returns
    logout_keeping_the_cookie(browser)  # deleted from the database; the cache could not be told
    private_redis.thaw()
    time.sleep(0.3)  # the breaker's cooldown (0.2 s in this test)
    assert browser.get("/api/me/scope/").status_code == 403


def logout_keeping_the_cookie(browser):
    """Flush the session through the session engine (the page's logout view is another branch's), then
    present the old cookie again, as a browser that kept it (or a thief) would."""
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    browser.logout()
    browser.cookies[settings.SESSION_COOKIE_NAME] = cookie
