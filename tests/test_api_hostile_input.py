"""What anyone on the internet can send: nesting, offsets and years the database can't hold, huge
bodies, unknown paths, a database that is away. Every answer is a 4xx/503 JSON body and stores nothing."""

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.test import Client as DjangoClient
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dashboard.models import LocationHistory, UserProfile
from dashboard.parsers import JSONParser
from tests.fleet import make_fleet

DEEP = "[" * 100_000 + "]" * 100_000  # 200 KB: the standard library's parser dies of RecursionError


@pytest.fixture
def fleet(client_a):
    return make_fleet(client_a, trackers=2)


def _json_body(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return json.loads(response.content)


@pytest.mark.django_db
def test_a_nested_body_without_credentials_on_the_token_endpoint_is_a_400(client):
    response = client.post("/api/auth/token/", DEEP, content_type="application/json")

    assert response.status_code == 400
    assert _json_body(response)["detail"].startswith("JSON parse error - depth limit exceeded")
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_a_nested_ingest_body_is_a_400_and_stores_nothing(staff_api, fleet):
    response = staff_api.post("/api/location-reports/", DEEP, content_type="application/json")

    assert response.status_code == 400
    assert _json_body(response)["detail"].startswith("JSON parse error - depth limit exceeded")
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
def test_a_nested_preferences_body_is_a_400_and_changes_nothing(owner_api, owner):
    response = owner_api.patch("/api/me/preferences/", DEEP, content_type="application/json")

    assert response.status_code == 400
    assert _json_body(response)["detail"].startswith("JSON parse error - depth limit exceeded")
    assert UserProfile.objects.get(user=owner).prefers_full_load is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b'["\\ud800"]', b"[NaN]", b'{"prefers_full_load": true} trailing', b"\xff\xfe", b"{"],
    ids=["lone-surrogate", "nan", "trailing", "not-utf8", "truncated"],
)
def test_every_json_parse_error_is_a_400_json_body(owner_api, owner, body):
    response = owner_api.patch("/api/me/preferences/", body, content_type="application/json")

    assert response.status_code == 400
    assert _json_body(response)["detail"].startswith("JSON parse error - ")
    assert UserProfile.objects.get(user=owner).prefers_full_load is False


@pytest.mark.django_db
def test_a_body_in_a_declared_charset_is_decoded_before_parsing(owner_api, owner):
    body = '{"prefers_full_load": true, "x": "é"}'.encode("latin-1")
    response = owner_api.patch("/api/me/preferences/", body, content_type="application/json; charset=latin-1")

    assert response.status_code == 200
    assert UserProfile.objects.get(user=owner).prefers_full_load is True


@pytest.mark.django_db
def test_the_token_endpoint_still_takes_a_form(client, owner):
    response = client.post("/api/auth/token/", {"username": "owner", "password": "pw-for-tests"})

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=owner).key}


# --- Time zones --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["since", "until"])
def test_an_offset_postgresql_cannot_hold_is_converted_to_utc(staff_api, fleet, param):
    """Found by schemathesis: +23:46 is valid ISO 8601, PostgreSQL only holds ±15:59."""
    tracker = fleet.trackers[0]
    LocationHistory.objects.create(
        tracker=tracker, timestamp="0124-03-15T08:00:00Z", latitude=1.0, longitude=2.0, nearest_city=""
    )
    response = staff_api.get(f"/api/trackers/{tracker.id}/history/", {param: "0124-03-16T08:10:36.9+23:46"})

    assert response.status_code == 200
    # 0124-03-16T08:10:36.9+23:46 is 0124-03-15T08:24:36.9Z: after the stored report, so only `until` finds it.
    assert response.json()["total"] == (1 if param == "until" else 0)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("param", ["since", "until"])
def test_an_instant_outside_the_years_in_utc_is_a_400_naming_the_parameter(staff_api, fleet, param, value):
    response = staff_api.get(f"/api/trackers/{fleet.trackers[0].id}/history/", {param: value})

    assert response.status_code == 400
    assert response.json() == {param: ["Enter an instant that falls between the years 1 and 9999 in UTC."]}


@pytest.mark.django_db
def test_an_ingest_timestamp_with_a_large_offset_is_stored_in_utc(staff_api, fleet):
    tracker = fleet.trackers[0]
    when = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    offset = when.astimezone(timezone.get_fixed_timezone(23 * 60 + 59))  # +23:59, beyond PostgreSQL's ±15:59
    report = {"tracker": tracker.serial, "timestamp": offset.isoformat(), "latitude": 1.0, "longitude": 2.0}

    response = staff_api.post("/api/location-reports/", [report], format="json")

    assert response.status_code == 200, response.content
    assert LocationHistory.objects.get(tracker=tracker).timestamp == when


@pytest.mark.django_db
def test_an_ingest_timestamp_that_overflows_in_utc_is_a_bad_row(staff_api, fleet):
    good = {"tracker": fleet.trackers[0].serial, "timestamp": timezone.now().isoformat(), "latitude": 1, "longitude": 2}
    bad = {**good, "timestamp": "0001-01-01T00:00:00+01:00"}

    response = staff_api.post("/api/location-reports/", [good, bad], format="json")

    assert response.status_code == 400
    assert response.json() == {"1": {"timestamp": ["Datetime value out of range."]}}
    assert not LocationHistory.objects.exists()


# --- Body size ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_19_mb_ingest_body_is_a_413_naming_the_limit(staff_api, fleet):
    body = b"[" + b",".join([b'{"tracker": "A-0001", "timestamp": "2026-01-01T00:00:00Z"}'] * 330_000) + b"]"
    assert len(body) > 19_000_000

    response = staff_api.post("/api/location-reports/", body, content_type="application/json")

    assert response.status_code == 413
    assert _json_body(response) == {"detail": f"Request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."}
    assert not LocationHistory.objects.exists()


def test_the_parser_reads_a_stream_only_up_to_the_limit(settings):
    """A body without a declared length (chunked, under ASGI) is refused once it passes the limit,
    having read one byte past it, not the whole stream."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    stream = io.BytesIO(b"[" + b"0," * 10_000 + b"0]")

    with pytest.raises(RequestDataTooBig):
        JSONParser().parse(stream, "application/json", {})
    assert stream.tell() == 1001
    assert JSONParser().parse(io.BytesIO(b"[" + b"0," * 400 + b"0]"), "application/json", {}) == [0] * 401


@pytest.mark.django_db
def test_a_full_batch_of_the_largest_rows_fits_under_the_limit(staff_api, fleet):
    """10,000 rows with a 64-character serial, a 200-character city and full-precision numbers:
    not a 413 (the rows' serials are unknown: a 400 naming rows, and nothing stored)."""
    row = {
        "tracker": "S" * 64,
        "timestamp": (timezone.now() - timedelta(days=1)).isoformat(),  # 32 characters, like the longest
        "latitude": -89.12345678901234,
        "longitude": -179.12345678901234,
        "nearest_city": "C" * 200,
        "confidence": 0.12345678901234567,
    }
    body = json.dumps([row] * 10_000).encode()
    assert len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = staff_api.post("/api/location-reports/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["9999"] == {"tracker": [f"No tracker with serial {'S' * 64!r}."]}
    assert not LocationHistory.objects.exists()


@pytest.mark.django_db
def test_an_oversized_form_on_the_token_endpoint_is_a_413(client):
    response = client.post(
        "/api/auth/token/",
        "username=x&password=" + "p" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 413
    assert _json_body(response) == {"detail": f"Request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."}


@pytest.mark.django_db
def test_the_login_page_keeps_djangos_own_answer_to_an_oversized_body(client):
    response = client.post(
        "/accounts/login/",
        "username=x&password=" + "p" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


# --- JSON 404 ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/no-such-thing/", "/api/trackers/-1/", "/api/trackers/abc/history/", "/api/"])
def test_an_unknown_api_path_is_a_json_404(owner_api, path):
    response = owner_api.get(path)

    assert response.status_code == 404
    assert _json_body(response) == {"detail": "Not found."}


@pytest.mark.django_db
def test_an_unknown_api_path_is_a_json_404_with_debug_on_too(owner_api, settings):
    settings.DEBUG = True
    response = owner_api.get("/api/no-such-thing/")

    assert response.status_code == 404
    assert _json_body(response) == {"detail": "Not found."}


@pytest.mark.django_db
def test_an_unknown_page_path_keeps_djangos_html_404(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- Database unavailable ----------------------------------------------------------------


def _terminate_own_connection() -> None:
    """Kill this test's own database session from a second connection (never anyone else's)."""
    import psycopg

    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_connection_lost_mid_request_is_a_503_with_retry_after(client_a, owner):
    make_fleet(client_a, trackers=1)
    api = DjangoClient()
    api.force_login(owner)
    token = Token.objects.create(user=owner)
    _terminate_own_connection()

    response = api.get("/api/trackers/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert _json_body(response) == {"detail": "The database is unavailable; retry shortly."}
    # And the next request, on a new connection, is answered normally.
    connection.close()
    assert api.get("/api/trackers/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_that_refuses_connections_is_a_503_with_retry_after(owner, settings):
    """The database address points at a closed port: the API answers 503, not 500 (as while
    PostgreSQL restarts; the shared server itself is never touched)."""
    token = Token.objects.create(user=owner)
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    api = DjangoClient()
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
    try:
        response = api.get("/api/trackers/", HTTP_AUTHORIZATION=f"Token {token.key}")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert _json_body(response) == {"detail": "The database is unavailable; retry shortly."}
