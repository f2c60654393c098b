"""CORS for single-page apps on other origins: preflights answered without authentication, headers only
for the origins in CORS_ALLOWED_ORIGINS, and a cookie-based SPA passing CSRF only from a trusted origin."""

import pytest
from django.core import checks
from model_bakery import baker
from rest_framework.test import APIClient

APP = "https://app.example.com"
ELSEWHERE = "https://evil.example.net"


@pytest.fixture
def spa_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.CORS_ALLOW_CREDENTIALS = False


def preflight(origin: str, *, method: str = "GET", headers: str = "authorization, last-event-id, content-type"):
    return APIClient().options(
        "/api/trackers/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


@pytest.mark.django_db
def test_a_preflight_from_an_allowed_origin_is_answered_without_authentication(spa_origin):
    response = preflight(APP, headers="authorization, last-event-id, content-type, if-none-match")

    assert response.status_code == 200  # anonymous: no 401/403 for the browser's preflight
    assert response["Access-Control-Allow-Origin"] == APP
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "last-event-id", "content-type", "if-none-match"} <= allowed
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response  # off unless CORS_ALLOW_CREDENTIALS


@pytest.mark.django_db
def test_a_preflight_from_another_origin_gets_no_cors_headers(spa_origin):
    response = preflight(ELSEWHERE)

    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


@pytest.mark.django_db
def test_with_no_origins_configured_only_the_same_origin_may_call(settings):
    settings.CORS_ALLOWED_ORIGINS = []

    response = preflight(APP)

    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


@pytest.mark.django_db
def test_a_token_request_from_the_spa_can_read_the_body_and_the_etag(spa_origin, staff):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=staff)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = api.get("/api/reference/", HTTP_ORIGIN=APP)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "retry-after"} <= exposed


@pytest.mark.django_db
def test_pages_outside_the_api_carry_no_cors_headers(spa_origin):
    response = APIClient().get("/accounts/login/", HTTP_ORIGIN=APP)

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_a_cookie_based_spa_writes_only_from_a_csrf_trusted_origin(settings, staff):
    """A session SPA: credentials allowed, the CSRF token sent back, and the origin trusted for CSRF."""
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.CORS_ALLOW_CREDENTIALS = True
    tracker = baker.make("dashboard.Tracker", serial="TRK-CORS-1")
    api = APIClient(enforce_csrf_checks=True)
    # The user signs in on the API's own host (its login page), which sets the session and CSRF cookies.
    login_csrf = api.get("/accounts/login/").cookies["csrftoken"].value
    signed_in = api.post(
        "/accounts/login/", {"username": "staff", "password": "pw-for-tests", "csrfmiddlewaretoken": login_csrf}
    )
    assert signed_in.status_code == 302
    csrf = api.cookies["csrftoken"].value  # rotated at login; the SPA's script reads this cookie
    body = [{"tracker": tracker.serial, "timestamp": "2026-11-26T10:00:00Z", "latitude": 1.0, "longitude": 2.0}]

    untrusted = api.post(
        "/api/location-reports/", body, format="json", HTTP_ORIGIN=APP, HTTP_X_CSRFTOKEN=csrf
    )
    settings.CSRF_TRUSTED_ORIGINS = [APP]
    trusted = api.post("/api/location-reports/", body, format="json", HTTP_ORIGIN=APP, HTTP_X_CSRFTOKEN=csrf)

    assert untrusted.status_code == 403
    assert "CSRF" in untrusted.json()["detail"]
    assert trusted.status_code == 200, trusted.content
    assert trusted.json() == {"accepted": 1, "duplicates": 0}
    assert trusted["Access-Control-Allow-Origin"] == APP
    assert trusted["Access-Control-Allow-Credentials"] == "true"
    assert tracker.locations.count() == 1


def test_a_malformed_origin_fails_a_system_check(settings):
    settings.CORS_ALLOWED_ORIGINS = ["app.example.com"]  # no scheme

    errors = [message for message in checks.run_checks() if message.id.startswith("corsheaders.")]

    assert errors
