"""The dashboard in a real browser: Playwright drives Debian's headless Chromium against live_server.

Every test opens a fresh browser context, fails on any JavaScript error or console error,
and leaves a screenshot in test-artifacts/ when it fails. Tiles are off (MAP_TILE_URL
empty): the map works without them, and offline tile requests would be console errors.
`UPDATE_SCREENSHOT=1` also writes the README's docs/dashboard.png.
"""

import contextlib
import os
import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone
from model_bakery import baker

from dashboard.models import Tracker
from tests.conftest import make_user

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
README_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard.png"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module's tests (each gets its own context).

    Playwright's sync API keeps an event loop running in this thread while it is up, and
    Django refuses ORM calls beside a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE says they
    are safe (they are: the loop is Playwright's). Both last only as long as this module, so
    no other test, and no subprocess another test starts, runs with either.
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            yield browser
            browser.close()


@pytest.fixture(autouse=True)
def _dashboard_settings(settings):
    settings.MAP_TILE_URL = ""
    settings.LAZY_MODE_THRESHOLD = 5


class Dashboard:
    """A browser tab on the dashboard, recording its errors and its API requests."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        self.tracker_requests: list[str] = []
        self.allowed_console_errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("request", self._record)

    def _record(self, request):
        if "/api/trackers/" in request.url:
            self.tracker_requests.append(request.url)

    def log_in(self, user) -> None:
        """Reuses a Django session (the login form has its own test)."""
        django_client = DjangoClient()
        django_client.force_login(user)
        cookie = django_client.cookies["sessionid"]
        self.page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": self.base_url}])

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)
        self.page.wait_for_selector("body[data-ready=true]")

    def wait_for(self, phase: str) -> None:
        self.page.wait_for_selector(f"body[data-phase={phase}]")

    def load_all(self) -> None:
        """Switches "Load all" on and waits for every tracker of the scope."""
        self.page.get_by_label("Load all").check()
        self.wait_for("loaded")

    def wait_for_table(self) -> None:
        """The table's own page request (after a sort or a pager click) has been answered."""
        self.page.wait_for_selector("#table-panel[aria-busy=false]")

    def list_requests(self) -> list[dict[str, list[str]]]:
        """The query of each full-item list request (`GET /api/trackers/?…`) the page made."""
        return [
            parse_qs(urlsplit(url).query) for url in self.tracker_requests if urlsplit(url).path == "/api/trackers/"
        ]

    def positions_requests(self) -> list[str]:
        return [url for url in self.tracker_requests if urlsplit(url).path == "/api/trackers/positions/"]

    def api_serials(self, query: str) -> list[str]:
        response = self.page.request.get(f"{self.base_url}/api/trackers/?{query}")
        assert response.ok
        return [item["serial"] for item in response.json()["items"]]

    def choose(self, filter_id: str, label: str, *, checked: bool = True) -> None:
        """Opens a multi-select, (un)ticks one option, closes it with Escape."""
        self.page.click(f"#{filter_id}-toggle")
        self.page.locator(f"#{filter_id}-panel").get_by_label(label, exact=True).set_checked(checked)
        self.page.keyboard.press("Escape")

    def options(self, filter_id: str) -> list[str]:
        return self.page.locator(f"#{filter_id}-panel .option-label").all_inner_texts()

    def rows(self) -> list[str]:
        return self.page.locator(".trackers tbody tr[data-id] td:first-child").all_inner_texts()

    def marker_count(self) -> int:
        return int(self.page.get_attribute(".map", "data-marker-count"))

    def shown_total(self) -> int:
        return int(self.page.get_attribute("#tracker-count", "data-total"))

    def api_total(self, query: str) -> int:
        response = self.page.request.get(f"{self.base_url}/api/trackers/?{query}")
        assert response.ok
        return response.json()["total"]

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(allowed in e for allowed in self.allowed_console_errors)]


@pytest.fixture
def dashboard(browser, live_server, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    tab = Dashboard(context.new_page(), live_server.url)
    failed_before = request.session.testsfailed
    yield tab
    errors = tab.unexpected_errors()
    # The call phase's report is logged before teardown starts: a failure has been counted.
    if errors or request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            tab.page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    context.close()
    wait_for_live_server_requests()
    assert errors == [], "JavaScript or console errors during the test"


def wait_for_live_server_requests(timeout: float = 5.0) -> None:
    """Waits until live_server has answered every request of the closed browser context.

    live_server answers each connection in a thread, and the test's database is flushed right
    after the test: a request still running then (a beacon sent as the page closed, a request
    the page had aborted but the server had already taken) locks SQLite's shared in-memory
    database ("database table is locked") or reads rows being deleted.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        thread.name.endswith("(process_request_thread)") for thread in threading.enumerate()
    ):
        time.sleep(0.02)


@pytest.fixture
def five_row_pages(monkeypatch):
    """Table pages of 5 rows: the fleet's 12 trackers make three."""
    monkeypatch.setattr("dashboard.views.TABLE_PAGE_SIZE", 5)


def located_tracker(run, serial: str, status: str, city: str, *, minutes_ago: int, lat: float, lon: float):
    reported = timezone.now() - timedelta(minutes=minutes_ago)
    tracker = baker.make(
        "dashboard.Tracker",
        production_run=run,
        serial=serial,
        name=f"Unit {serial}",
        current_status=status,
        battery_level=80,
        last_report_received=reported,
    )
    baker.make(
        "dashboard.LocationHistory", tracker=tracker, timestamp=reported, latitude=lat, longitude=lon, nearest_city=city
    )
    return tracker


@pytest.fixture
def fleet(client_a, client_b):
    """Client A: 12 trackers over two brands (over the threshold of 5). Client B: its own brand."""
    trail = baker.make("dashboard.Brand", client=client_a, name="Trail Pro")
    summit = baker.make("dashboard.Brand", client=client_a, name="Summit Go")
    trail_1 = baker.make("dashboard.ProductionRun", brand=trail, name="Trail run 01")
    trail_2 = baker.make("dashboard.ProductionRun", brand=trail, name="Trail run 02")
    summit_1 = baker.make("dashboard.ProductionRun", brand=summit, name="Summit run 01")
    for i, status in enumerate(["in_transit", "in_transit", "in_transit", "lost", "lost"]):
        located_tracker(trail_1, f"TR1-{i}", status, "Lyon", minutes_ago=i + 1, lat=45.7 + i / 10, lon=4.8)
    for i in range(3):
        located_tracker(trail_2, f"TR2-{i}", "delivered", "Paris", minutes_ago=10 + i, lat=48.8, lon=2.3 + i / 10)
    for i, status in enumerate(["in_storage", "in_storage", "in_transit"]):
        located_tracker(summit_1, f"SU1-{i}", status, "Berlin", minutes_ago=30 + i, lat=52.5, lon=13.4 + i / 10)
    baker.make("dashboard.Tracker", production_run=summit_1, serial="SU1-NEVER", name="Never reported")
    secret = baker.make("dashboard.Brand", client=client_b, name="Secret Brand of B")
    secret_run = baker.make("dashboard.ProductionRun", brand=secret, name="Secret run")
    located_tracker(secret_run, "SECRET-1", "lost", "Madrid", minutes_ago=5, lat=40.4, lon=-3.7)
    return {"trail": trail, "summit": summit}


def test_logging_in_through_the_form_opens_the_dashboard(dashboard, owner):
    dashboard.page.goto(dashboard.base_url + "/")
    dashboard.page.get_by_label("Username").fill("owner")
    dashboard.page.get_by_label("Password").fill("pw-for-tests")
    dashboard.page.get_by_role("button", name="Log in").click()

    dashboard.page.wait_for_selector("body[data-ready=true]")
    assert dashboard.page.url == dashboard.base_url + "/"
    assert "owner" in dashboard.page.inner_text(".account")


def test_a_large_scope_opens_with_empty_states_and_requests_no_trackers(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.wait_for("empty")

    assert "Select filters to view trackers" in dashboard.page.inner_text(".map-overlay")
    assert "Select filters to view trackers" in dashboard.page.inner_text(".trackers tbody")
    assert dashboard.rows() == []
    assert dashboard.marker_count() == 0
    assert dashboard.tracker_requests == []
    # The filters are ready without any request: they come from the page itself.
    assert dashboard.options("brand-filter") == ["Summit Go", "Trail Pro"]
    assert [event["type"] for event in dashboard.page.evaluate("window.trackerdash.telemetry")] == [
        "dashboard_load",
        "empty_state",
    ]


def test_choosing_a_brand_loads_its_trackers_and_a_status_narrows_them(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.wait_for("empty")

    dashboard.choose("brand-filter", "Trail Pro")
    dashboard.wait_for("loaded")

    brand_query = f"brand_ids={fleet['trail'].id}"
    assert dashboard.shown_total() == dashboard.api_total(brand_query) == 8
    assert len(dashboard.rows()) == 8
    assert dashboard.marker_count() == 8
    assert "8 trackers" in dashboard.page.inner_text("#tracker-count")
    # The production runs narrow to the chosen brand.
    assert dashboard.options("run-filter") == ["Trail run 01", "Trail run 02"]

    dashboard.choose("status-filter", "In transit")
    dashboard.wait_for("loaded")

    assert dashboard.shown_total() == dashboard.api_total(f"{brand_query}&status=in_transit") == 3
    assert sorted(dashboard.rows()) == ["TR1-0", "TR1-1", "TR1-2"]
    assert dashboard.marker_count() == 3
    assert dashboard.page.url.endswith(f"/?{brand_query}&status=in_transit")
    assert (
        dashboard.page.get_attribute("#export-csv", "href")
        == f"/api/trackers/export.csv?{brand_query}&status=in_transit"
    )


def test_a_shared_url_restores_its_filters_and_loads_their_data(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['trail'].id}&status=in_transit")
    dashboard.wait_for("loaded")

    assert sorted(dashboard.rows()) == ["TR1-0", "TR1-1", "TR1-2"]
    assert dashboard.page.inner_text("#brand-filter-toggle .checklist-summary") == "Trail Pro"
    assert dashboard.page.inner_text("#status-filter-toggle .checklist-summary") == "In transit"

    dashboard.page.reload()
    dashboard.wait_for("loaded")
    assert sorted(dashboard.rows()) == ["TR1-0", "TR1-1", "TR1-2"]

    dashboard.page.click("#clear-filters")
    dashboard.wait_for("empty")
    assert dashboard.page.url == dashboard.base_url + "/"
    dashboard.page.go_back()
    dashboard.wait_for("loaded")
    assert sorted(dashboard.rows()) == ["TR1-0", "TR1-1", "TR1-2"]


def test_search_narrows_as_you_type(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()

    dashboard.page.get_by_label("Search").fill("berlin")
    dashboard.page.wait_for_url(re.compile(r"search=berlin"))
    dashboard.wait_for("loaded")

    assert sorted(dashboard.rows()) == ["SU1-0", "SU1-1", "SU1-2"]


def test_load_all_shows_everything_and_is_remembered(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.wait_for("empty")

    dashboard.page.get_by_label("Load all").check()
    dashboard.wait_for("loaded")

    assert len(dashboard.rows()) == dashboard.shown_total() == 12
    assert dashboard.marker_count() == 11  # one tracker never reported: in the table, not on the map
    owner.profile.refresh_from_db()
    assert owner.profile.prefers_full_load is True

    dashboard.page.reload()
    dashboard.wait_for("loaded")
    assert dashboard.page.get_by_label("Load all").is_checked()
    assert len(dashboard.rows()) == 12


def test_another_clients_brands_never_appear(dashboard, other_user, fleet):
    dashboard.log_in(other_user)
    dashboard.open(f"/?brand_ids={fleet['trail'].id}")

    assert dashboard.options("brand-filter") == ["Secret Brand of B"]
    assert dashboard.options("run-filter") == ["Secret run"]
    # A shared link naming client A's brand is read as no filter at all.
    assert dashboard.page.url == dashboard.base_url + "/"
    content = dashboard.page.content()
    assert "Trail Pro" not in content and "Summit Go" not in content  # client A's brands


def test_a_user_without_a_client_is_told_why_nothing_shows(dashboard, fleet):
    dashboard.log_in(make_user("nobody"))
    dashboard.open()
    dashboard.wait_for("empty")

    assert "not linked to a client" in dashboard.page.inner_text(".map-overlay")
    assert "not linked to a client" in dashboard.page.inner_text(".trackers tbody")
    assert dashboard.options("brand-filter") == []
    assert dashboard.tracker_requests == []


def test_clicking_a_row_opens_its_tracker_panel(dashboard, owner, fleet):
    """The panel's trail and replay: tests/test_browser_panel.py."""
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['summit'].id}")
    dashboard.wait_for("loaded")

    dashboard.page.locator(".trackers tbody tr", has_text="SU1-1").click()

    panel = dashboard.page.locator("#tracker-panel")
    sync_api.expect(panel.locator("[data-field=serial]")).to_have_text("SU1-1")
    sync_api.expect(panel).to_contain_text("Summit run 01")
    sync_api.expect(panel).to_contain_text("Berlin")

    # The same from the keyboard.
    dashboard.page.locator(".trackers tbody tr", has_text="SU1-2").focus()
    dashboard.page.keyboard.press("Enter")
    sync_api.expect(panel.locator("[data-field=serial]")).to_have_text("SU1-2")


def test_the_filters_and_the_table_work_from_the_keyboard(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()
    page = dashboard.page

    page.focus("#brand-filter-toggle")
    page.keyboard.press("Enter")  # opens the list, focus on its first option
    assert page.get_attribute("#brand-filter-toggle", "aria-expanded") == "true"
    page.keyboard.press("Tab")  # to "Trail Pro"
    page.keyboard.press("Space")
    dashboard.wait_for("loaded")
    page.keyboard.press("Escape")

    assert page.get_attribute("#brand-filter-toggle", "aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "brand-filter-toggle"
    assert len(dashboard.rows()) == 8
    page.focus("th[data-sort=serial] button")
    page.keyboard.press("Enter")
    dashboard.wait_for_table()
    page.focus(".trackers tbody tr:first-child")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#tracker-panel [data-field=serial]")).to_have_text("TR1-1")
    assert page.evaluate("document.activeElement.id") == "tracker-panel"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.dataset.id") == str(Tracker.objects.get(serial="TR1-1").id)


def test_sorting_by_a_column_header(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['trail'].id}")
    dashboard.wait_for("loaded")
    assert dashboard.rows()[0] == "TR1-0"  # newest report first

    dashboard.page.get_by_role("button", name="Serial").click()
    dashboard.wait_for_table()
    assert dashboard.rows() == ["TR1-0", "TR1-1", "TR1-2", "TR1-3", "TR1-4", "TR2-0", "TR2-1", "TR2-2"]
    dashboard.page.get_by_role("button", name="Serial").click()
    dashboard.wait_for_table()
    assert dashboard.rows()[0] == "TR2-2"
    assert dashboard.page.get_attribute("th[data-sort=serial]", "aria-sort") == "descending"
    assert "sort=-serial" in dashboard.page.url


def test_a_failed_request_shows_an_error_and_retry_loads(dashboard, owner, fleet):
    dashboard.allowed_console_errors = ["status of 503"]  # the browser logs the failed request
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.page.route("**/api/trackers/**", lambda route: route.fulfill(status=503, body="down"))

    dashboard.choose("brand-filter", "Trail Pro")
    dashboard.wait_for("error")

    assert "Couldn't load trackers" in dashboard.page.inner_text("#load-error")
    assert "503" in dashboard.page.inner_text("#load-error")

    dashboard.page.unroute("**/api/trackers/**")
    dashboard.page.get_by_role("button", name="Retry").click()
    dashboard.wait_for("loaded")

    assert dashboard.page.locator("#load-error").is_hidden()
    assert len(dashboard.rows()) == 8


def test_a_load_all_that_could_not_be_saved_says_so_and_retry_saves_it(dashboard, owner, fleet):
    dashboard.allowed_console_errors = ["status of 500"]
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.page.route("**/api/me/preferences/", lambda route: route.fulfill(status=500, body="oops"))

    dashboard.page.get_by_label("Load all").click()  # not check(): the switch flips back at once

    sync_api.expect(dashboard.page.locator("#load-error")).to_contain_text('Couldn\'t save the "Load all" setting')
    assert not dashboard.page.get_by_label("Load all").is_checked()
    assert dashboard.tracker_requests == []

    dashboard.page.unroute("**/api/me/preferences/")
    dashboard.page.get_by_role("button", name="Retry").click()
    dashboard.wait_for("loaded")

    assert dashboard.page.get_by_label("Load all").is_checked()
    assert len(dashboard.rows()) == 12
    owner.profile.refresh_from_db()
    assert owner.profile.prefers_full_load is True


def test_a_newer_filter_wins_over_an_older_slower_answer(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()
    held = []

    def hold_lost(route):
        if "status=lost" in route.request.url and not held:
            held.append(route)  # never answered while the user moves on
        else:
            route.continue_()

    dashboard.page.route("**/api/trackers/**", hold_lost)
    dashboard.choose("status-filter", "Lost")
    dashboard.page.wait_for_function("() => document.body.dataset.phase === 'loading'")
    dashboard.choose("status-filter", "Lost", checked=False)
    dashboard.choose("status-filter", "Delivered")
    dashboard.wait_for("loaded")
    with contextlib.suppress(Exception):  # the page aborted it: it may be gone already
        held[0].continue_()
    dashboard.page.wait_for_timeout(200)

    assert sorted(dashboard.rows()) == ["TR2-0", "TR2-1", "TR2-2"]
    assert dashboard.page.url.endswith("/?status=delivered")


def test_the_table_shows_first_and_the_map_fills_when_the_positions_arrive(dashboard, owner, fleet, five_row_pages):
    dashboard.log_in(owner)
    dashboard.open()
    held = []
    dashboard.page.route("**/api/trackers/positions/**", lambda route: held.append(route))

    dashboard.page.get_by_label("Load all").check()
    dashboard.page.wait_for_function("() => window.trackerdash.state.rows.length === 5")

    assert dashboard.page.inner_text("#load-progress-text") == "Loaded 5 of 12"
    assert len(dashboard.rows()) == 5
    assert dashboard.marker_count() == 0
    assert dashboard.page.locator("body[data-phase=loading]").count() == 1

    held[0].continue_()
    dashboard.wait_for("loaded")
    assert dashboard.marker_count() == 11
    assert dashboard.page.inner_text("#load-progress-text") == "Showing 12 trackers"
    assert "1 not on the map" in dashboard.page.inner_text(".legend-unplaced")


def test_the_map_draws_every_marker_from_one_positions_request(dashboard, owner, fleet, five_row_pages):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()

    assert dashboard.marker_count() == 11  # every located tracker, though the table holds 5
    assert len(dashboard.rows()) == 5
    assert dashboard.shown_total() == 12
    # One positions request and one table page: no full item the page doesn't show.
    assert len(dashboard.positions_requests()) == 1
    assert "lazy_load" not in dashboard.positions_requests()[0]
    assert dashboard.list_requests() == [
        {"page": ["1"], "size": ["5"], "ordering": ["-last_report_received"]},
    ]


def test_table_pages_come_from_the_server_and_the_url_keeps_the_page(dashboard, owner, fleet, five_row_pages):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()
    assert dashboard.rows() == dashboard.api_serials("page=1&size=5")
    assert dashboard.page.inner_text(".pager-text") == "Rows 1–5 of 12"

    dashboard.page.get_by_role("button", name="Next").click()
    dashboard.wait_for_table()

    assert dashboard.rows() == dashboard.api_serials("page=2&size=5")
    assert dashboard.page.inner_text(".pager-text") == "Rows 6–10 of 12"
    assert dashboard.page.url.endswith("/?page=2")
    assert dashboard.list_requests()[-1] == {"page": ["2"], "size": ["5"], "ordering": ["-last_report_received"]}
    assert len(dashboard.positions_requests()) == 1  # paging leaves the map alone
    assert dashboard.marker_count() == 11

    dashboard.page.get_by_role("button", name="Next").click()
    dashboard.wait_for_table()
    assert dashboard.rows() == dashboard.api_serials("page=3&size=5")
    assert len(dashboard.rows()) == 2
    assert dashboard.page.get_by_role("button", name="Next").is_disabled()

    dashboard.page.reload()
    dashboard.wait_for("loaded")
    assert dashboard.rows() == dashboard.api_serials("page=3&size=5")
    assert dashboard.list_requests()[-1]["page"] == ["3"]


def test_sorting_is_done_by_the_server_across_every_page(dashboard, owner, fleet, five_row_pages):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()
    assert "SU1-NEVER" not in dashboard.rows()  # never reported: last in the default order

    dashboard.page.get_by_role("button", name="Serial").click()
    dashboard.wait_for_table()

    # The first five serials of all 12, not the first page re-sorted in the browser.
    assert dashboard.rows() == ["SU1-0", "SU1-1", "SU1-2", "SU1-NEVER", "TR1-0"]
    assert dashboard.rows() == dashboard.api_serials("page=1&size=5&ordering=serial")
    assert dashboard.list_requests()[-1] == {"page": ["1"], "size": ["5"], "ordering": ["serial"]}
    assert dashboard.page.get_attribute("#export-csv", "href") == "/api/trackers/export.csv?ordering=serial"

    dashboard.page.get_by_role("button", name="Battery", exact=True).click()  # a number, descending on a second click
    dashboard.wait_for_table()
    dashboard.page.get_by_role("button", name="Next").click()
    dashboard.wait_for_table()
    assert dashboard.rows() == dashboard.api_serials("page=2&size=5&ordering=battery_level")
    assert dashboard.page.url.endswith("/?sort=battery&page=2")

    # A reload restores the sort and the page, and asks the server for exactly them.
    dashboard.page.reload()
    dashboard.wait_for("loaded")
    assert dashboard.list_requests()[-1] == {"page": ["2"], "size": ["5"], "ordering": ["battery_level"]}
    assert dashboard.page.get_attribute("th[data-sort=battery]", "aria-sort") == "ascending"
    # Brand, run and city are not orders the server knows: their headers are not buttons.
    assert dashboard.page.locator("th:not([data-sort]) button").count() == 0


def test_a_link_past_the_last_page_shows_the_last_page(dashboard, owner, fleet, five_row_pages):
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['trail'].id}&sort=serial&page=9")
    dashboard.wait_for("loaded")

    assert dashboard.rows() == ["TR2-0", "TR2-1", "TR2-2"]  # page 2 of 8 trackers
    assert dashboard.page.url.endswith(f"/?brand_ids={fleet['trail'].id}&sort=serial&page=2")


def test_in_lazy_mode_sorting_and_paging_request_nothing(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open("/?page=2")
    dashboard.wait_for("empty")

    dashboard.page.get_by_role("button", name="Serial").click()

    assert dashboard.page.url.endswith("/?sort=serial")
    assert "Select filters to view trackers" in dashboard.page.inner_text(".trackers tbody")
    assert dashboard.tracker_requests == []


def test_a_newer_table_page_wins_over_an_older_slower_one(dashboard, owner, fleet, five_row_pages):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()
    held = []

    def hold_serial_order(route):
        if "ordering=serial" in route.request.url and not held:
            held.append(route)
        else:
            route.continue_()

    dashboard.page.route("**/api/trackers/?*", hold_serial_order)
    dashboard.page.get_by_role("button", name="Serial").click()
    dashboard.page.get_by_role("button", name="Serial").click()  # descending, before the first answers
    dashboard.wait_for_table()
    assert len(held) == 1
    with contextlib.suppress(Exception):  # the page aborted it: it may be gone already
        held[0].continue_()
    dashboard.page.wait_for_timeout(200)

    assert dashboard.rows() == dashboard.api_serials("page=1&size=5&ordering=-serial")
    assert dashboard.page.get_attribute("th[data-sort=serial]", "aria-sort") == "descending"


@pytest.mark.parametrize("width", [1280, 800])
def test_the_layout_fits_from_a_laptop_down_to_a_tablet(dashboard, owner, fleet, width):
    dashboard.page.set_viewport_size({"width": width, "height": 900})
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['trail'].id}")
    dashboard.wait_for("loaded")

    page_width = dashboard.page.evaluate("document.documentElement.scrollWidth")
    map_box = dashboard.page.locator("#map-panel").bounding_box()
    table_box = dashboard.page.locator("#table-panel").bounding_box()
    assert page_width <= width  # no sideways scrolling of the page
    assert map_box["width"] > 300 and map_box["height"] > 300
    if width >= 1280:
        assert map_box["x"] + map_box["width"] <= table_box["x"]  # side by side
    else:
        assert map_box["y"] + map_box["height"] <= table_box["y"]  # map above table


def test_a_small_scope_loads_everything_without_a_filter(dashboard, owner, fleet, settings):
    settings.LAZY_MODE_THRESHOLD = 50
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.wait_for("loaded")

    assert len(dashboard.rows()) == 12
    assert dashboard.page.locator(".map-overlay").is_hidden()
    assert dashboard.tracker_requests and "lazy_load" not in dashboard.tracker_requests[0]


def test_the_dashboard_with_demo_data(dashboard, settings):
    """Demo-like data for the README's screenshot: docs/dashboard.png with UPDATE_SCREENSHOT=1."""
    from dashboard.models import Client
    from dashboard.seeding import demo_seed

    settings.LAZY_MODE_THRESHOLD = 500
    demo_seed(clients=2, trackers=400, history=60, seed=7)  # 15 hours of reports
    dashboard.log_in(make_user("ops-demo", client=Client.objects.order_by("id").first()))
    dashboard.open()
    dashboard.wait_for("loaded")

    assert len(dashboard.rows()) == 50  # the table's first page
    assert dashboard.marker_count() > 100
    # The panel of a tracker on the move, its trail of the last 24 h on the map.
    dashboard.page.locator(".trackers tbody tr", has_text="In transit").first.click()
    dashboard.page.wait_for_selector("#tracker-panel[data-trail=drawn]")
    ARTIFACTS.mkdir(exist_ok=True)
    dashboard.page.screenshot(path=ARTIFACTS / "dashboard.png")
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        dashboard.page.screenshot(path=README_SCREENSHOT)


# --- Content-Security-Policy -------------------------------------------------------------

# Every violation the page reports (the browser also logs each as a console error).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def csp_violations(dashboard) -> list[str]:
    return dashboard.page.evaluate("window.__cspViolations")


def test_the_page_and_the_admin_run_under_the_csp_without_a_violation(dashboard, superuser, fleet):
    dashboard.page.context.add_init_script(RECORD_CSP_VIOLATIONS)
    dashboard.log_in(superuser)

    response = dashboard.page.goto(dashboard.base_url + "/")
    dashboard.page.wait_for_selector("body[data-ready=true]")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "'unsafe-inline'" not in policy
    dashboard.choose("brand-filter", "Trail Pro")  # filters, the map and the table at work
    dashboard.wait_for("loaded")
    assert dashboard.marker_count() == 8
    assert csp_violations(dashboard) == []

    # The admin's pages name no icon: Chromium asks for /favicon.ico, which is a 404.
    dashboard.allowed_console_errors.append("the server responded with a status of 404")
    for path in ["/admin/", "/admin/dashboard/tracker/", "/admin/dashboard/tracker/add/"]:
        response = dashboard.page.goto(dashboard.base_url + path)
        dashboard.page.wait_for_load_state("load")
        assert response.status == 200, path
        assert "content-security-policy" in response.headers, path
        assert csp_violations(dashboard) == [], path

    # The policy is enforced and the check sees it: an injected inline script is refused.
    dashboard.allowed_console_errors.append("Content Security Policy")
    dashboard.page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = 1'; document.body.append(s); }"
    )
    dashboard.page.wait_for_function("window.__cspViolations.length > 0")
    assert dashboard.page.evaluate("window.__ran") is None
    assert csp_violations(dashboard)[0].startswith("script-src")


def test_the_login_page_runs_under_the_csp_without_a_violation(dashboard, owner):
    dashboard.page.context.add_init_script(RECORD_CSP_VIOLATIONS)
    response = dashboard.page.goto(dashboard.base_url + "/accounts/login/")

    assert "content-security-policy" in response.headers
    dashboard.page.get_by_label("Username").fill("owner")
    dashboard.page.get_by_label("Password").fill("pw-for-tests")
    dashboard.page.get_by_role("button", name="Log in").click()
    dashboard.page.wait_for_selector("body[data-ready=true]")
    assert csp_violations(dashboard) == []
