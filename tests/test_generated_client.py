"""A client generated from /api/schema/ (openapi-python-client) works against the real server: it gets a
token, reads reference data, filters trackers and ingests a report. A schema that drifts from the code
(a renamed field, a parameter the code no longer takes, a body it refuses) fails here.

The client is generated into the test's temporary directory and imported from there; nothing of it is
kept or committed.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from model_bakery import baker

from dashboard.models import LocationHistory, Tracker
from tests.conftest import make_user
from tests.fleet import add_history, make_fleet
from tests.live_server import live_api  # noqa: F401  (the fixture)
from tests.test_serve import fetch

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "trackerdash_client"


@pytest.fixture
def generated_client(live_api, tmp_path, monkeypatch):  # noqa: F811
    """The generated package, imported from tmp_path (and forgotten afterwards)."""
    status, _, body = fetch(f"{live_api.url}/api/schema/?format=json")
    assert status == 200
    schema = json.loads(body)
    # An SPA's client sends JSON. openapi-python-client 0.29.1 writes a body offered in several
    # media types (the token endpoint also takes forms) as a union that names `Unset` without
    # importing it: the generated module doesn't import. The client is made from the JSON ones.
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            operation["requestBody"]["content"] = {"application/json": content["application/json"]}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    # No post-hooks: the generator's default runs ruff from PATH to format the code.
    (tmp_path / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            "schema.json",
            "--config",
            "config.yaml",
            "--meta",
            "none",
            "--output-path",
            PACKAGE,
            "--fail-on-warning",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield importlib.import_module(PACKAGE)
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def api(package, module: str):
    return importlib.import_module(f"{package.__name__}.api.{module}")


def model(package, name: str):
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_logs_in_reads_filters_and_ingests(live_api, generated_client):  # noqa: F811
    client_a, client_b = baker.make("dashboard.Client", name="Client A"), baker.make("dashboard.Client", name="B")
    ours = make_fleet(client_a, trackers=3, prefix="GA")
    theirs = make_fleet(client_b, trackers=2, prefix="GB")
    add_history(ours.trackers[0], 2)
    Tracker.objects.filter(pk=ours.trackers[2].pk).update(current_status="lost")
    user = make_user("spa-robot", client=client_a)
    user.user_permissions.add(*_ingest_permission())
    c = generated_client

    # 1. A token for the user, from username and password.
    anonymous = c.Client(base_url=live_api.url, raise_on_unexpected_status=True)
    answer = api(c, "auth.auth_token_create").sync_detailed(
        client=anonymous, body=model(c, "TokenRequest")(username="spa-robot", password="pw-for-tests")
    )
    assert answer.status_code == 200, answer.content
    token = answer.parsed
    assert len(token.token) == 40
    authed = c.AuthenticatedClient(base_url=live_api.url, token=token.token, prefix="Token")

    # 2. Reference data: the user's own client only.
    reference = api(c, "reference.reference_retrieve").sync(client=authed)
    assert [brand.name for brand in reference.brands] == ["GA brand"]
    assert [run.id for run in reference.production_runs] == [ours.run.id]
    assert {status.value for status in reference.statuses} >= {"in_transit", "lost"}

    # 3. Filtered trackers: by brand and status; the other client's brand id matches nothing.
    statuses = model(c, "TrackersListStatusItem")
    by_serial = model(c, "TrackersListOrdering")("serial")
    page = api(c, "trackers.trackers_list").sync(
        client=authed, brand_ids=[ours.brand.id], status=[statuses.IN_TRANSIT], ordering=by_serial
    )
    assert [item.serial for item in page.items] == ["GA-00000", "GA-00001"]
    assert page.total == 2
    assert page.items[0].latest_location.latitude == pytest.approx(45.0001)
    assert page.items[1].latest_location is None  # never reported
    foreign = api(c, "trackers.trackers_list").sync(client=authed, brand_ids=[theirs.brand.id])
    assert foreign.items == [] and foreign.total == 0

    # 4. Ingest one report; the list then shows it as the tracker's latest location.
    instant = timezone.now() - timedelta(minutes=1)
    report = model(c, "LocationReportRequest")(
        tracker="GA-00001", timestamp=instant, latitude=48.8566, longitude=2.3522, nearest_city="Paris", confidence=0.9
    )
    result = api(c, "location_reports.location_reports_create").sync(client=authed, body=[report])
    assert (result.accepted, result.duplicates) == (1, 0)
    stored = LocationHistory.objects.get(tracker=ours.trackers[1])
    assert (stored.latitude, stored.nearest_city, stored.timestamp) == (48.8566, "Paris", instant)
    after = api(c, "trackers.trackers_retrieve").sync(client=authed, id=ours.trackers[1].id)
    assert after.latest_location.nearest_city == "Paris"

    # 5. Errors come typed: a bad parameter is the documented 400 body, another client's tracker a 404.
    bad = api(c, "trackers.trackers_list").sync_detailed(client=authed, size=5001)
    assert bad.status_code == 400
    assert isinstance(bad.parsed, model(c, "FieldErrors"))
    assert bad.parsed["size"] == ["Ensure this value is less than or equal to 5000."]
    missing = api(c, "trackers.trackers_retrieve").sync_detailed(client=authed, id=theirs.trackers[0].id)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, model(c, "Error"))
    assert missing.parsed.detail == "Not found."


def _ingest_permission():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename="ingest_location_reports")
