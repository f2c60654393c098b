"""The live page in Chromium against a real ASGI server (uvicorn on the test database): a report
moves a marker onto the map and changes its table row without a reload, the indicator says
live, and a server restart shows reconnecting, then live again."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.cache_helpers import subprocess_database_url
from tests.conftest import make_user
from tests.fleet import add_history, make_fleet
from tests.sse import Server, post_json
from tests.test_browser import browser  # noqa: F401 - the module's one Chromium

pytestmark = [
    pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)
]
TIMEOUT_MS = 15_000


@contextmanager
def live_page(browser, tmp_path, username: str, *, console_errors: bool = False):  # noqa: F811
    """A staff user's dashboard in Chromium against its own ASGI server on the test database, loaded
    and live: yields (server, page, the user's API token, the page's errors so far)."""
    staff = make_user(username, is_staff=True)
    token = Token.objects.create(user=staff).key
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DATABASE_URL=subprocess_database_url(), MAP_TILE_URL="", DB_POOL="true")
    server = Server(env, log=tmp_path / "server.log").start()
    context = browser.new_context()
    try:
        django_client = DjangoClient()
        django_client.force_login(staff)
        context.add_cookies(
            [{"name": "sessionid", "value": django_client.cookies["sessionid"].value, "url": server.base}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        if console_errors:
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.goto(server.base + "/")
        page.wait_for_selector("body[data-phase=loaded]", timeout=TIMEOUT_MS)
        page.wait_for_selector("#live-status[data-status=live]", timeout=TIMEOUT_MS)
        yield server, page, token, errors
    finally:
        context.close()
        server.stop()


def test_a_report_moves_a_marker_and_its_row_without_a_reload_and_the_indicator_follows_the_stream(
    browser, client_a, tmp_path  # noqa: F811
):
    fleet = make_fleet(client_a, trackers=2, prefix="L")
    placed, unplaced = fleet.trackers
    add_history(placed, 1, city="Lyon")
    with live_page(browser, tmp_path, "live-browser-staff") as (server, page, token, errors):
        assert page.get_attribute(".map", "data-marker-count") == "1"
        page.evaluate("window.__notReloaded = true")

        moment = (timezone.now() - timedelta(seconds=1)).isoformat()
        status, _ = post_json(
            f"{server.base}/api/location-reports/",
            [{"tracker": unplaced.serial, "timestamp": moment, "latitude": 44.0, "longitude": 5.0,
              "nearest_city": "Livetown", "battery_level": 12}],
            token=token,
        )
        assert status == 200
        page.wait_for_selector(".map[data-marker-count='2']", timeout=TIMEOUT_MS)
        row = page.locator(f".trackers tbody tr[data-id='{unplaced.pk}']")
        page.wait_for_function(
            "id => document.querySelector(`.trackers tbody tr[data-id='${id}']`)?.textContent.includes('Livetown')",
            arg=unplaced.pk, timeout=TIMEOUT_MS,
        )
        assert "12 %" in row.inner_text()
        assert page.evaluate("window.__notReloaded") is True  # the same page: no reload
        assert "last update" in page.inner_text("#live-status")

        server.stop()  # the stream is cut
        page.wait_for_selector("#live-status[data-status=reconnecting]", timeout=TIMEOUT_MS)
        server.start()  # the same port
        page.wait_for_selector("#live-status[data-status=live]", timeout=TIMEOUT_MS + 15_000)
        assert not errors, errors


def test_a_report_of_the_tracker_in_the_panel_extends_its_trail_and_its_details(
    browser, client_a, tmp_path  # noqa: F811
):
    fleet = make_fleet(client_a, trackers=1, prefix="P")
    tracker = fleet.trackers[0]
    add_history(tracker, 3, start=timezone.now() - timedelta(hours=2), city="Lyon")
    with live_page(browser, tmp_path, "live-panel-staff", console_errors=True) as (server, page, token, errors):
        page.click(f".trackers tbody tr[data-id='{tracker.pk}']")
        page.wait_for_selector("#tracker-panel[data-trail=drawn]", timeout=TIMEOUT_MS)
        drawn = page.evaluate("window.trackerdash.trail.size()")  # 2 or 3: the server simplifies

        moment = (timezone.now() - timedelta(seconds=1)).isoformat()
        status, _ = post_json(
            f"{server.base}/api/location-reports/",
            [{"tracker": tracker.serial, "timestamp": moment, "latitude": 45.5, "longitude": 4.5,
              "nearest_city": "Panelville", "battery_level": 9}],
            token=token,
        )
        assert status == 200
        page.wait_for_function("n => window.trackerdash.trail.size() === n + 1", arg=drawn, timeout=TIMEOUT_MS)
        panel = page.locator("#tracker-panel")
        assert "Panelville" in panel.inner_text() and "9 %" in panel.inner_text()
        at = page.evaluate("(({ lat, lng }) => [lat, lng])(window.trackerdash.trail.markerLatLng())")
        assert at == [45.5, 4.5]  # the replay was at the end: it follows the new report
        assert not errors, errors
