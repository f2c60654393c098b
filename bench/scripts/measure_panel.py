"""Ad-hoc measurement of the tracker panel in headless Chromium (Playwright), against a running server.

Against a seeded database (seed_demo: one report every 15 minutes, so 96 in a day) served by, for
example, `DEBUG=false ... gunicorn trackerdash.asgi:application -k uvicorn_worker.UvicornWorker -b 127.0.0.1:8474`:
    .venv/bin/python bench/scripts/measure_panel.py --base http://127.0.0.1:8474 [--runs 9] [--long]
Prints, per run and as medians:
1. demo data: a table row clicked → the panel open and its 24 h trail drawn (the frame after the
   trail's polyline was added has run), each run another tracker (no cache helps: the trail is
   not cached);
2. with `--long`: a trail of 43,200 reports (one a minute for 30 days, ending now, written once
   into tracker LONG_SERIAL through the ingest service, so the script needs the server's
   DATABASE_URL, REDIS_URL and CACHE_KEY_PREFIX: a noisy loop, the simplification's worst case,
   it needs the whole point budget) → "Show trail" of the custom range of 30 days submitted →
   drawn; the points the server sent and the bytes of the answer. `--long-serial TRAIL-43200`
   takes measure_trail.py's tracker instead (a vehicle with stops: simpler to simplify).
Beside each: the trail request's own time in the browser (request start → last byte).
Not a test.
"""

import argparse
import math
import os
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from measure_dashboard import CHROMIUM_ARGS, session_of
from playwright.sync_api import sync_playwright

LONG_SERIAL = "BENCH-TRAIL-30D"
LONG_REPORTS = 43_200
VIEWPORT = {"width": 1280, "height": 800}

# Clicks `target` (a row, or the custom form's submit button) in the page and resolves once the
# panel's trail is drawn (or found empty) and the next frame has been painted: the click → drawn
# time, the trail's points on the map, and the trail request's timing and size.
CLICK_AND_WAIT = """
async (selector) => {
  const panel = document.getElementById("tracker-panel");
  performance.clearResourceTimings();
  const target = document.querySelector(selector);
  const start = performance.now();
  const done = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (panel.dataset.trail && panel.dataset.trail !== "loading") {
        observer.disconnect();
        resolve();
      }
    });
    observer.observe(panel, { attributes: true, attributeFilter: ["data-trail"] });
  });
  target.click();
  await done;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  const end = performance.now();
  const ms = end - start;
  const request = performance.getEntriesByType("resource").find((entry) => entry.name.includes("/trail/"));
  return {
    ms,
    state: panel.dataset.trail,
    points: window.trackerdash.trail.size(),
    requestMs: request ? request.responseEnd - request.requestStart : NaN,
    drawMs: request ? end - request.responseEnd : NaN, // the answer's last byte → painted: the page's own part
    encoded: request ? request.encodedBodySize : NaN,
    decoded: request ? request.decodedBodySize : NaN,
  };
}
"""


def close_panel(page) -> None:
    page.keyboard.press("Escape")
    page.wait_for_selector("#tracker-panel", state="hidden")


def measure_demo(browser, base: str, username: str, runs: int) -> None:
    context = browser.new_context(viewport=VIEWPORT, storage_state=session_of(browser, base, username))
    page = context.new_page()
    page.goto(f"{base}/?status=in_transit")  # trackers on the move: a trail in the last 24 h
    page.wait_for_selector("body[data-phase=loaded]")
    rows = []
    for run in range(runs + 1):  # the first run warms the browser (modules compiled, pane created)
        result = page.evaluate(CLICK_AND_WAIT, f".trackers tbody tr[data-id]:nth-child({run + 1})")
        close_panel(page)
        label = "warm-up" if run == 0 else f"run {run}"
        print(
            f"{label}: row → panel and 24 h trail drawn {result['ms']:.0f} ms ({result['state']}, "
            f"{result['points']} points; trail request {result['requestMs']:.0f} ms, {result['decoded']} bytes; "
            f"answer → painted {result['drawMs']:.0f} ms)"
        )
        if run:
            rows.append(result)
    print(f"median row click → panel open, 24 h trail drawn: {statistics.median(r['ms'] for r in rows):.0f} ms")
    print(f"median trail request {statistics.median(r['requestMs'] for r in rows):.0f} ms")
    points = statistics.median(r["points"] for r in rows)
    print(f"slowest: {max(r['ms'] for r in rows):.0f} ms; median points drawn {points:.0f}")
    context.close()


def prepare_long_trail() -> None:
    """Tracker LONG_SERIAL with one report a minute for the 30 days up to now (written once)."""
    import django

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")
    django.setup()
    from dashboard.models import LocationHistory, ProductionRun, Tracker
    from dashboard.services import location_reports_ingest

    tracker = Tracker.objects.filter(serial=LONG_SERIAL).first()
    if tracker is None:
        tracker = Tracker.objects.create(
            production_run=ProductionRun.objects.order_by("id").first(),
            serial=LONG_SERIAL,
            name="A month of reports, one a minute",
            current_status="returned",  # not among the in-transit rows of the demo case
        )
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=LONG_REPORTS - 1)
    newest = LocationHistory.objects.filter(tracker=tracker).order_by("-timestamp").values_list("timestamp", flat=True)
    if newest and newest[0] >= start:
        start = newest[0] + timedelta(minutes=1)  # a later run adds the minutes since the last one
    # A slow loop around France (three turns a month) with some noise: a path with real shape for
    # the simplification, continuous across runs (the position is a function of the minute).
    reports = []
    moment = start
    while moment <= end:
        minute = int(moment.timestamp() // 60)
        angle = 2 * math.pi * minute / LONG_REPORTS * 3
        reports.append(
            {
                "tracker": LONG_SERIAL,
                "timestamp": moment,
                "latitude": round(46.5 + 2.5 * math.sin(angle) + 0.02 * math.sin(minute / 7), 6),
                "longitude": round(2.5 + 3.5 * math.cos(angle) + 0.02 * math.cos(minute / 5), 6),
                "nearest_city": "",
                "confidence": None,
                "battery_level": None,
            }
        )
        moment += timedelta(minutes=1)
    for offset in range(0, len(reports), 5_000):
        location_reports_ingest(reports=reports[offset : offset + 5_000])
    in_period = LocationHistory.objects.filter(tracker=tracker, timestamp__gt=end - timedelta(days=30)).count()
    print(f"{LONG_SERIAL}: wrote {len(reports)} reports; {in_period} in the 30 days up to {end:%Y-%m-%d %H:%M} UTC")


def measure_long(browser, base: str, username: str, runs: int, serial: str) -> None:
    context = browser.new_context(viewport=VIEWPORT, storage_state=session_of(browser, base, username))
    page = context.new_page()
    page.goto(f"{base}/?search={serial}")
    page.wait_for_selector("body[data-phase=loaded]")
    page.click(".trackers tbody tr[data-id]")
    page.wait_for_selector("#tracker-panel[data-trail]:not([data-trail=loading])")
    page.click("#tracker-panel [data-range=custom]")
    since = (datetime.now(UTC) - timedelta(days=30, minutes=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#trail-custom input[name=since]", since)
    rows = []
    for run in range(runs + 1):
        result = page.evaluate(CLICK_AND_WAIT, "#trail-custom button[type=submit]")
        status = page.inner_text("#tracker-panel [data-field=trail-status]")
        label = "warm-up" if run == 0 else f"run {run}"
        print(
            f"{label}: 30 days → trail drawn {result['ms']:.0f} ms ({result['points']} points; trail request "
            f"{result['requestMs']:.0f} ms, {result['encoded']} bytes on the wire, {result['decoded']} decoded; "
            f"answer → painted {result['drawMs']:.0f} ms)"
            f" — {status}"
        )
        if run:
            rows.append(result)
    print(f"median 30-day trail (43,200 reports) submitted → drawn: {statistics.median(r['ms'] for r in rows):.0f} ms")
    request = statistics.median(r["requestMs"] for r in rows)
    draw = statistics.median(r["drawMs"] for r in rows)
    slowest = max(r["ms"] for r in rows)
    print(f"slowest: {slowest:.0f} ms; median trail request {request:.0f} ms, answer → painted {draw:.0f} ms")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="admin", help="a user who sees the trackers (staff: every one)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--long", action="store_true", help="also the 43,200-report trail (writes it once)")
    parser.add_argument(
        "--long-serial",
        default=LONG_SERIAL,
        help=f"the long trail's tracker; another than {LONG_SERIAL} is used as it is (measure_trail.py's TRAIL-43200)",
    )
    args = parser.parse_args()
    if args.long and args.long_serial == LONG_SERIAL:
        prepare_long_trail()  # before Playwright: Django refuses the ORM beside its running event loop
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        measure_demo(browser, args.base, args.user, args.runs)
        if args.long:
            measure_long(browser, args.base, args.user, args.runs, args.long_serial)
        browser.close()


if __name__ == "__main__":
    main()
