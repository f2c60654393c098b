"""The OpenAPI schema is exact: schemathesis, run against the real server as staff, finds every answer
documented (status and body) and every request the schema calls valid accepted.

Checks: response_schema_conformance (each body matches its documented schema), status_code_conformance
(each status is documented), positive_data_acceptance (schema-valid requests are not refused with a
4xx other than 401/403/404/409/429). The no-5xx fuzzing of bad input is a separate test. The live
stream is left out of the schemathesis run (its 200 does not end, and schemathesis reads bodies
whole); bounded reads check its documented statuses and bodies here.

What a schema cannot say is given as data, so positive requests are valid for the server too: the
ingest rows name existing serials at recent instants (dictionaries bound to the body), the token
request the real credentials. Everything else is generated from the schema alone, with a fixed seed
and a bounded number of examples per operation.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token

from tests.conftest import make_user
from tests.fleet import add_history, iso, make_fleet
from tests.live_server import live_api  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "response_schema_conformance,status_code_conformance,positive_data_acceptance"
SEED = 17
MAX_EXAMPLES = 20


def config_toml(*, serials: list[str], instants: list[str], username: str, password: str, session: str) -> str:
    """schemathesis.toml: the data a schema can't describe, bound to the bodies that need it."""
    return f"""
[dictionaries.serials]
values = {json.dumps(serials)}

[dictionaries.instants]
values = {json.dumps(instants)}

[dictionaries.username]
values = {json.dumps([username])}

[dictionaries.password]
values = {json.dumps([password])}

# Which serials exist and which instants are recent is data, not schema: the rows take them from
# the dictionaries. The examples and coverage phases don't use dictionaries (the schema's example
# names made-up serials on a fixed day, coverage sends "0" at 2000-01-01): fuzzing does.
[[operations]]
include-path = "/api/location-reports/"
phases.examples.enabled = false
phases.coverage.enabled = false
parameters.'body.[*].tracker' = {{ dictionary = "serials" }}
parameters.'body.[*].timestamp' = {{ dictionary = "instants" }}

# Wrong credentials are a 400 (DRF's token view), which no schema can tell from right ones: the
# bound credentials make most requests a 200; the exemption is schemathesis' own for token URLs.
[[operations]]
include-path = "/api/auth/token/"
parameters = {{ "body.username" = {{ dictionary = "username" }}, "body.password" = {{ dictionary = "password" }} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# The page's beacon takes the session only (navigator.sendBeacon sends cookies, no header).
[[operations]]
include-path = "/api/telemetry/"
headers = {{ Cookie = "sessionid={session}" }}

# The live stream's 200 does not end, and schemathesis reads every body whole: each case would wait
# out its timeout. Its statuses and bodies are checked with bounded reads instead (the stream tests
# below); its parameters are fuzzed the same way in test_fuzz_schema.py.
[[operations]]
include-path = "/api/trackers/stream/"
enabled = false
"""


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_the_schema_exact(live_api, tmp_path, settings):  # noqa: F811
    fleet = make_fleet(baker_client(), trackers=4, prefix="ST")
    for tracker in fleet.trackers[:3]:
        add_history(tracker, 3)
    staff = make_user("conformance-staff", is_staff=True)
    token = Token.objects.create(user=staff)
    now = timezone.now()
    instants = [iso(now - timedelta(hours=hours)) for hours in (1, 2, 5, 24, 24 * 7)]
    config = tmp_path / "schemathesis.toml"
    settings.SECRET_KEY = live_api.secret_key  # the session is the server's
    browser = Client()
    browser.force_login(staff)
    config.write_text(
        config_toml(
            serials=[tracker.serial for tracker in fleet.trackers],
            instants=instants,
            username=staff.username,
            password="pw-for-tests",
            session=browser.cookies["sessionid"].value,
        )
    )

    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{live_api.url}/api/schema/",
            "--header",
            f"Authorization: Token {token.key}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--no-color",
            "--output-truncate",
            "false",
        ],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=540,
    )

    report = result.stdout + result.stderr
    summary = report[report.rindex("SUMMARY") :]
    print(summary)  # operations, test cases, failures: the figure (`pytest -s` shows it)
    assert result.returncode == 0, report
    assert "Failures:" not in summary, report
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", summary).groups())
    assert generated == passed > 16 * 10, summary  # every operation exercised, every case passed


STREAM = "/api/trackers/stream/"


def open_stream(base: str, query: str = "", **headers: str) -> tuple[int, dict, bytes]:
    """(status, headers, body) with a bounded read: a 200's first line only (the stream doesn't end)."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request("GET", f"{STREAM}?{query}", headers=headers)
        response = connection.getresponse()
        head = {name.lower(): value for name, value in response.getheaders()}
        return response.status, head, response.readline() if response.status == 200 else response.read()
    finally:
        connection.close()


@functools.cache
def api_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def documented(status: int) -> dict:
    return api_schema()["paths"][STREAM]["get"]["responses"][str(status)]


def validate(body: bytes, response: dict) -> None:
    """A JSON body against the documented schema of its answer, references resolved in the schema."""
    body_schema = response["content"]["application/json"]["schema"]
    jsonschema.validate(json.loads(body), {**body_schema, "components": api_schema()["components"]})


@pytest.mark.django_db(transaction=True)
def test_the_stream_answers_its_documented_200_with_every_documented_parameter(live_api):  # noqa: F811
    token = Token.objects.create(user=make_user("stream-staff", is_staff=True)).key
    query = (
        "brand_ids=1,2&production_run_ids=3&status=in_transit&status=lost&search=lyon"
        "&include_latest_location=false&lazy_load=true"
    )

    status, headers, first = open_stream(
        live_api.url, query, Authorization=f"Token {token}", **{"Last-Event-ID": "not-a-cursor"}
    )

    assert status == 200
    assert headers["content-type"].split(";")[0] == list(documented(200)["content"])[0] == "text/event-stream"
    assert headers["cache-control"] in documented(200)["headers"]["Cache-Control"]["schema"]["enum"]
    assert headers["x-accel-buffering"] in documented(200)["headers"]["X-Accel-Buffering"]["schema"]["enum"]
    assert first.startswith(b"retry: ")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "query, field",
    [
        ("brand_ids=0", "brand_ids"),
        ("production_run_ids=x", "production_run_ids"),
        ("status=flying", "status"),
        ("search=" + "s" * 201, "search"),
        ("include_latest_location=maybe", "include_latest_location"),
        ("lazy_load=2", "lazy_load"),
    ],
)
def test_the_streams_400_is_the_documented_body_naming_the_parameter(live_api, query, field):  # noqa: F811
    token = Token.objects.create(user=make_user("stream-staff", is_staff=True)).key

    status, _, body = open_stream(live_api.url, query, Authorization=f"Token {token}")

    assert status == 400
    validate(body, documented(400))
    assert list(json.loads(body)) == [field]


@pytest.mark.django_db(transaction=True)
def test_the_streams_403_is_the_documented_body(live_api):  # noqa: F811
    for headers in ({}, {"Authorization": "Token not-a-token"}):
        status, _, body = open_stream(live_api.url, "", **headers)
        assert status == 403
        validate(body, documented(403))


def baker_client():
    from model_bakery import baker

    return baker.make("dashboard.Client", name="Conformance client")
