"""Frame times of the clustered map in headless Chromium (Playwright), against a running server.

Against a database seeded with ~15,000 located trackers (seed_demo --trackers 16000 --history 10)
served by, for example, `MAP_TILE_URL= gunicorn --config gunicorn.conf.py -b 127.0.0.1:8471`:
    .venv/bin/python bench/scripts/measure_map_frames.py --base http://127.0.0.1:8471 [--steps 20]
Logs in as staff ("admin", the demo password), switches "Load all" on and, with every marker
on the map, measures in the page (performance.now()):

- placing the markers: `setPositions` of the positions feed (the cluster index built and the
  first frame drawn), a few times;
- a pan step: `map.panBy([±150, ±60])` without animation, run at the start of a frame, to the
  end of that frame's paint (the map's script, then the browser's style, layout and paint);
- a zoom step: `map.setZoom(z ± 1)` without animation (Leaflet's zoom animation is a CSS
  transform of the last frame; the cost is the reclustering and repainting at its end), over
  every zoom from the world to the street and back;
- real drags: the mouse dragging the map 20 moves of ~11 px and releasing it, the longest gap
  between two frames of each drag (the release repaints the markers).

Each at the centre of the densest cluster (the worst case: the most markers on screen). Prints
per zoom level the median and the worst step, then medians and 95th percentiles over all
against issue 14's targets (≤ 50 ms a pan step, ≤ 150 ms a zoom step). Not a test.
"""

import argparse
import statistics
import sys

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "demo-password"
PAN_TARGET_MS = 50
ZOOM_TARGET_MS = 150

# A step runs at the start of a frame (in a requestAnimationFrame callback, as input handlers
# do); a message posted then is handled once that frame is painted ("afterFrame"): the time in
# between is the step's frame time (script, style, layout and paint). `work` is the script alone.
TIME_STEP = """([kind, ...values]) => new Promise((resolve) => {
    const map = window.trackerdash.map;
    requestAnimationFrame(() => {
        const start = performance.now();
        if (kind === "pan") map.panBy(values, {animate: false});
        else map.setZoom(values[0], {animate: false});
        const work = performance.now() - start;
        const channel = new MessageChannel();
        channel.port1.onmessage = () => resolve([work, performance.now() - start]);
        channel.port2.postMessage(null);
    });
})"""

PLACE_MARKERS = """async (url) => {
    const columns = await (await fetch(url, {credentials: "same-origin"})).json();
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    const times = [];
    for (let run = 0; run < 5; run += 1) {
        await frame();
        const start = performance.now();
        window.trackerdash.markers.setPositions(columns);
        await frame();  // the next frame paints what setPositions drew
        await new Promise((resolve) => setTimeout(resolve, 0));
        times.push(performance.now() - start);
    }
    return [columns.total, times];
}"""

# Frame gaps while the mouse drags the map (a rAF loop records them).
RECORD_FRAMES = """() => {
    window.__frames = [];
    let last = performance.now();
    const tick = (now) => {
        window.__frames.push(now - last);
        last = now;
        if (window.__recording) requestAnimationFrame(tick);
    };
    window.__recording = true;
    requestAnimationFrame(tick);
}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def drag_gaps(page) -> list[float]:
    """Five drags of the map by the mouse; the longest gap between two frames of each."""
    box = page.locator(".map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    longest = []
    for drag in range(5):
        direction = 1 if drag % 2 == 0 else -1
        page.evaluate(RECORD_FRAMES)
        page.mouse.move(x, y)
        page.mouse.down()
        for move in range(1, 21):
            page.mouse.move(x + direction * 10 * move, y + direction * 4 * move)
        page.mouse.up()
        page.wait_for_timeout(300)
        frames = page.evaluate("() => { window.__recording = false; return window.__frames.slice(1); }")
        longest.append(max(frames))
    return longest


def log_in(page, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--steps", type=int, default=20, help="pan steps per zoom level")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        log_in(page, args.base)
        load_all = page.get_by_label("Load all")
        if not load_all.is_checked():
            load_all.check()
        page.wait_for_selector("body[data-phase=loaded]")
        markers = int(page.get_attribute(".map", "data-marker-count"))
        size = page.evaluate("() => Object.values(window.trackerdash.map.getSize())")
        print(f"{markers:,} markers on a {size[0]}×{size[1]} px map (viewport {args.width}×{args.height})")

        config = "() => JSON.parse(document.getElementById('page-config').textContent)"
        positions = page.evaluate(config)["urls"]["positions"]
        total, placing = page.evaluate(PLACE_MARKERS, positions)
        print(
            f"placing {total:,} markers (setPositions: cluster index + first frame): "
            f"median {statistics.median(placing):.1f} ms, runs {', '.join(f'{t:.0f}' for t in placing)}"
        )

        # The densest spot: the biggest cluster at zoom 5.
        page.evaluate("() => window.trackerdash.map.setView([30, 0], 5, {animate: false})")
        page.wait_for_function("() => window.trackerdash.markers.rendered().zoom === 5")
        densest = page.evaluate(
            "() => window.trackerdash.markers.rendered().clusters.sort((a, b) => b.count - a.count)[0]"
        )
        centre = [densest["latitude"], densest["longitude"]]
        print(f"centre: the densest cluster at zoom 5 ({densest['count']:,} trackers), {centre[0]:.3f} {centre[1]:.3f}")

        max_zoom = page.evaluate("() => window.trackerdash.map.getMaxZoom()")
        pan_all: list[float] = []
        print(f"\n{'zoom':>4} {'clusters':>8} {'points':>7} {'pan median':>11} {'pan worst':>10}  (ms)")
        for zoom in [2, 4, 6, 8, 10, 12, 14, 16, 17]:
            view = f"[{centre[0]}, {centre[1]}], {zoom}"
            page.evaluate(f"() => window.trackerdash.map.setView({view}, {{animate: false}})")
            page.wait_for_function(f"() => window.trackerdash.markers.rendered().zoom === {zoom}")
            drawn = page.evaluate(
                "() => { const r = window.trackerdash.markers.rendered(); return [r.clusters.length, r.points.length] }"
            )
            steps = []
            for step in range(args.steps):
                dx, dy = (150, 60) if step % 4 < 2 else (-150, -60)
                steps.append(page.evaluate(TIME_STEP, ["pan", dx, dy])[1])
            pan_all += steps
            print(f"{zoom:>4} {drawn[0]:>8,} {drawn[1]:>7,} {statistics.median(steps):>11.1f} {max(steps):>10.1f}")

        page.evaluate(f"() => window.trackerdash.map.setView([{centre[0]}, {centre[1]}], 2, {{animate: false}})")
        zoom_steps: list[tuple[int, int, float, float]] = []
        levels = list(range(2, max_zoom)) + list(range(max_zoom, 2, -1))
        for source, target in zip(levels, levels[1:] + [2], strict=True):
            work, frame = page.evaluate(TIME_STEP, ["zoom", target])
            zoom_steps.append((source, target, work, frame))
        print("\nzoom steps (ms, the frame that paints it):")
        print("  in:  " + "  ".join(f"{s}→{t} {f:.0f}" for s, t, _, f in zoom_steps if t > s))
        print("  out: " + "  ".join(f"{s}→{t} {f:.0f}" for s, t, _, f in zoom_steps if t < s))

        # Real drags at zoom 10: 20 moves, then the release (moveend repaints), five times; then the
        # same on the map without markers (the machine's own frame gaps, for comparison).
        page.evaluate(f"() => window.trackerdash.map.setView([{centre[0]}, {centre[1]}], 10, {{animate: false}})")
        with_markers = drag_gaps(page)
        page.evaluate("() => window.trackerdash.markers.clear()")
        without = drag_gaps(page)
        print()
        for label, gaps in [("with the markers", with_markers), ("without markers", without)]:
            print(
                f"real drags at zoom 10, {label} (20 moves + release, 5 drags): "
                f"longest gap between frames {', '.join(f'{gap:.0f}' for gap in gaps)} ms, "
                f"median {statistics.median(gaps):.1f} ms"
            )

        zoom_frames = [frame for *_, frame in zoom_steps]
        print("\nover all steps:")
        print(
            f"  pan step:  median {statistics.median(pan_all):.1f} ms, p95 {percentile(pan_all, 0.95):.1f} ms, "
            f"worst {max(pan_all):.1f} ms (target ≤ {PAN_TARGET_MS} ms)"
        )
        print(
            f"  zoom step: median {statistics.median(zoom_frames):.1f} ms, p95 {percentile(zoom_frames, 0.95):.1f} ms, "
            f"worst {max(zoom_frames):.1f} ms (target ≤ {ZOOM_TARGET_MS} ms)"
        )
        browser.close()
        if errors:
            print("console errors:", *errors, sep="\n  ")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
