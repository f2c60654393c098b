"""Ad-hoc measurement of the dashboard page in headless Chromium (Playwright), against a running server.

Against a seeded database (seed_demo --trackers 1500 --history 1000) served by, for example,
`DEBUG=false ... gunicorn trackerdash.wsgi -w 2 -b 127.0.0.1:8462`:
    .venv/bin/python bench/scripts/measure_dashboard.py --base http://127.0.0.1:8462 [--runs 9]
Prints, per run and as medians, the page's own telemetry: navigation start → filters
interactive (first visit with an empty browser cache, then a returning visit) and a brand
chosen → its markers shown; then, as staff, "Load all" → the table's first page shown and →
every marker drawn, with the bytes the page downloaded from /api/ (on the wire and decoded).

`--load-all-only` skips the brand runs. `--cold` empties the server's query cache before each
"Load all" run (`cache_layer.query.invalidate_all()`, so the script needs the server's
DATABASE_URL, REDIS_URL and CACHE_KEY_PREFIX in its environment); without it the runs after
the first are warm. Not a test.
"""

import argparse
import os
import statistics
import sys
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "demo-password"


def last_timing(page, kind: str) -> float:
    """Milliseconds of the page's last `kind` timing, as it reported it to /api/telemetry/."""
    return page.evaluate(f"window.trackerdash.telemetry.filter(e => e.type === '{kind}').at(-1).seconds * 1000")


def session_of(browser, base: str, username: str) -> dict:
    """Logs in once; the runs reuse the session cookie, so the login POST is never timed."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    state = context.storage_state()
    context.close()
    return state


def measure_brand(browser, base: str, username: str, runs: int) -> None:
    session = session_of(browser, base, username)
    rows = []
    for run in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, storage_state=session)
        page = context.new_page()
        page.goto(f"{base}/")  # first visit: an empty HTTP cache
        page.wait_for_selector("body[data-ready=true]")
        first = last_timing(page, "dashboard_load")
        page.goto(f"{base}/")  # returning: the versioned static files come from the cache
        page.wait_for_selector("body[data-ready=true]")
        returning = last_timing(page, "dashboard_load")
        page.click("#brand-filter-toggle")
        boxes = page.locator("#brand-filter-panel input[type=checkbox]")
        boxes.nth(run % boxes.count()).check()
        page.wait_for_selector("body[data-phase=loaded]")
        to_markers = last_timing(page, "filter_to_data")
        markers = page.get_attribute(".map", "data-marker-count")
        rows.append((first, returning, to_markers))
        print(
            f"run {run + 1}: filters interactive {first:.0f} ms first visit, {returning:.0f} ms returning; "
            f"brand → {markers} markers shown {to_markers:.0f} ms"
        )
        context.close()
    for label, column in [
        ("navigation → filters interactive, first visit", 0),
        ("navigation → filters interactive, returning", 1),
        ("brand chosen → markers shown", 2),
    ]:
        print(f"median {label}: {statistics.median(row[column] for row in rows):.0f} ms")


def invalidate_query_cache() -> None:
    """Every query-cache entry of the server's database and Redis prefix becomes a miss."""
    import django

    if not getattr(invalidate_query_cache, "ready", False):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackerdash.settings")
        django.setup()
        invalidate_query_cache.ready = True
    import cache_layer.query

    cache_layer.query.invalidate_all()


def api_bytes(responses) -> dict[str, list[int]]:
    """{kind: [requests, bytes on the wire, bytes decoded]} of the /api/ responses, by path kind."""
    kinds: dict[str, list[int]] = {}
    for response in responses:
        path = urlsplit(response.url).path
        if not path.startswith("/api/") or path.startswith("/api/telemetry"):
            continue
        kind = "positions" if path.endswith("/positions/") else "list" if path == "/api/trackers/" else path
        entry = kinds.setdefault(kind, [0, 0, 0])
        entry[0] += 1
        entry[1] += response.request.sizes()["responseBodySize"]
        entry[2] += len(response.body())
    return kinds


def measure_load_all(browser, base: str, username: str, runs: int, *, cold: bool) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, storage_state=session_of(browser, base, username)
    )
    page = context.new_page()
    switch = page.get_by_label("Load all")
    rows = []
    for run in range(runs):
        page.goto(f"{base}/")
        page.wait_for_selector("body[data-phase=empty], body[data-phase=loaded]")
        if switch.is_checked():
            switch.uncheck()
            page.wait_for_selector("body[data-phase=empty]")
        if cold:
            invalidate_query_cache()
        responses = []

        def record(response, responses=responses):
            responses.append(response)

        page.on("response", record)
        page.evaluate("window.__clickedAt = performance.now()")
        switch.check()
        page.wait_for_selector("body[data-phase=loaded]")
        # The markers are on the canvas once the frame after the load has been painted.
        everything = page.evaluate(
            "new Promise(done => requestAnimationFrame(() => setTimeout(() => "
            "done(performance.now() - window.__clickedAt))))"
        )
        page.remove_listener("response", record)
        table = last_timing(page, "filter_to_data")
        markers = int(page.get_attribute(".map", "data-marker-count"))
        total = int(page.get_attribute("#tracker-count", "data-total"))
        kinds = api_bytes(responses)
        wire = sum(entry[1] for entry in kinds.values())
        decoded = sum(entry[2] for entry in kinds.values())
        rows.append((table, everything, wire, decoded))
        detail = ", ".join(f"{kind} {n}× {w / 1024:.1f}/{d / 1024:.1f} KB" for kind, (n, w, d) in sorted(kinds.items()))
        print(
            f"run {run + 1} ({'cold' if cold or run == 0 else 'warm'}): Load all → table shown {table:.0f} ms, "
            f"all {markers:,} markers of {total:,} drawn {everything:.0f} ms; /api/ bytes wire/decoded "
            f"{wire / 1024:.1f}/{decoded / 1024:.1f} KB ({detail})"
        )
    switch.uncheck()  # leave the demo user as it was
    page.wait_for_selector("body[data-phase=empty]")
    context.close()
    measured = rows if cold else rows[1:] or rows
    label = "cold query cache" if cold else "warm query cache (runs 2…)"
    print(f"median Load all → table shown, {label}: {statistics.median(r[0] for r in measured):.0f} ms")
    print(f"median Load all → all markers drawn, {label}: {statistics.median(r[1] for r in measured):.0f} ms")
    print(
        f"median /api/ bytes per Load all: {statistics.median(r[2] for r in measured) / 1024:.1f} KB on the wire, "
        f"{statistics.median(r[3] for r in measured) / 1024:.1f} KB decoded"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="ops-northwind-logistics", help="a client's user over the lazy threshold")
    parser.add_argument("--staff", default="admin", help="a staff user for the Load all runs")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--load-all-only", action="store_true", help="skip the brand runs")
    parser.add_argument("--cold", action="store_true", help="empty the query cache before each Load all run")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        if not args.load_all_only:
            measure_brand(browser, args.base, args.user, args.runs)
        measure_load_all(browser, args.base, args.staff, max(3, args.runs // 2), cold=args.cold)
        browser.close()


if __name__ == "__main__":
    main()
