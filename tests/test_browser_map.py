"""The map in a real browser: clusters, status colours that stay readable, land outlines offline.

The browser, the dashboard tab (which fails the test on any console error) and the fleet come
from tests/test_browser.py. Clusters are read from the page (`window.trackerdash.markers.
rendered()`: what the points layer draws at the current zoom) and colours from the canvases'
pixels, where the user sees them.
"""

from urllib.parse import urlsplit

import pytest
from model_bakery import baker

from dashboard.models import Tracker
from tests import test_browser as page_tests

# The page tests' fixtures (an autouse one among them: no tiles, a lazy-mode threshold of 5).
browser = page_tests.browser
dashboard = page_tests.dashboard
fleet = page_tests.fleet
_dashboard_settings = page_tests._dashboard_settings
located_tracker = page_tests.located_tracker
sync_api = page_tests.sync_api

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOST_RED = (220, 38, 38)  # STATUS_COLORS.lost, #dc2626
LAND_FILL = (244, 242, 236)  # outline.js's fill, #f4f2ec

RENDERED = "() => window.trackerdash.markers.rendered()"


def set_view(dashboard, lat: float, lon: float, zoom: int) -> dict:
    """Moves the map without animation; returns what it then draws."""
    dashboard.page.evaluate(f"() => window.trackerdash.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    dashboard.page.wait_for_function(f"() => window.trackerdash.markers.rendered().zoom === {zoom}")
    return dashboard.page.evaluate(RENDERED)


def page_point(dashboard, lat: float, lon: float) -> tuple[float, float]:
    """Where (lat, lon) is on the page, for a real mouse click."""
    script = f"() => Object.values(window.trackerdash.map.latLngToContainerPoint([{lat}, {lon}]))"
    x, y = dashboard.page.evaluate(script)
    box = dashboard.page.locator(".map").bounding_box()
    return box["x"] + x, box["y"] + y


def pixel(dashboard, canvas_selector: str, lat: float, lon: float, dx: float = 0) -> tuple[int, int, int, int]:
    """The RGBA of a canvas at (lat, lon) (and `dx` CSS pixels to the right), as painted."""
    return tuple(
        dashboard.page.evaluate(
            """([selector, lat, lon, dx]) => {
                const canvas = document.querySelector(selector);
                const map = window.trackerdash.map;
                const point = map.latLngToContainerPoint([lat, lon]);
                const mapBox = map.getContainer().getBoundingClientRect();
                const box = canvas.getBoundingClientRect();
                const x = Math.round((mapBox.left + point.x + dx - box.left) * (canvas.width / box.width));
                const y = Math.round((mapBox.top + point.y - box.top) * (canvas.height / box.height));
                return Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data);
            }""",
            [canvas_selector, lat, lon, dx],
        )
    )


def looks_like(rgba: tuple[int, ...], rgb: tuple[int, int, int], tolerance: int = 30) -> bool:
    """Within a few levels of a colour (a translucent marker over another blends a little)."""
    return rgba[3] > 200 and all(abs(a - b) <= tolerance for a, b in zip(rgba[:3], rgb, strict=True))


def total_drawn(rendered: dict) -> int:
    return sum(cluster["count"] for cluster in rendered["clusters"]) + len(rendered["points"])


def test_overlapping_markers_cluster_at_low_zoom_and_split_when_a_cluster_is_clicked(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()

    # Zoomed out over Europe, Lyon's, Paris's and Berlin's trackers overlap: clusters, each
    # coloured by its worst status and counting every status it holds.
    far = set_view(dashboard, 48.5, 8, 3)
    assert far["clusters"] and total_drawn(far) == 11 == dashboard.marker_count()
    worst = max(far["clusters"], key=lambda cluster: cluster["count"])
    assert worst["worst"] == "lost"
    assert worst["statuses"]["lost"] == 2  # TR1-3 and TR1-4, with the in-transit trackers near them

    # A click on a cluster zooms in to where it splits.
    x, y = page_point(dashboard, worst["latitude"], worst["longitude"])
    dashboard.page.mouse.click(x, y)
    dashboard.page.wait_for_function("() => window.trackerdash.markers.rendered().zoom > 3")
    nearer = dashboard.page.evaluate(RENDERED)
    assert len(nearer["clusters"]) + len(nearer["points"]) > len(far["clusters"]) + len(far["points"])
    assert total_drawn(nearer) == 11

    # Close enough, Lyon's five trackers are five markers, and the table's serials match them.
    near = set_view(dashboard, 45.9, 4.8, 10)
    lyon = {t.id for t in Tracker.objects.filter(serial__startswith="TR1-")}
    assert lyon <= set(near["points"])
    assert not any(cluster["statuses"].get("lost") for cluster in near["clusters"])


def test_no_status_hides_another_by_draw_order(dashboard, owner, client_a):
    """Two trackers at one spot: the lost one is drawn on top though the feed sends it first,
    their cluster shows both statuses, and a click spreads them apart (no zoom separates them)."""
    brand = baker.make("dashboard.Brand", client=client_a, name="Depot brand")
    run = baker.make("dashboard.ProductionRun", brand=brand, name="Depot run")
    lost = located_tracker(run, "DEPOT-LOST", "lost", "Lyon", minutes_ago=2, lat=45.75, lon=4.85)
    delivered = located_tracker(run, "DEPOT-OK", "delivered", "Lyon", minutes_ago=1, lat=45.75, lon=4.85)
    located_tracker(run, "FAR-AWAY", "in_storage", "Oslo", minutes_ago=3, lat=59.9, lon=10.7)
    assert lost.id < delivered.id  # the feed's order: the delivered one comes last

    dashboard.log_in(owner)
    dashboard.open()  # 3 trackers: a small scope loads at once
    dashboard.wait_for("loaded")

    depot = set_view(dashboard, 45.75, 4.85, 12)
    (cluster,) = depot["clusters"]
    assert cluster["count"] == 2 and cluster["statuses"] == {"lost": 1, "delivered": 1}
    assert cluster["worst"] == "lost"
    canvas = ".leaflet-overlay-pane canvas"
    assert looks_like(pixel(dashboard, canvas, 45.75, 4.85, dx=-6), LOST_RED)  # beside its count

    # Past the clustering's last zoom both are single markers on one pixel: the lost one on top.
    set_view(dashboard, 45.75, 4.85, 18)
    assert looks_like(pixel(dashboard, canvas, 45.75, 4.85), LOST_RED)

    # At a zoom where they are one cluster, a click spreads them; each opens its own tracker's panel.
    set_view(dashboard, 45.75, 4.85, 12)
    dashboard.page.mouse.click(*page_point(dashboard, 45.75, 4.85))
    dashboard.page.wait_for_function("() => window.trackerdash.markers.rendered().spread.length === 2")
    spread = dashboard.page.evaluate(RENDERED)
    assert spread["zoom"] == 12  # spread in place, not zoomed
    target = next(point for point in spread["spread"] if point["id"] == delivered.id)
    box = dashboard.page.locator(".map").bounding_box()
    dashboard.page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    sync_api.expect(dashboard.page.locator("#tracker-panel [data-field=serial]")).to_have_text("DEPOT-OK")


def test_with_tiles_blocked_the_land_outline_is_drawn_under_the_markers(dashboard, owner, fleet, settings):
    settings.MAP_TILE_URL = "/test-tiles/{z}/{x}/{y}.png"  # same origin: the CSP allows it
    blocked = []

    def block(route):
        blocked.append(route.request.url)
        route.abort()

    dashboard.page.route("**/test-tiles/**", block)
    dashboard.allowed_console_errors.append("net::ERR_FAILED")  # each blocked tile, logged by Chromium
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()

    dashboard.page.wait_for_selector(".map[data-outline=drawn]")
    assert blocked
    outline = ".leaflet-land-outline-pane canvas"
    # Land (near Paris, between markers) is filled, the sea (the Bay of Biscay) is not.
    set_view(dashboard, 47, 3, 5)
    assert looks_like(pixel(dashboard, outline, 47.5, 1.0), LAND_FILL, tolerance=2)
    assert pixel(dashboard, outline, 45.5, -4.0)[3] == 0
    # Under the markers: the outline's pane is below the tiles' and the markers'.
    z_indexes = dashboard.page.evaluate(
        """() => ["land-outline", "tile", "overlay"].map((name) =>
            Number(getComputedStyle(window.trackerdash.map.getPane(name + "Pane") ||
                                    window.trackerdash.map.getPane(name)).zIndex))"""
    )
    assert z_indexes[0] < z_indexes[1] < z_indexes[2]


def test_without_a_tile_url_the_outline_is_drawn_and_with_working_tiles_it_is_never_loaded(
    dashboard, owner, fleet, settings
):
    outline_requests = []
    dashboard.page.on(
        "request", lambda request: "land-110m" in request.url and outline_requests.append(urlsplit(request.url).path)
    )
    dashboard.log_in(owner)
    dashboard.open()  # MAP_TILE_URL is empty in these tests
    dashboard.page.wait_for_selector(".map[data-outline=drawn]")
    assert len(outline_requests) == 1

    # Tiles that load: no outline is fetched.
    settings.MAP_TILE_URL = "/test-tiles/{z}/{x}/{y}.png"
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4a40000000049454e44ae426082"
    )
    dashboard.page.route("**/test-tiles/**", lambda route: route.fulfill(body=png, content_type="image/png"))
    outline_requests.clear()
    dashboard.open()
    dashboard.load_all()
    dashboard.page.wait_for_selector(".leaflet-tile-loaded")
    assert outline_requests == []
    assert dashboard.page.get_attribute(".map", "data-outline") is None


def test_live_changes_reach_the_clusters(dashboard, owner, fleet):
    """A tracker that moves or leaves the filters (the stream's changes) is re-clustered within
    about a second; the marker count follows at once."""
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()
    far = set_view(dashboard, 48.5, 8, 3)
    lyon_cluster = max(far["clusters"], key=lambda cluster: cluster["count"])
    moved = Tracker.objects.get(serial="TR1-4")  # lost, in Lyon's cluster
    gone = Tracker.objects.get(serial="TR1-3")  # lost too

    dashboard.page.evaluate(
        """([moved, gone]) => {
            const markers = window.trackerdash.markers;
            markers.updatePosition(moved, {latitude: 64.1, longitude: -21.9, status: "lost",
                                           timestamp: new Date().toISOString()});  // to Reykjavik
            markers.removePosition(gone);
        }""",
        [moved.id, gone.id],
    )
    assert dashboard.marker_count() == 10
    dashboard.page.wait_for_function(
        """(moved) => window.trackerdash.markers.rendered().points.includes(moved)""", arg=moved.id
    )
    after = dashboard.page.evaluate(RENDERED)
    assert total_drawn(after) == 10
    # Lyon's cluster has lost both of its lost trackers: its worst is now in transit.
    (lyon_now,) = [c for c in after["clusters"] if c["count"] == lyon_cluster["count"] - 2]
    assert lyon_now["worst"] == "in_transit"


def test_from_the_keyboard_enter_opens_the_cluster_or_marker_at_the_maps_centre(dashboard, owner, fleet):
    dashboard.log_in(owner)
    dashboard.open()
    dashboard.load_all()
    far = set_view(dashboard, 48.5, 8, 3)
    biggest = max(far["clusters"], key=lambda cluster: cluster["count"])

    # Arrow keys pan and + / - zoom (Leaflet's); Enter on a cluster at the centre zooms into it.
    set_view(dashboard, biggest["latitude"], biggest["longitude"], 3)
    dashboard.page.locator(".map").focus()
    dashboard.page.keyboard.press("Enter")
    dashboard.page.wait_for_function("() => window.trackerdash.markers.rendered().zoom > 3")

    # On a single marker, Enter opens it (the tracker's panel).
    set_view(dashboard, 52.5, 13.6, 12)  # SU1-2, Berlin
    dashboard.page.locator(".map").focus()
    dashboard.page.keyboard.press("Enter")
    sync_api.expect(dashboard.page.locator("#tracker-panel [data-field=serial]")).to_have_text("SU1-2")
