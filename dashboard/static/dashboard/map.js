// The map: Leaflet (a classic script, global L) with canvas circle markers coloured by status.
// Canvas keeps thousands of markers smooth; popups are built only when opened.

import { element } from "./dom.js";
import { battery, exactTime, formatCount, relativeTime } from "./format.js";

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

/**
 * createMap(container, {tileUrl, statuses, describe}) → {clear, add, fit, focus, setOverlay}.
 * `describe(tracker)` names its brand, run and status for the popup.
 */
export function createMap(container, { tileUrl, statuses, describe }) {
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
  const renderer = L.canvas({ padding: 0.5 });
  const layer = L.featureGroup().addTo(map);
  const markers = new Map(); // tracker id → marker
  const overlay = container.querySelector(".map-overlay");
  const mapElement = container.querySelector(".map");

  const legend = L.control({ position: "bottomright" });
  const unplaced = element("div", { className: "legend-unplaced" });
  legend.onAdd = () =>
    element("div", { className: "legend" }, [
      element("strong", { textContent: "Status" }),
      ...statuses.map((status) =>
        element("div", {}, [
          element("span", { className: `swatch status-${status.value}` }),
          element("span", { textContent: status.label }),
        ]),
      ),
      unplaced,
    ]);
  legend.addTo(map);

  let withoutLocation = 0;

  function updateCounts() {
    mapElement.dataset.markerCount = String(markers.size);
    unplaced.textContent = withoutLocation ? `${formatCount(withoutLocation)} not on the map (no location yet)` : "";
  }
  updateCounts();

  return {
    leaflet: map,
    clear() {
      map.closePopup();
      layer.clearLayers();
      markers.clear();
      withoutLocation = 0;
      updateCounts();
    },
    add(trackers) {
      for (const tracker of trackers) {
        const location = tracker.latest_location;
        if (!location || markers.has(tracker.id)) {
          if (!location) withoutLocation += 1;
          continue;
        }
        const color = STATUS_COLORS[tracker.current_status] || FALLBACK_COLOR;
        const marker = L.circleMarker([location.latitude, location.longitude], {
          renderer,
          radius: 6,
          weight: 1,
          color: "#ffffff",
          fillColor: color,
          fillOpacity: 0.9,
        });
        marker.bindPopup(() => popupContent(tracker, describe), { autoPanPadding: [24, 24] });
        markers.set(tracker.id, marker);
        layer.addLayer(marker);
      }
      updateCounts();
    },
    fit() {
      if (!markers.size) return;
      map.fitBounds(layer.getBounds(), { padding: [24, 24], maxZoom: FOCUS_ZOOM, animate: false });
    },
    /** Centres the map on a tracker and opens its popup; false when it has no location. */
    focus(trackerId) {
      const marker = markers.get(trackerId);
      if (!marker) return false;
      map.setView(marker.getLatLng(), Math.max(map.getZoom(), FOCUS_ZOOM), { animate: false });
      marker.openPopup();
      return true;
    },
    /** A message over the map (the lazy empty state, no results); null removes it. */
    setOverlay(content) {
      overlay.hidden = !content;
      overlay.replaceChildren(...(content ? [].concat(content) : []));
    },
  };
}
