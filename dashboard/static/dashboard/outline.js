// Land outlines for a map without tiles (offline, a tile server that fails, or MAP_TILE_URL
// empty): Natural Earth's 1:110m land from the world-atlas package (55 KB of TopoJSON, vendored),
// turned into GeoJSON by topojson-client and drawn on its own canvas in a pane under the tiles —
// tiles that do load cover it, and where they fail the land shows — and under the markers.
// Loaded only when needed: map.js imports this module when the first tile fails.

import feature from "../vendor/topojson-client/feature.js";

const PANE = "land-outline";
const STYLE = { color: "#9aa7b4", weight: 1, fillColor: "#f4f2ec", fillOpacity: 1 };
// Through the import map, so the versioned file when DEBUG is off.
const LAND_URL = import.meta.resolve("../vendor/world-atlas/land-110m.json");

/** Adds the land outline under `map`'s tiles; resolves to its layer once drawn. */
export async function addLandOutline(map) {
  const response = await fetch(LAND_URL, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${LAND_URL}: ${response.status}`);
  const topology = await response.json();
  if (!map.getPane(PANE)) {
    const pane = map.createPane(PANE);
    pane.style.zIndex = "150"; // under the tile pane (200), so loaded tiles cover it
    pane.style.pointerEvents = "none";
  }
  const land = feature(topology, topology.objects.land);
  land.features.forEach((part) => (part.geometry = acrossTheAntimeridian(part.geometry)));
  const renderer = L.canvas({ pane: PANE, padding: 0.5 });
  return L.geoJSON(land, { style: STYLE, renderer, interactive: false }).addTo(map);
}

/**
 * Rings that cross the antimeridian (Chukotka, Wrangel Island, Fiji) jump from 180° to -180° and
 * back: drawn as they are, they would streak across the whole map. Such a ring is made
 * continuous (longitudes past 180°) and drawn a second time 360° the other way, so both sides of
 * the antimeridian show it. Antarctica's ring crosses once and closes along the pole: left as is.
 */
function acrossTheAntimeridian(geometry) {
  const polygons = geometry.type === "MultiPolygon" ? geometry.coordinates : [geometry.coordinates];
  const result = [];
  for (const polygon of polygons) {
    let crosses = false;
    const rings = polygon.map((ring) => {
      let shift = 0;
      const continuous = ring.map(([lng, lat], k) => {
        if (k && lng - ring[k - 1][0] > 180) shift -= 360;
        else if (k && ring[k - 1][0] - lng > 180) shift += 360;
        return [lng + shift, lat];
      });
      if (shift !== 0 || continuous.every(([lng], k) => lng === ring[k][0])) return ring;
      crosses = true;
      return continuous;
    });
    result.push(rings);
    if (crosses) {
      const east = rings.some((ring) => ring.some(([lng]) => lng > 180));
      result.push(rings.map((ring) => ring.map(([lng, lat]) => [lng + (east ? -360 : 360), lat])));
    }
  }
  return { type: "MultiPolygon", coordinates: result };
}
