# ruff: noqa: F811 - test_browser.py's fixtures are imported, then asked for by name as parameters
"""The top bar's attention chips and the tracker panel (details, trail, replay) in headless Chromium.

The fixtures are test_browser.py's: one Chromium per module, a fresh context per test, no
console error allowed, tiles off, lazy mode from 6 trackers (client A's fleet has 12).
"""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from model_bakery import baker

from dashboard.models import LocationHistory, Tracker
from tests.test_browser import (  # noqa: F401 - fixtures of the dashboard tests
    _dashboard_settings,
    browser,
    dashboard,
    fleet,
    sync_api,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEVER_REPORTED_HOURS = 876_000


def query_of(dashboard) -> dict[str, list[str]]:
    return parse_qs(urlsplit(dashboard.page.url).query)


def attention_of(dashboard) -> dict[str, int]:
    """The counts as the page's own session gets them."""
    return dashboard.page.evaluate("fetch('/api/attention/').then((response) => response.json())")


def chip(dashboard, key: str):
    return dashboard.page.locator(f"#attention [data-chip={key}]")


@pytest.fixture
def attention_fleet(fleet):
    """Two of client A's trackers on a low battery, one silent for three days, one never reported."""
    Tracker.objects.filter(serial__in=["TR1-0", "TR2-1"]).update(battery_level=12)
    quiet = Tracker.objects.get(serial="SU1-0")
    three_days_ago = timezone.now() - timedelta(days=3)
    LocationHistory.objects.filter(tracker=quiet).update(timestamp=three_days_ago)
    Tracker.objects.filter(pk=quiet.pk).update(last_report_received=three_days_ago)
    return fleet


def test_the_chips_show_the_scopes_counts_and_a_click_applies_its_filter_in_the_url(
    dashboard, owner, attention_fleet
):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.wait_for("empty")  # lazy mode: nothing loads until a filter is set
    page = dashboard.page
    counts = attention_of(dashboard)
    assert counts["low_battery"] == 2 and counts["never_reported"] == 1  # client B's trackers are not counted
    for key in ["low_battery", "silent", "never_reported"]:
        sync_api.expect(chip(dashboard, key)).to_have_attribute("data-count", str(counts[key]))
    sync_api.expect(page.get_by_role("button", name=f"{counts['low_battery']} low battery")).to_be_visible()

    chip(dashboard, "low_battery").click()
    dashboard.wait_for("loaded")
    assert query_of(dashboard)["battery_max"] == ["20"]
    assert sorted(dashboard.rows()) == ["TR1-0", "TR2-1"]
    assert dashboard.list_requests()[-1]["battery_max"] == ["20"]
    sync_api.expect(chip(dashboard, "low_battery")).to_have_attribute("aria-pressed", "true")

    # The URL holds it: a reload shows the same view, the chip pressed.
    page.reload()
    dashboard.wait_for("loaded")
    assert sorted(dashboard.rows()) == ["TR1-0", "TR2-1"]
    sync_api.expect(chip(dashboard, "low_battery")).to_have_attribute("aria-pressed", "true")
    page.locator(".trackers tbody tr", has_text="TR1-0").click()  # its panel marks the battery as the table does
    sync_api.expect(page.locator("#tracker-panel dd.low")).to_have_text("12 %")
    page.keyboard.press("Escape")

    # From the keyboard: "never reported" joins the low battery filter (both apply).
    chip(dashboard, "never_reported").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "silent_hours" in url)
    dashboard.wait_for("loaded")
    assert query_of(dashboard)["silent_hours"] == [str(NEVER_REPORTED_HOURS)]
    assert dashboard.rows() == []  # the never-reported tracker's battery is unknown, not low
    chip(dashboard, "low_battery").click()  # released: never reported alone
    page.wait_for_url(lambda url: "battery_max" not in url)
    dashboard.wait_for("loaded")
    assert dashboard.rows() == ["SU1-NEVER"]

    # "Silent" replaces "never reported" (one silent_hours filter), and Clear filters clears it.
    chip(dashboard, "silent").click()
    page.wait_for_url(lambda url: "silent_hours=24" in url)
    dashboard.wait_for("loaded")
    assert "SU1-0" in dashboard.rows()
    sync_api.expect(chip(dashboard, "never_reported")).to_have_attribute("aria-pressed", "false")
    assert dashboard.shown_total() == dashboard.api_total("silent_hours=24")
    page.click("#clear-filters")
    dashboard.wait_for("empty")
    assert "silent_hours" not in page.url
    sync_api.expect(chip(dashboard, "silent")).to_have_attribute("aria-pressed", "false")


def moving_history(tracker, *, count: int, every: timedelta, start=None) -> list[tuple[float, float]]:
    """`count` reports of `tracker` one `every` apart, ending `start` (default now) - 1 minute, zigzagging
    east (km apart: the server's simplification keeps every one). Returns their (latitude, longitude),
    oldest first."""
    end = (start or timezone.now()) - timedelta(minutes=1)
    points = []
    for i in range(count):
        latitude, longitude = 45.0 + (i % 2) * 0.05, 4.0 + i * 0.02
        baker.make(
            "dashboard.LocationHistory",
            tracker=tracker,
            timestamp=end - every * (count - 1 - i),
            latitude=latitude,
            longitude=longitude,
            nearest_city="Lyon",
        )
        points.append((latitude, longitude))
    return points


@pytest.fixture
def walker(fleet, client_a):
    """TR1-0 with a storage and a delivery location, 20 reports in the last 10 hours and 5 more
    three to five days ago (fleet's own report, a minute old, is the newest)."""
    tracker = Tracker.objects.get(serial="TR1-0")
    tracker.storage_location = baker.make(
        "dashboard.StorageLocation", client=client_a, name="North depot", city="Lille", latitude=50.6, longitude=3.1
    )
    tracker.delivery_location = baker.make(
        "dashboard.DeliveryLocation", client=client_a, name="Harbour shop", city="Nice", latitude=43.7, longitude=7.2
    )
    tracker.save()
    recent = moving_history(tracker, count=20, every=timedelta(minutes=30), start=timezone.now() - timedelta(hours=1))
    moving_history(tracker, count=5, every=timedelta(hours=12), start=timezone.now() - timedelta(days=3))
    return {"tracker": tracker, "recent": recent}


def open_walker(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['trail'].id}")
    dashboard.wait_for("loaded")
    row = dashboard.page.locator(".trackers tbody tr", has_text="TR1-0")
    row.click()
    panel = dashboard.page.locator("#tracker-panel")
    sync_api.expect(panel).to_be_visible()
    sync_api.expect(panel).to_have_attribute("data-trail", "drawn")
    return panel, row


def trail_size(dashboard) -> int:
    return dashboard.page.evaluate("window.trackerdash.trail.size()")


def marker_at(dashboard) -> tuple[float, float]:
    at = dashboard.page.evaluate("(({ lat, lng }) => [lat, lng])(window.trackerdash.trail.markerLatLng())")
    return round(at[0], 5), round(at[1], 5)


def test_clicking_a_row_opens_the_panel_with_its_details_and_draws_its_24_hour_trail(
    dashboard, owner, fleet, walker
):
    trail_requests = []
    dashboard.page.on("request", lambda request: "/trail/" in request.url and trail_requests.append(request.url))
    panel, row = open_walker(dashboard, owner, fleet)

    # From the tracker's detail (it may arrive after the trail).
    sync_api.expect(panel).to_contain_text("North depot, Lille")
    sync_api.expect(panel).to_contain_text("Harbour shop, Nice")
    text = panel.inner_text()
    for shown in ["TR1-0", "Unit TR1-0", "Trail Pro", "Trail run 01", "In transit", "80 %"]:
        assert shown in text
    assert trail_size(dashboard) == 21  # the 20 reports of the last 10 hours and fleet's newest
    sync_api.expect(panel.locator("[data-field=trail-status]")).to_have_text("21 reports in the last 24 hours.")
    since = parse_qs(urlsplit(trail_requests[-1]).query)["since"][0]
    assert abs((timezone.now() - timedelta(hours=24) - parse_datetime(since)).total_seconds()) < 60
    assert dashboard.page.evaluate("document.activeElement.id") == "tracker-panel"
    # Its marker is ringed on top of the map, even where it would sit inside a cluster.
    highlighted = "() => window.trackerdash.markers.rendered().highlighted"
    assert dashboard.page.evaluate(highlighted) == walker["tracker"].id

    # 7 days: the five older reports too.
    panel.get_by_role("button", name="7 days").click()
    sync_api.expect(panel.locator("[data-field=trail-status]")).to_have_text("26 reports in the last 7 days.")
    assert trail_size(dashboard) == 26
    sync_api.expect(panel.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")

    # A custom range (UTC): only the older reports.
    panel.get_by_role("button", name="Custom").click()
    now = timezone.now()
    panel.get_by_label("Since (UTC)").fill((now - timedelta(days=6)).strftime("%Y-%m-%dT%H:%M"))
    panel.get_by_label("Until (UTC)").fill((now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    panel.get_by_role("button", name="Show trail").click()
    sync_api.expect(panel.locator("[data-field=trail-status]")).to_have_text("5 reports in this period.")
    assert trail_size(dashboard) == 5

    # Escape closes it, removes the trail and gives the focus back to the row.
    dashboard.page.keyboard.press("Escape")
    sync_api.expect(panel).to_be_hidden()
    assert trail_size(dashboard) == 0
    assert dashboard.page.evaluate(highlighted) is None
    assert dashboard.page.evaluate("document.activeElement.dataset.id") == str(walker["tracker"].id)


def test_the_slider_replays_the_trail_and_moves_the_marker(dashboard, owner, fleet, walker):
    panel, _ = open_walker(dashboard, owner, fleet)
    recent = walker["recent"]
    fleet_newest = (45.7, 4.8)  # fleet's own report, the newest
    assert marker_at(dashboard) == fleet_newest  # the replay starts where the tracker is now

    slider = panel.get_by_label("Replay position along the trail")
    slider.focus()
    dashboard.page.keyboard.press("Home")
    assert marker_at(dashboard) == recent[0]
    dashboard.page.keyboard.press("ArrowRight")
    assert marker_at(dashboard) == recent[1]
    assert "report 2 of 21" in slider.get_attribute("aria-valuetext")

    # Play runs the marker along the trail; Pause stops it; the speed is a select.
    panel.get_by_label("Speed").select_option("21600")  # 6 hours of trail a second: ~2 s for 10 hours
    play = panel.get_by_role("button", name="Play")
    play.click()
    sync_api.expect(panel.locator("[data-field=replay]")).to_have_attribute("data-playing", "true")
    dashboard.page.wait_for_function("() => Number(document.querySelector('.replay-slider').value) >= 3")
    panel.get_by_role("button", name="Pause").click()
    sync_api.expect(panel.locator("[data-field=replay]")).to_have_attribute("data-playing", "false")
    stopped = marker_at(dashboard)
    assert stopped != recent[1]
    dashboard.page.wait_for_timeout(300)
    assert marker_at(dashboard) == stopped

    # Played to the end, it stops on the newest report.
    play.click()
    sync_api.expect(panel.locator("[data-field=replay]")).to_have_attribute("data-playing", "false", timeout=10_000)
    assert marker_at(dashboard) == fleet_newest

    panel.get_by_role("button", name="Close the tracker panel").click()
    sync_api.expect(panel).to_be_hidden()


def test_a_marker_click_opens_the_panel_and_fetches_the_trackers_details(dashboard, owner, fleet, monkeypatch):
    monkeypatch.setattr("dashboard.views.TABLE_PAGE_SIZE", 2)
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['summit'].id}")
    dashboard.wait_for("loaded")
    assert dashboard.rows() == ["SU1-0", "SU1-1"]  # SU1-2 is on the map only
    su1_2 = Tracker.objects.get(serial="SU1-2")

    # A real click on the canvas, where Leaflet drew SU1-2 (52.5, 13.6).
    x, y = dashboard.page.evaluate("() => Object.values(window.trackerdash.map.latLngToContainerPoint([52.5, 13.6]))")
    box = dashboard.page.locator(".map").bounding_box()
    dashboard.page.mouse.click(box["x"] + x, box["y"] + y)

    panel = dashboard.page.locator("#tracker-panel")
    sync_api.expect(panel.locator("[data-field=serial]")).to_have_text("SU1-2")
    sync_api.expect(panel).to_contain_text("Summit run 01")
    sync_api.expect(panel).to_contain_text("Berlin")
    sync_api.expect(panel).to_have_attribute("data-trail", "drawn")
    assert trail_size(dashboard) == 1
    detail_requests = [url for url in dashboard.tracker_requests if urlsplit(url).path == f"/api/trackers/{su1_2.id}/"]
    assert len(detail_requests) == 1

    # Another tracker replaces it; Escape from the map closes the panel.
    dashboard.page.locator(".trackers tbody tr", has_text="SU1-1").click()
    sync_api.expect(panel.locator("[data-field=serial]")).to_have_text("SU1-1")
    dashboard.page.locator(".map").focus()
    dashboard.page.keyboard.press("Escape")
    sync_api.expect(panel).to_be_hidden()


def test_a_trackers_panel_says_when_it_has_no_report_in_the_period(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open(f"/?brand_ids={fleet['summit'].id}")
    dashboard.wait_for("loaded")
    dashboard.page.locator(".trackers tbody tr", has_text="SU1-NEVER").click()
    panel = dashboard.page.locator("#tracker-panel")
    sync_api.expect(panel).to_have_attribute("data-trail", "empty")
    sync_api.expect(panel.locator("[data-field=trail-status]")).to_have_text("No reports in the last 24 hours.")
    sync_api.expect(panel.locator("[data-field=replay]")).to_be_hidden()
    assert "never" in panel.inner_text()
