"""Ad-hoc measurement of the dashboard page in headless Chromium (Playwright), against a running server.

Against a seeded database (seed_demo --trackers 1500 --history 1000) served by, for example,
`DEBUG=false ... gunicorn trackerdash.wsgi -w 2 -b 127.0.0.1:8462`:
    .venv/bin/python bench/scripts/measure_dashboard.py --base http://127.0.0.1:8462 [--runs 9]
Prints, per run and as medians, the page's own telemetry: navigation start → filters
interactive (first visit with an empty browser cache, then a returning visit) and a brand
chosen → its markers shown; then, as staff, "Load all" → the first markers and → all shown.
Not a test.
"""

import argparse
import statistics
import time

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


def measure_load_all(browser, base: str, username: str, runs: int) -> None:
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
        started = time.perf_counter()
        switch.check()
        page.wait_for_selector("body[data-phase=loaded]")
        everything = (time.perf_counter() - started) * 1000
        first_page = last_timing(page, "filter_to_data")
        total = page.get_attribute("#tracker-count", "data-total")
        rows.append((first_page, everything))
        print(f"run {run + 1}: Load all → first markers {first_page:.0f} ms, all {total} shown {everything:.0f} ms")
    switch.uncheck()  # leave the demo user as it was
    page.wait_for_selector("body[data-phase=empty]")
    context.close()
    print(f"median Load all → first markers: {statistics.median(r[0] for r in rows):.0f} ms")
    print(f"median Load all → all shown (Playwright's clock): {statistics.median(r[1] for r in rows):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="ops-northwind-logistics", help="a client's user over the lazy threshold")
    parser.add_argument("--staff", default="admin", help="a staff user for the Load all runs")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        measure_brand(browser, args.base, args.user, args.runs)
        measure_load_all(browser, args.base, args.staff, max(3, args.runs // 2))
        browser.close()


if __name__ == "__main__":
    main()
