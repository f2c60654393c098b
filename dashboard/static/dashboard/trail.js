// A tracker's trail on the map: its own Leaflet pane above the markers, one canvas renderer, a
// polyline of the trail's points (as the server simplified them: at most `max_points`), its first
// and last points, and the replay marker the panel's slider moves along it. It never touches the
// markers' layer (map.js, points.js): it only needs the Leaflet map.

const PANE = "trail";
const COLOR = "#0f172a";
const FIT_MAX_ZOOM = 15;
const FOCUS_ZOOM = 11;

/** How many pixels of the map's right side `element` covers (the panel, over the map on tablets). */
function coveredRight(map, element) {
  if (!element) return 0;
  const mapBox = map.getContainer().getBoundingClientRect();
  const box = element.getBoundingClientRect();
  const overlapsVertically = box.top < mapBox.bottom && box.bottom > mapBox.top;
  return overlapsVertically ? Math.max(0, Math.min(mapBox.right, box.right) - Math.max(mapBox.left, box.left)) : 0;
}

/**
 * createTrail(map) → {show, clear, moveMarker, centre, markerLatLng, size}.
 * `map` is the Leaflet map (map.js's `leaflet`). `show` and `centre` take `{coveredBy}`: an element
 * over the map whose part the view keeps clear.
 */
export function createTrail(map) {
  const pane = map.createPane(PANE);
  pane.style.zIndex = 450; // above the markers' overlay pane (400), under popups and tooltips
  pane.style.pointerEvents = "none"; // clicks go to the markers under the trail
  const renderer = L.canvas({ pane: PANE, padding: 0.5 });
  const style = { pane: PANE, renderer, interactive: false };
  const group = L.layerGroup().addTo(map);
  const line = L.polyline([], { ...style, color: COLOR, weight: 3, opacity: 0.85, lineJoin: "round" });
  const start = L.circleMarker([0, 0], { ...style, radius: 4, color: COLOR, weight: 2, fillColor: "#fff", fillOpacity: 1 });
  const end = L.circleMarker([0, 0], { ...style, radius: 4, color: COLOR, weight: 2, fillColor: COLOR, fillOpacity: 1 });
  const marker = L.circleMarker([0, 0], {
    ...style,
    radius: 8,
    color: "#fff",
    weight: 3,
    fillColor: "#f59e0b",
    fillOpacity: 1,
  });
  let count = 0;

  return {
    /** Draws `points` ([{latitude, longitude}], time-ordered) and fits the map to them. */
    show(points, { fit = true, coveredBy = null } = {}) {
      const latLngs = points.map((point) => [point.latitude, point.longitude]);
      const replaying = fit ? false : group.hasLayer(marker); // a redraw keeps the replay where it is
      count = latLngs.length;
      group.clearLayers();
      if (!count) return;
      line.setLatLngs(latLngs);
      start.setLatLng(latLngs[0]);
      end.setLatLng(latLngs[count - 1]);
      if (!replaying) marker.setLatLng(latLngs[count - 1]);
      group.addLayer(line).addLayer(start).addLayer(end).addLayer(marker);
      if (!fit) return;
      const bounds = line.getBounds();
      if (bounds.getNorthEast().equals(bounds.getSouthWest())) {
        this.centre(bounds.getCenter().lat, bounds.getCenter().lng, { coveredBy });
        return;
      }
      const covered = coveredRight(map, coveredBy);
      map.fitBounds(bounds, {
        paddingTopLeft: [32, 32],
        paddingBottomRight: [32 + covered, 32],
        maxZoom: FIT_MAX_ZOOM,
        animate: false,
      });
    },
    clear() {
      count = 0;
      group.clearLayers();
    },
    /** The replay marker at a position along the trail. */
    moveMarker(latitude, longitude) {
      marker.setLatLng([latitude, longitude]);
    },
    /** Centres the map on a tracker without a trail in the period (its latest location). */
    centre(latitude, longitude, { coveredBy = null } = {}) {
      map.setView([latitude, longitude], Math.max(map.getZoom(), FOCUS_ZOOM), { animate: false });
      const covered = coveredRight(map, coveredBy);
      if (covered) map.panBy([covered / 2, 0], { animate: false });
    },
    markerLatLng() {
      return count ? marker.getLatLng() : null;
    },
    size() {
      return count;
    },
  };
}
