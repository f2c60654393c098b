// The tracker side panel: opened by a marker or a table row, it shows the tracker (status, battery,
// last report, brand, run, storage and delivery location) and draws its trail on the map for the
// last 24 h, 7 days or a custom range (`GET /api/trackers/{id}/trail/`), with a replay slider.
//
// 1. It opens at once with what the page holds (the table's row), then fills in the tracker's
//    details (`GET /api/trackers/{id}/`, which names its storage and delivery locations); the
//    trail is asked for at the same time.
// 2. A newer tracker or range aborts the older requests; an older answer never replaces a newer one.
// 3. Focus moves into the panel when it opens and back to what opened it when it closes
//    (the close button, or Escape anywhere on the page).

import { fetchTrail } from "./api.js";
import { element } from "./dom.js";
import { battery, exactTime, plural, relativeTime } from "./format.js";
import { createReplay } from "./replay.js";

const HOUR_MS = 3600 * 1000;
const RANGES = { "24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS };
const RANGE_WORDS = { "24h": "in the last 24 hours", "7d": "in the last 7 days", custom: "in this period" };

/** An instant as the API reads it: ISO 8601 in UTC, whole seconds. */
function isoUtc(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A `datetime-local` input's value read as UTC (the page shows exact times in UTC), or null. */
function inputUtc(value) {
  if (!value) return null;
  const ms = Date.parse(`${value}${value.length === 16 ? ":00" : ""}Z`);
  return Number.isNaN(ms) ? null : ms;
}

function inputValue(ms) {
  return new Date(ms).toISOString().slice(0, 16);
}

/**
 * createPanel(root, {trail, describe, details, places, lowBatteryPercent, onClose}) →
 *   {open, close, update, isOpen, trackerId}.
 * - `trail`: trail.js's drawing on the map;
 * - `describe(tracker)` names its brand, run and status;
 * - `details(id, signal)` resolves to the tracker's detail item (null when gone or out of scope);
 * - `places` names reference locations: `{storage: Map(id → location), delivery: Map(id → location)}`;
 * - `lowBatteryPercent`: a battery at or below it is marked, as in the table;
 * - `onClose()` is told when the panel closes.
 */
export function createPanel(root, { trail, describe, details, places, lowBatteryPercent, onClose }) {
  const field = (name) => root.querySelector(`[data-field=${name}]`);
  const serial = field("serial");
  const name = field("name");
  const list = field("details");
  const status = field("trail-status");
  const rangeButtons = [...root.querySelectorAll("[data-range]")];
  const custom = root.querySelector(".trail-custom");
  const replay = createReplay(field("replay"), { onMove: (lat, lon) => trail.moveMarker(lat, lon) });

  let tracker = null; // the item shown (a row's, then the detail's)
  let range = "24h";
  let opener = null; // the element focused before the panel opened
  let shown = []; // the trail's points on the map
  let detailController = null;
  let trailController = null;

  function renderDetails() {
    const { brand, run, status: statusLabel } = describe(tracker);
    const location = tracker.latest_location;
    const place = (kind, id) => {
      if (!("storage_location_id" in tracker)) return "…"; // the detail is on its way
      const found = id === null || id === undefined ? null : places[kind].get(id);
      return found ? `${found.name}${found.city ? `, ${found.city}` : ""}` : "—";
    };
    const level = tracker.battery_level;
    const low = level !== null && level !== undefined && level <= lowBatteryPercent;
    const rows = [
      ["Status", statusLabel, "", element("span", { className: `swatch status-${tracker.current_status}` })],
      ["Battery", battery(level), low ? "Low battery" : "", null, low ? "low" : ""],
      ["Last report", relativeTime(tracker.last_report_received), exactTime(tracker.last_report_received)],
      ["Nearest city", location?.nearest_city || "—"],
      ["Brand", brand],
      ["Production run", run],
      ["Storage location", place("storage", tracker.storage_location_id)],
      ["Delivery location", place("delivery", tracker.delivery_location_id)],
    ];
    serial.textContent = tracker.serial;
    name.textContent = tracker.name || "";
    list.replaceChildren(
      ...rows.flatMap(([term, value, title = "", swatch = null, className = ""]) => [
        element("dt", { textContent: term }),
        element("dd", { title, className }, swatch ? [swatch, value] : [value]),
      ]),
    );
  }

  function setTrailState(state, text) {
    root.dataset.trail = state; // loading | drawn | empty | error (the tests and scripts wait on it)
    status.textContent = text;
  }

  /** The period the range buttons (or the custom form) ask for, or a message when it is not valid. */
  function period() {
    if (range !== "custom") return { since: isoUtc(Date.now() - RANGES[range]) };
    const since = inputUtc(custom.elements.since.value);
    const until = inputUtc(custom.elements.until.value);
    if (since === null) return { invalid: "Choose when the period starts." };
    if (until !== null && until <= since) return { invalid: "The period must end after it starts." };
    return { since: isoUtc(since), until: until === null ? null : isoUtc(until) };
  }

  async function loadTrail() {
    trailController?.abort();
    replay.stop();
    shown = [];
    const asked = period();
    if (asked.invalid) {
      trailController = null;
      trail.clear();
      replay.load([]);
      setTrailState("error", asked.invalid);
      return;
    }
    const controller = new AbortController();
    trailController = controller;
    setTrailState("loading", "Loading the trail…");
    const id = tracker.id;
    try {
      const body = await fetchTrail(id, { since: asked.since, until: asked.until, signal: controller.signal });
      if (trailController !== controller) return;
      trailController = null;
      if (!body.points.length) {
        trail.clear();
        replay.load([]);
        const location = tracker.latest_location;
        if (location) trail.centre(location.latitude, location.longitude, { coveredBy: root });
        setTrailState("empty", `No reports ${RANGE_WORDS[range]}.`);
        return;
      }
      shown = body.points;
      trail.show(shown, { coveredBy: root });
      replay.load(shown);
      performance.mark("trackerdash:trail"); // drawn on the next frame (bench/scripts/measure_panel.py)
      const drawn = body.simplified
        ? `, simplified to ${plural(body.points.length, "point", "points")}`
        : "";
      setTrailState("drawn", `${plural(body.reports, "report", "reports")} ${RANGE_WORDS[range]}${drawn}.`);
    } catch (error) {
      if (error.name === "AbortError" || trailController !== controller) return;
      trailController = null;
      trail.clear();
      replay.load([]);
      setTrailState("error", `Couldn't load the trail. ${error.message}`);
    }
  }

  async function loadDetails() {
    detailController?.abort();
    const controller = new AbortController();
    detailController = controller;
    const id = tracker.id;
    try {
      const item = await details(id, controller.signal);
      if (detailController !== controller) return;
      detailController = null;
      if (!item) {
        list.replaceChildren(element("p", { textContent: "This tracker is no longer in your view." }));
        return;
      }
      tracker = item;
      renderDetails();
    } catch (error) {
      if (error.name === "AbortError" || detailController !== controller) return;
      detailController = null;
      list.append(element("p", { className: "panel-error", textContent: `Couldn't load its details. ${error.message}` }));
    }
  }

  function setRange(next) {
    range = next;
    for (const button of rangeButtons) button.setAttribute("aria-pressed", String(button.dataset.range === range));
    custom.hidden = range !== "custom";
    if (range === "custom") {
      if (!custom.elements.since.value) custom.elements.since.value = inputValue(Date.now() - RANGES["7d"]);
      custom.elements.since.focus();
      return; // drawn when the form is submitted
    }
    loadTrail();
  }

  for (const button of rangeButtons) button.addEventListener("click", () => setRange(button.dataset.range));
  custom.addEventListener("submit", (event) => {
    event.preventDefault();
    loadTrail();
  });
  root.querySelector("[data-action=close]").addEventListener("click", () => close());
  document.addEventListener("keydown", (event) => {
    // A multi-select's Escape closes only the multi-select (it stops the event there).
    if (event.key === "Escape" && !root.hidden && !event.defaultPrevented) close();
  });

  function close() {
    if (root.hidden) return;
    detailController?.abort();
    trailController?.abort();
    detailController = trailController = null;
    replay.stop();
    trail.clear();
    root.hidden = true;
    delete root.dataset.trail;
    const id = tracker?.id;
    tracker = null;
    onClose?.(id);
    // Back to what opened the panel; a row re-rendered meanwhile is found again by its id.
    const back = opener?.isConnected ? opener : document.querySelector(`.trackers tr[data-id="${id}"]`);
    back?.focus();
    opener = null;
  }

  return {
    /** Shows tracker `item` ({id} at least; a table row is a full item) and draws its trail. */
    open(item, { returnFocus = document.activeElement } = {}) {
      const wasOpen = !root.hidden;
      if (!wasOpen) opener = returnFocus instanceof HTMLElement && returnFocus !== document.body ? returnFocus : null;
      tracker = item.serial === undefined ? { ...item, serial: "…", current_status: "" } : { ...item };
      delete tracker.storage_location_id; // only the detail names them
      root.hidden = false;
      renderDetails();
      loadDetails();
      loadTrail();
      if (!wasOpen) root.focus();
    },
    close,
    /** A live change of the tracker shown: its details in place, and a newer report extends a trail
     * that ends now (24 h, 7 days; a custom range is left as asked). */
    update(item) {
      if (!tracker || item.id !== tracker.id) return;
      tracker = { ...tracker, ...item };
      renderDetails();
      const location = item.latest_location;
      const last = shown.at(-1);
      if (!location || !last || range === "custom" || trailController) return;
      if (Date.parse(location.timestamp) <= Date.parse(last.timestamp)) return;
      const point = { timestamp: location.timestamp, latitude: location.latitude, longitude: location.longitude };
      shown = [...shown, point];
      trail.show(shown, { fit: false });
      replay.append(point);
    },
    isOpen: () => !root.hidden,
    trackerId: () => tracker?.id ?? null,
  };
}
