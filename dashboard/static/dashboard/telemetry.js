// Timings and events of the page, sent in small batches to POST /api/telemetry/.

import { sendBeacon } from "./api.js";

const FLUSH_DELAY_MS = 2000;
const MAX_BATCH = 50;
let queue = [];
let timer = null;

/** What the page has reported, for whoever measures it (the browser tests, the closing note). */
export const reported = [];

function flush() {
  clearTimeout(timer);
  timer = null;
  while (queue.length) sendBeacon({ events: queue.splice(0, MAX_BATCH) });
}

function push(event) {
  reported.push(event);
  queue.push(event);
  if (queue.length >= MAX_BATCH) flush();
  else if (!timer) timer = setTimeout(flush, FLUSH_DELAY_MS);
}

/** A timing in milliseconds (performance.now() units); the API takes seconds. */
export function timing(type, milliseconds) {
  push({ type, seconds: Math.max(0, milliseconds) / 1000 });
}

export function count(type) {
  push({ type });
}

// A page being hidden may never run its timers again.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") flush();
});
window.addEventListener("pagehide", flush);
