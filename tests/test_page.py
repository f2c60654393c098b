"""The dashboard page (GET /) and the login around it."""

import json
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from model_bakery import baker

import cache_layer.testing
from dashboard import queries


def embedded(response, element_id: str):
    """The JSON of a `json_script` element in the page."""
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', response.content.decode())
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


@pytest.fixture
def fleet(client_a, client_b):
    """Client A has a brand with a run of three trackers; client B has its own brand."""
    brand = baker.make("dashboard.Brand", client=client_a, name="Trail Pro")
    run = baker.make("dashboard.ProductionRun", brand=brand, name="Trail Pro run 01")
    baker.make("dashboard.Tracker", production_run=run, _quantity=3)
    baker.make("dashboard.Brand", client=client_b, name="Secret Brand of B")
    # As if the setup had committed: a reload another thread started before it (seeing none of
    # these uncommitted rows) can no longer be served as current.
    cache_layer.testing.settle()
    return run


def test_it_sends_anonymous_visitors_to_the_login_page(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_the_login_page_looks_like_the_dashboard(client, db):
    response = client.get("/accounts/login/?next=/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "dashboard/dashboard.css" in body
    assert '<label for="id_username">Username</label>' in body
    assert 'name="next" value="/"' in body


def test_logging_in_opens_the_dashboard_and_logging_out_closes_it(client, owner):
    response = client.post("/accounts/login/", {"username": "owner", "password": "pw-for-tests", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200

    response = client.post("/accounts/logout/")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_a_wrong_password_says_so(client, owner):
    response = client.post("/accounts/login/", {"username": "owner", "password": "nope"})

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "enter a correct username and password" in response.content.decode()


def test_the_page_embeds_the_reference_data_and_the_scope(client, owner, fleet):
    client.force_login(owner)

    response = client.get("/")

    assert response.status_code == 200
    # The filters are built from these: the page makes no reference request before they work.
    assert embedded(response, "reference-data") == queries.reference_payload(owner)
    assert embedded(response, "scope-data") == queries.scope_summary(owner)
    reference = embedded(response, "reference-data")
    assert [brand["name"] for brand in reference["brands"]] == ["Trail Pro"]
    assert [run["id"] for run in reference["production_runs"]] == [fleet.id]
    assert {status["value"] for status in reference["statuses"]} >= {"in_transit", "lost"}


def test_another_clients_brands_are_not_in_the_page(client, other_user, fleet):
    client.force_login(other_user)

    body = client.get("/").content.decode()

    assert "Secret Brand of B" in body
    assert "Trail Pro" not in body


def test_the_page_says_whether_the_scope_loads_lazily(client, owner, fleet, settings):
    client.force_login(owner)

    settings.LAZY_MODE_THRESHOLD = 2
    assert embedded(client.get("/"), "scope-data")["lazy_mode"] is True
    settings.LAZY_MODE_THRESHOLD = 3
    assert embedded(client.get("/"), "scope-data")["lazy_mode"] is False


def test_the_page_tells_the_map_its_tile_url_and_the_api_urls(client, owner, settings):
    settings.MAP_TILE_URL = "https://tiles.example.com/{z}/{x}/{y}.png"
    client.force_login(owner)

    config = embedded(client.get("/"), "page-config")

    assert config["map_tile_url"] == "https://tiles.example.com/{z}/{x}/{y}.png"
    assert config["live_stream"] is False  # the test client is WSGI: the page does not open the stream
    assert config["urls"] == {
        "trackers": "/api/trackers/",
        "positions": "/api/trackers/positions/",
        "export": "/api/trackers/export.csv",
        "preferences": "/api/me/preferences/",
        "attention": "/api/attention/",
        "stream": "/api/trackers/stream/",
        "telemetry": "/api/telemetry/",
    }
    assert config["csrf_token"]
    assert (config["low_battery_percent"], config["silent_after_hours"]) == (20, 24)  # the settings' defaults


def test_the_page_loads_leaflet_and_its_modules(client, owner):
    client.force_login(owner)

    response = client.get("/")
    body = response.content.decode()

    assert '<script src="/static/leaflet/leaflet.js">' in body
    assert '<script type="module" src="/static/dashboard/main.js">' in body
    found = re.search(r'<script type="importmap" nonce="([^"]+)">(.*?)</script>', body)
    # The inline import map runs under the Content-Security-Policy by this response's nonce.
    assert f"'nonce-{found.group(1)}'" in response["Content-Security-Policy"]
    import_map = json.loads(found.group(2))
    assert import_map["imports"]["/static/dashboard/api.js"] == "/static/dashboard/api.js"


def page_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_the_page_runs_no_per_tracker_query(client, owner, fleet):
    client.force_login(owner)
    client.get("/")  # warm whatever the page caches
    with_three = page_queries(client)

    baker.make("dashboard.Tracker", production_run=fleet, _quantity=40)
    client.get("/")
    with_forty_three = page_queries(client)

    assert len(with_forty_three) == len(with_three)
    # The page never reads trackers or their history: counts come from the reference rows.
    assert not [sql for sql in with_forty_three if '"location_history"' in sql]
    assert not [sql for sql in with_forty_three if re.search(r'FROM "trackers"', sql)]


def test_with_debug_off_the_modules_are_versioned_compressed_and_cached_for_ever(client, owner, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_AUTOREFRESH = False
    call_command("collectstatic", "--noinput", "--ignore", "admin", "--ignore", "rest_framework", verbosity=0)
    client.force_login(owner)

    body = client.get("/").content.decode()

    # main.js imports "./api.js": the import map sends that to the versioned file.
    import_map = json.loads(re.search(r'<script type="importmap" nonce="[^"]+">(.*?)</script>', body).group(1))
    versioned = import_map["imports"]["/static/dashboard/api.js"]
    assert re.fullmatch(r"/static/dashboard/api\.[0-9a-f]{12}\.js", versioned)
    assert re.search(r'<script type="module" src="/static/dashboard/main\.[0-9a-f]{12}\.js">', body)
    response = client.get(versioned, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
    assert "max-age=315360000" in response["Cache-Control"]
