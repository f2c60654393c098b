// The map: Leaflet (a classic script, global L) with canvas circle markers coloured by status,
// drawn from the positions feed (id, coordinates, status and time of each tracker's latest
// location) as one points layer that clusters what would overlap (points.js); a click on a
// cluster zooms to where it splits. One shared popup asks for a tracker's details when it opens.
// Without tiles (MAP_TILE_URL empty, or the first tile fails) land outlines are drawn instead.

import { element } from "./dom.js";
import { battery, exactTime, formatCount, relativeTime } from "./format.js";
import { CLUSTER_MAX_ZOOM, PointsLayer } from "./points.js";

export const STATUS_COLORS = {
  in_storage: "#6b7280",
  in_transit: "#2563eb",
  delivered: "#16a34a",
  returned: "#d97706",
  lost: "#dc2626",
};
// From the least to the most severe: a cluster takes the colour of its worst, and single points
// are drawn in this order (the worst on top).
export const STATUS_SEVERITY = ["delivered", "in_storage", "in_transit", "returned", "lost"];
const FALLBACK_COLOR = "#7c3aed";
const FOCUS_ZOOM = 11;
// With tiles, as deep as OpenStreetMap's; without, no deeper than the clusters need to split.
const TILE_MAX_ZOOM = 19;
const BARE_MAX_ZOOM = 18;

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
 *   {setPositions, updatePosition, removePosition, clear, setUnplaced, fit, focus, highlight,
 *    rendered, setOverlay, leaflet}.
 * `details(id, signal)` resolves to a tracker item (null when it is gone) for its popup;
 * `describe(tracker)` names its brand, run and status. With `select(id)`, a marker click calls it
 * (the tracker panel) instead of opening the popup.
 */
export function createMap(container, { tileUrl, statuses, describe, details, select = null }) {
  const mapElement = container.querySelector(".map");
  const map = L.map(mapElement, {
    preferCanvas: true,
    worldCopyJump: true,
    keyboard: true,
    maxZoom: tileUrl ? TILE_MAX_ZOOM : BARE_MAX_ZOOM,
  }).setView([30, 0], 2);

  // Land outlines when there are no tiles to show: at once without a tile URL, else after the
  // first tile that fails (offline, the tile server down); tiles that load cover them.
  let outline = null;
  function showOutline() {
    outline ??= import("./outline.js")
      .then(({ addLandOutline }) => addLandOutline(map))
      .then(
        (layer) => {
          mapElement.dataset.outline = "drawn";
          return layer;
        },
        (error) => {
          mapElement.dataset.outline = "failed";
          console.warn("The land outline could not be drawn:", error);
        },
      );
    return outline;
  }
  if (tileUrl) {
    L.tileLayer(tileUrl, {
      maxZoom: TILE_MAX_ZOOM,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    })
      .once("tileerror", showOutline)
      .addTo(map);
  } else {
    showOutline();
  }

  const points = new PointsLayer({
    renderer: L.canvas({ padding: 0.5 }),
    colorOf: (status) => STATUS_COLORS[status] || FALLBACK_COLOR,
    severity: STATUS_SEVERITY,
  }).addTo(map);
  const overlay = container.querySelector(".map-overlay");

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
      element("div", {
        className: "legend-clusters",
        textContent: "Cluster: worst status inside, a ring of all",
      }),
      unplacedText,
    ]);
  legend.addTo(map);

  // One popup for the map: the marker's details are fetched when it opens, and an answer for a
  // popup the user has since closed or moved on from is dropped (its request aborted).
  const popup = L.popup({ autoPanPadding: [24, 24] });
  let popupController = null;
  // The tracker of the open popup is drawn on top of everything, clusters included; so is the
  // one `highlight(id)` names (the popup's wins while it is open).
  let popupTracker = null;
  let highlighted = null;
  const showHighlight = () => points.highlight(popupTracker ?? highlighted);
  map.on("popupclose", () => {
    popupController?.abort();
    popupController = null;
    popupTracker = null;
    showHighlight();
  });

  function openPopup(trackerId) {
    popupController?.abort();
    const controller = new AbortController();
    popupController = controller;
    popupTracker = trackerId;
    showHighlight();
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

  // A cluster zooms in to where it splits; one that no zoom splits (trackers at one spot)
  // spreads its trackers around it instead. A click elsewhere folds a spread cluster back.
  let handledClick = null;
  function openCluster({ id, latitude, longitude }) {
    const zoom = points.expansionZoom(id);
    if (zoom <= CLUSTER_MAX_ZOOM && zoom <= map.getMaxZoom()) {
      map.setView([latitude, longitude], zoom);
    } else {
      points.spread(id);
    }
  }
  function openHit() {
    if (points.hitCluster) openCluster(points.hitCluster);
    else if (points.hit !== null && select) select(points.hit);
    else if (points.hit !== null) openPopup(points.hit);
  }
  points.on("click", (event) => {
    handledClick = event.originalEvent;
    openHit();
  });
  // From the keyboard (the map has focus: arrow keys pan, + and - zoom), Enter opens what is at
  // the map's centre, as a click would: a cluster zooms in or spreads, a marker opens.
  mapElement.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.target !== mapElement) return;
    if (points.pick(map.latLngToLayerPoint(map.getCenter()), 12)) {
      event.preventDefault();
      openHit();
    }
  });
  map.on("click", (event) => {
    if (event.originalEvent !== handledClick) points.collapse();
  });

  function updateCount() {
    mapElement.dataset.markerCount = String(points.size());
  }
  updateCount();

  function clear() {
    map.closePopup();
    highlighted = null;
    points.highlight(null);
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
    /** Draws a tracker above everything (its marker ringed, even inside a cluster); null clears it. */
    highlight(trackerId) {
      highlighted = trackerId !== null && points.has(trackerId) ? trackerId : null;
      showHighlight();
    },
    /** What the map draws now: `{zoom, clusters: [{count, worst, statuses, …}], points, spread}`. */
    rendered() {
      return points.rendered();
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
