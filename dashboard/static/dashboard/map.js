// The map: Leaflet (a classic script, global L) with canvas circle markers coloured by status,
// drawn from the positions feed (id, coordinates, status and time of each tracker's latest
// location) as one points layer. One shared popup asks for a tracker's details when it opens.

import { element } from "./dom.js";
import { battery, exactTime, formatCount, relativeTime } from "./format.js";
import { PointsLayer } from "./points.js";

export const STATUS_COLORS = {
  in_storage: "#6b7280",
  in_transit: "#2563eb",
  delivered: "#16a34a",
  returned: "#d97706",
  lost: "#dc2626",
};
const FALLBACK_COLOR = "#7c3aed";
const FOCUS_ZOOM = 11;

function popupContent(tracker, describe) {
  const { brand, run, status } = describe(tracker);
  const location = tracker.latest_location;
  const rows = [
    ["Brand", brand],
    ["Run", run],
    ["Status", status],
    ["Last report", relativeTime(tracker.last_report_received), exactTime(tracker.last_report_received)],
    ["Battery", battery(tracker.battery_level)],
    ["Nearest city", location?.nearest_city || "—"],
  ];
  return element("div", { className: "popup" }, [
    element("strong", { className: "popup-serial", textContent: tracker.serial }),
    element("div", { className: "popup-name", textContent: tracker.name || "" }),
    element(
      "dl",
      {},
      rows.flatMap(([term, value, title = ""]) => [
        element("dt", { textContent: term }),
        element("dd", { textContent: value, title }),
      ]),
    ),
  ]);
}

function popupMessage(text) {
  return element("div", { className: "popup popup-message", textContent: text });
}

/**
 * createMap(container, {tileUrl, statuses, describe, details}) →
 *   {setPositions, updatePosition, clear, setUnplaced, fit, focus, setOverlay, leaflet}.
 * `details(id, signal)` resolves to a tracker item (null when it is gone) for its popup;
 * `describe(tracker)` names its brand, run and status. With `select(id)`, a marker click calls it
 * (the tracker panel) instead of opening the popup.
 */
export function createMap(container, { tileUrl, statuses, describe, details, select = null }) {
  const map = L.map(container.querySelector(".map"), {
    preferCanvas: true,
    worldCopyJump: true,
    keyboard: true,
  }).setView([30, 0], 2);
  if (tileUrl) {
    L.tileLayer(tileUrl, {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    }).addTo(map);
  }
  const points = new PointsLayer({
    renderer: L.canvas({ padding: 0.5 }),
    colorOf: (status) => STATUS_COLORS[status] || FALLBACK_COLOR,
  }).addTo(map);
  const overlay = container.querySelector(".map-overlay");
  const mapElement = container.querySelector(".map");

  const legend = L.control({ position: "bottomright" });
  const unplacedText = element("div", { className: "legend-unplaced" });
  legend.onAdd = () =>
    element("div", { className: "legend" }, [
      element("strong", { textContent: "Status" }),
      ...statuses.map((status) =>
        element("div", {}, [
          element("span", { className: `swatch status-${status.value}` }),
          element("span", { textContent: status.label }),
        ]),
      ),
      unplacedText,
    ]);
  legend.addTo(map);

  // One popup for the map: the marker's details are fetched when it opens, and an answer for a
  // popup the user has since closed or moved on from is dropped (its request aborted).
  const popup = L.popup({ autoPanPadding: [24, 24] });
  let popupController = null;
  map.on("popupclose", () => {
    popupController?.abort();
    popupController = null;
  });

  function openPopup(trackerId) {
    popupController?.abort();
    const controller = new AbortController();
    popupController = controller;
    popup.setLatLng(points.latLngOf(trackerId)).setContent(popupMessage("Loading…")).openOn(map);
    details(trackerId, controller.signal).then(
      (tracker) => {
        if (controller.signal.aborted) return;
        popup.setContent(
          tracker ? popupContent(tracker, describe) : popupMessage("This tracker is no longer in your view."),
        );
      },
      (error) => {
        if (controller.signal.aborted || error.name === "AbortError") return;
        popup.setContent(popupMessage(`Couldn't load this tracker. ${error.message}`));
      },
    );
  }
  points.on("click", () => (select ? select(points.hit) : openPopup(points.hit)));

  function updateCount() {
    mapElement.dataset.markerCount = String(points.size());
  }
  updateCount();

  function clear() {
    map.closePopup();
    points.setPoints({ id: [], latitude: [], longitude: [], status: [], timestamp: [] });
    updateCount();
  }

  return {
    leaflet: map,
    clear,
    /** Replaces every marker with the positions feed's columns; returns how many are drawn. */
    setPositions(columns) {
      map.closePopup();
      points.setPoints(columns);
      updateCount();
      return points.size();
    },
    /** One tracker's new position (a live update); an older one than shown is ignored. */
    updatePosition(id, { latitude, longitude, status, timestamp }) {
      const shown = points.timestampOf(id);
      if (shown && timestamp && Date.parse(timestamp) < Date.parse(shown)) return;
      points.setPoint(id, latitude, longitude, status, timestamp);
      updateCount();
    },
    /** A tracker that no longer matches the filters (a live `removed`). */
    removePosition(id) {
      points.removePoint(id);
      updateCount();
    },
    /** How many of the matching trackers have no location (so are not on the map). */
    setUnplaced(count) {
      unplacedText.textContent = count ? `${formatCount(count)} not on the map (no location yet)` : "";
    },
    fit() {
      if (!points.size()) return;
      map.fitBounds(points.getBounds(), { padding: [24, 24], maxZoom: FOCUS_ZOOM, animate: false });
    },
    /** Centres the map on a tracker and opens its popup; false when it has no marker. */
    focus(trackerId) {
      if (!points.has(trackerId)) return false;
      map.setView(points.latLngOf(trackerId), Math.max(map.getZoom(), FOCUS_ZOOM), { animate: false });
      openPopup(trackerId);
      return true;
    },
    /** A message over the map (the lazy empty state, no results); null removes it. */
    setOverlay(content) {
      overlay.hidden = !content;
      overlay.replaceChildren(...(content ? [].concat(content) : []));
    },
  };
}
