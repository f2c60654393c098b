// The trail's replay: a slider over the trail's points (arrow keys step one point, Page Up/Down a
// tenth, Home/End the ends), Play/Pause, and a speed in trail time per second. Playing runs a clock
// through the trail's own times, so the marker lingers where the tracker stood still and hurries
// where reports are sparse; between two points it is interpolated.

import { exactTime } from "./format.js";

const TARGET_REPLAY_SECONDS = 30; // the speed a new trail starts with: the nearest that replays it in ~30 s

/**
 * createReplay(root, {onMove}) → {load(points), stop(), position()}.
 * `onMove(latitude, longitude)` places the marker; `root` holds the controls (data-field/action).
 */
export function createReplay(root, { onMove }) {
  const slider = root.querySelector("[data-field=slider]");
  const play = root.querySelector("[data-action=play]");
  const speed = root.querySelector("[data-field=speed]");
  const time = root.querySelector("[data-field=replay-time]");
  let points = [];
  let times = [];
  let clock = 0; // the replay's instant, ms since the epoch
  let index = 0; // the last point at or before the clock
  let frame = null;
  let lastFrameAt = 0;

  function show() {
    slider.value = String(index);
    const point = points[index];
    const next = points[index + 1];
    if (next && clock > times[index]) {
      const share = Math.min(1, (clock - times[index]) / (times[index + 1] - times[index] || 1));
      onMove(
        point.latitude + (next.latitude - point.latitude) * share,
        point.longitude + (next.longitude - point.longitude) * share,
      );
    } else {
      onMove(point.latitude, point.longitude);
    }
    time.value = exactTime(new Date(clock).toISOString());
    slider.setAttribute("aria-valuetext", `${time.value}, report ${index + 1} of ${points.length}`);
  }

  function setPlaying(playing) {
    play.textContent = playing ? "Pause" : "Play"; // its name says what it does (not a pressed state)
    root.dataset.playing = String(playing);
    if (!playing && frame !== null) {
      cancelAnimationFrame(frame);
      frame = null;
    }
  }

  function tick(now) {
    const elapsed = Math.min(now - lastFrameAt, 250); // a background tab does not jump to the end
    lastFrameAt = now;
    clock += elapsed * Number(speed.value);
    while (index < points.length - 1 && times[index + 1] <= clock) index += 1;
    if (index >= points.length - 1) {
      clock = times[points.length - 1];
      show();
      setPlaying(false);
      return;
    }
    show();
    frame = requestAnimationFrame(tick);
  }

  play.addEventListener("click", () => {
    if (frame !== null) {
      setPlaying(false);
      return;
    }
    if (points.length < 2) return;
    if (index >= points.length - 1) {
      index = 0; // at the end: play again from the start
      clock = times[0];
    }
    setPlaying(true);
    lastFrameAt = performance.now();
    frame = requestAnimationFrame(tick);
  });
  slider.addEventListener("input", () => {
    index = Number(slider.value);
    clock = times[index];
    show();
  });

  function pickSpeed(span) {
    const options = [...speed.options].map((option) => Number(option.value));
    const wanted = span / 1000 / TARGET_REPLAY_SECONDS;
    const chosen = options.reduce((best, option) =>
      Math.abs(Math.log(option / wanted)) < Math.abs(Math.log(best / wanted)) ? option : best,
    );
    speed.value = String(chosen);
  }

  return {
    /** A new trail: the slider spans its points and starts at the last (where the tracker is now). */
    load(trailPoints) {
      setPlaying(false);
      points = trailPoints;
      times = points.map((point) => Date.parse(point.timestamp));
      root.hidden = points.length < 2;
      if (!points.length) return;
      slider.max = String(points.length - 1);
      index = points.length - 1;
      clock = times[index];
      pickSpeed(times[index] - times[0] || 1000);
      show();
    },
    /** A newer report (a live change): the slider grows; at the end, the replay follows it. */
    append(point) {
      const atEnd = index >= points.length - 1 && frame === null;
      points = [...points, point];
      times = [...times, Date.parse(point.timestamp)];
      slider.max = String(points.length - 1);
      root.hidden = points.length < 2;
      if (atEnd) {
        index = points.length - 1;
        clock = times[index];
        show();
      }
    },
    stop() {
      setPlaying(false);
    },
    /** The slider's point index (for the tests and whoever measures). */
    position() {
      return index;
    },
  };
}
