"""Failed logins are throttled per username and per client address (django-axes) on the token
endpoint, the login form and the admin; the page's telemetry beacon per session. Real repeated
requests, through the real middleware and authentication backends."""

import json

import pytest
from django.test import Client as DjangoClient
from prometheus_client import REGISTRY
from rest_framework.authtoken.models import Token

from tests.conftest import make_user

TOKEN_URL = "/api/auth/token/"
LIMIT = 5


@pytest.fixture(autouse=True)
def _lockout_settings(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def admin_user(db):
    return make_user("admin", is_staff=True)


def token_attempt(client, username, password, **extra):
    return client.post(
        TOKEN_URL, {"username": username, "password": password}, content_type="application/json", **extra
    )


def assert_locked_out_json(response, settings):
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert response.status_code == 429
    assert response["Retry-After"] == str(seconds)
    assert response.json() == {"detail": f"Too many failed logins. Expected available in {seconds} seconds."}


@pytest.mark.django_db
def test_30_wrong_passwords_on_the_token_endpoint_are_throttled(client, admin_user, settings):
    answers = [token_attempt(client, "admin", f"wrong-{n}") for n in range(30)]

    assert [answer.status_code for answer in answers[: LIMIT - 1]] == [400] * (LIMIT - 1)
    assert answers[0].json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    for answer in answers[LIMIT - 1 :]:
        assert_locked_out_json(answer, settings)
    # Locked out: even the right password is refused, and no token is made.
    assert_locked_out_json(token_attempt(client, "admin", "pw-for-tests"), settings)
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_a_success_resets_the_count(client, admin_user):
    for _ in range(2):
        for n in range(LIMIT - 1):
            assert token_attempt(client, "admin", f"wrong-{n}").status_code == 400
        assert token_attempt(client, "admin", "pw-for-tests").status_code == 200


@pytest.mark.django_db
def test_one_address_trying_many_usernames_is_locked_out(client, admin_user, settings):
    for n in range(LIMIT):
        token_attempt(client, f"user-{n}", "wrong", REMOTE_ADDR="203.0.113.7")

    assert_locked_out_json(token_attempt(client, "admin", "pw-for-tests", REMOTE_ADDR="203.0.113.7"), settings)
    assert token_attempt(client, "admin", "pw-for-tests", REMOTE_ADDR="203.0.113.8").status_code == 200


@pytest.mark.django_db
def test_one_username_tried_from_many_addresses_is_locked_out(client, admin_user, owner, settings):
    for n in range(LIMIT):
        token_attempt(client, "admin", "wrong", REMOTE_ADDR=f"198.51.100.{n + 1}")

    assert_locked_out_json(token_attempt(client, "admin", "pw-for-tests", REMOTE_ADDR="198.51.100.99"), settings)
    assert token_attempt(client, "owner", "pw-for-tests", REMOTE_ADDR="198.51.100.99").status_code == 200


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_escape_the_address_lockout(client, admin_user, settings):
    """TRUSTED_PROXY_COUNT=0 (the default): the header any client can set is never read."""
    for n in range(LIMIT):
        token_attempt(client, f"user-{n}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}")

    response = token_attempt(client, "admin", "pw-for-tests", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert_locked_out_json(response, settings)


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_address_it_saw_is_the_clients(client, admin_user, owner, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The client forged the first entry; the proxy appended the address it saw (the last one).
    for n in range(LIMIT):
        token_attempt(client, f"user-{n}", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, 203.0.113.50")

    forged = "10.9.9.77, 203.0.113.50"
    assert_locked_out_json(token_attempt(client, "admin", "pw-for-tests", HTTP_X_FORWARDED_FOR=forged), settings)
    other_client = "203.0.113.50, 203.0.113.51"
    assert token_attempt(client, "admin", "pw-for-tests", HTTP_X_FORWARDED_FOR=other_client).status_code == 200


@pytest.mark.django_db
def test_the_off_switch_lets_every_attempt_through(client, admin_user, settings):
    settings.AXES_ENABLED = False

    assert {token_attempt(client, "admin", f"wrong-{n}").status_code for n in range(LIMIT * 3)} == {400}
    assert token_attempt(client, "admin", "pw-for-tests").status_code == 200


def form_login(client, url, username, password):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_the_login_form_and_the_admin_show_the_lockout_page(url, admin_user, settings):
    browser = DjangoClient()
    answers = [form_login(browser, url, "admin", f"wrong-{n}") for n in range(LIMIT + 2)]

    assert [answer.status_code for answer in answers[: LIMIT - 1]] == [200] * (LIMIT - 1)  # the form, with its error
    for answer in answers[LIMIT - 1 :]:
        assert answer.status_code == 429
        assert answer["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
        assert answer["Content-Type"].startswith("text/html")
        assert "Too many failed logins" in answer.content.decode()
    locked = form_login(browser, url, "admin", "pw-for-tests")
    assert locked.status_code == 429
    assert "_auth_user_id" not in browser.session


@pytest.mark.django_db
def test_a_successful_form_login_resets_the_count(admin_user):
    browser = DjangoClient()
    for _ in range(2):
        for n in range(LIMIT - 1):
            assert form_login(browser, "/accounts/login/", "admin", f"wrong-{n}").status_code == 200
        assert form_login(browser, "/accounts/login/", "admin", "pw-for-tests").status_code == 302
        browser.logout()


# --- Telemetry beacon, per session -------------------------------------------------------


def beacon(client):
    body = {"events": [{"type": "filter_applied"}]}
    return client.post("/api/telemetry/", data=json.dumps(body), content_type="application/json")


def filters_applied() -> float:
    return REGISTRY.get_sample_value("filter_applications_total") or 0.0


@pytest.mark.django_db
def test_the_telemetry_beacon_is_limited_per_session(owner, settings):
    settings.TELEMETRY_BEACONS_PER_MINUTE = 3
    first, second = DjangoClient(), DjangoClient()
    first.force_login(owner)
    second.force_login(owner)  # the same user in another browser: a session of its own
    before = filters_applied()

    answers = [beacon(first) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [204, 204, 204, 429, 429]
    assert int(answers[3]["Retry-After"]) > 0
    assert answers[3].json()["detail"].startswith("Request was throttled.")
    assert filters_applied() == before + 3  # the refused beacons counted nothing
    assert beacon(second).status_code == 204


@pytest.mark.redis
@pytest.mark.django_db
def test_with_redis_away_the_beacon_is_let_through_not_a_500(owner, settings, private_redis):
    settings.TELEMETRY_BEACONS_PER_MINUTE = 1
    browser = DjangoClient()
    browser.force_login(owner)
    assert [beacon(browser).status_code for _ in range(2)] == [204, 429]  # the limit holds while Redis is up
    before = filters_applied()

    private_redis.stop()

    assert beacon(browser).status_code == 204
    assert filters_applied() == before + 1
