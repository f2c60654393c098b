// Every marker of the map as ONE Leaflet layer on a canvas renderer, clustered by supercluster:
// where markers would overlap at the current zoom, one cluster with its count is drawn instead.
// One L.circleMarker per tracker costs ~60 µs to add and as much to paint (15,000 took ~0.9 s to
// add and ~1.3 s to the first painted frame); this layer projects and paints in one pass.
//
// Readable statuses: a cluster is filled with the worst status among its trackers and ringed by
// one arc per status it holds (each at least a visible sliver, so one lost tracker among a
// thousand delivered ones still shows); single points are painted in order of severity, the
// worst last, so a "lost" point is never hidden under a "delivered" one. Trackers at one spot
// (a depot) that no zoom separates spread into a circle around it when their cluster is clicked.
//
// It speaks the protocol Leaflet's canvas renderer has with its paths (`_project`, `_update`,
// `_updatePath`, `_containsPoint`, `_empty`, `_pxBounds`): private API of Leaflet 1.9, which
// the pinned django-leaflet serves. The renderer then does what it does for any path: padding,
// zoom animation, redraw on move, click and hover events (pointer cursor included). Clusters are
// computed once per zoom level for the whole world (`_project`), so a pan step only repaints.

import Supercluster from "../vendor/supercluster/index.js";

const TAU = Math.PI * 2;
// Supercluster clusters up to this zoom; beyond it every point is drawn (trackers a few metres
// apart are separated by then), and a cluster that has not split by then spreads when clicked.
export const CLUSTER_MAX_ZOOM = 16;
// Markers closer than this (in screen pixels) are clustered: far enough that clusters (at most
// 22 px in radius, placed at their trackers' centroid) seldom overlap each other.
const CLUSTER_RADIUS = 50;
const RING_WIDTH = 4;
const MIN_ARC = TAU * 0.06; // the smallest arc a status present in a cluster gets
const SPREAD_LIMIT = 200; // trackers a clicked depot spreads into (the rest stay in its count)
const WHOLE_WORLD = [-180, -90, 180, 90];

/** A cluster's radius in pixels, by its count: 13 for a pair, 15 for ten, up to 22. */
export function clusterRadius(count) {
  return Math.min(22, 12 + Math.round(3 * Math.log10(count)));
}

function abbreviate(count) {
  if (count >= 10000) return `${Math.round(count / 1000)}k`;
  if (count >= 1000) return `${(Math.round(count / 100) / 10).toString()}k`;
  return String(count);
}

export const PointsLayer = L.Path.extend({
  options: { radius: 6, weight: 1, color: "#ffffff", opacity: 1, fill: true, fillOpacity: 0.9, interactive: true },

  /**
   * `colorOf(status)` → the fill colour of a point; `severity`: the statuses from the least to
   * the most severe (an unknown status ranks below all of them).
   */
  initialize(options) {
    L.setOptions(this, options);
    this._severity = options.severity || [];
    this._ranks = this._severity.length + 1; // rank 0: a status the list doesn't name
    this._rankColors = [this.options.colorOf(null), ...this._severity.map((status) => this.options.colorOf(status))];
    this._ids = [];
    this._latitudes = [];
    this._longitudes = [];
    this._statuses = [];
    this._timestamps = [];
    this._index = new Map(); // id → position in the arrays
    this._clusters = null; // the Supercluster index of the current points, null when stale
    this._items = { zoom: null, points: new Int32Array(0), x: new Float64Array(0), y: new Float64Array(0), clusters: [] };
    this._spread = null; // {clusterId, zoom, positions, x, y, centreX, centreY}: a depot spread out
    this._highlighted = null; // id drawn above everything with a ring
    this._rebuildTimer = null;
    this.hit = null; // id of the point under the pointer at the last hit test
    this.hitCluster = null; // or the cluster there: {id, count, latitude, longitude}
  },

  /** Replaces every point: parallel arrays, as the positions feed sends them. */
  setPoints({ id, latitude, longitude, status, timestamp }) {
    this._ids = id.slice();
    this._latitudes = latitude.slice();
    this._longitudes = longitude.slice();
    this._statuses = status.slice();
    this._timestamps = timestamp.slice();
    this._index = new Map(this._ids.map((value, position) => [value, position]));
    this._invalidate();
    return this.redraw();
  },

  /** Adds or moves one point (a live update: the clusters follow within a second). */
  setPoint(id, latitude, longitude, status, timestamp) {
    let position = this._index.get(id);
    if (position === undefined) {
      position = this._ids.push(id) - 1;
      this._index.set(id, position);
    }
    this._latitudes[position] = latitude;
    this._longitudes[position] = longitude;
    this._statuses[position] = status;
    this._timestamps[position] = timestamp;
    this._scheduleRebuild();
    return this._redrawSoon();
  },

  /**
   * Removes one point (a live `removed`); unknown ids are ignored. Its place stays empty (a
   * null id) until the next rebuild, so the clusters drawn meanwhile still point at the right
   * trackers.
   */
  removePoint(id) {
    const position = this._index.get(id);
    if (position === undefined) return this;
    this._ids[position] = null;
    this._index.delete(id);
    if (this._highlighted === id) {
      this._highlighted = null;
      this._highlightPoint = null;
    }
    this._scheduleRebuild();
    return this._redrawSoon();
  },

  // (A method, not a getter: L.Class.extend copies properties by value.)
  size() {
    return this._index.size;
  },

  has(id) {
    return this._index.has(id);
  },

  timestampOf(id) {
    const position = this._index.get(id);
    return position === undefined ? null : this._timestamps[position];
  },

  latLngOf(id) {
    const position = this._index.get(id);
    return position === undefined ? null : L.latLng(this._latitudes[position], this._longitudes[position]);
  },

  getBounds() {
    const bounds = L.latLngBounds([]);
    for (let i = 0; i < this._ids.length; i += 1) {
      if (this._ids[i] !== null) bounds.extend([this._latitudes[i], this._longitudes[i]]);
    }
    return bounds;
  },

  /** Draws one tracker above everything, ringed, even inside a cluster; null clears it. */
  highlight(id) {
    this._highlighted = id === null || this._index.has(id) ? id : null;
    return this.redraw();
  },

  /** The zoom at which a cluster splits (above the clustering's last zoom: it never does). */
  expansionZoom(clusterId) {
    return this._clusterIndex().getClusterExpansionZoom(clusterId);
  },

  /** Spreads a cluster's trackers in a circle around it (for trackers no zoom separates). */
  spread(clusterId) {
    const leaves = this._clusterIndex().getLeaves(clusterId, SPREAD_LIMIT);
    this._spread = { clusterId, zoom: this._zoomLevel(), positions: leaves.map((leaf) => leaf.properties.i) };
    return this.redraw();
  },

  /** Folds a spread cluster back; true when there was one. */
  collapse() {
    if (!this._spread) return false;
    this._spread = null;
    this.redraw();
    return true;
  },

  /** What is drawn now: the clusters (count, worst status, per-status counts) and single points. */
  rendered() {
    const clusters = this._items.clusters.map((cluster) => ({
      id: cluster.id,
      count: cluster.count,
      worst: this._severity[cluster.worst - 1] ?? null,
      statuses: Object.fromEntries(
        cluster.counts.flatMap((n, rank) => (n && rank ? [[this._severity[rank - 1], n]] : [])),
      ),
      latitude: cluster.latitude,
      longitude: cluster.longitude,
    }));
    const points = Array.from(this._items.points, (position) => this._ids[position]).filter((id) => id !== null);
    // Spread trackers with where they are drawn (container pixels: where a click opens them).
    const spread = [];
    if (this._spread?.x) {
      this._spread.positions.forEach((position, k) => {
        const { x, y } = this._map.layerPointToContainerPoint([this._spread.x[k], this._spread.y[k]]);
        if (this._ids[position] !== null) spread.push({ id: this._ids[position], x, y });
      });
    }
    return { zoom: this._items.zoom, clusters, points, spread, highlighted: this._highlighted };
  },

  // --- Clustering -----------------------------------------------------------------------

  _rankOf(status) {
    return this._severity.indexOf(status) + 1;
  },

  _invalidate() {
    clearTimeout(this._rebuildTimer);
    this._rebuildTimer = null; // a rebuild already waiting for an idle moment sees it is void
    this._clusters = null;
    this._spread = null;
  },

  /** One redraw in the next frame for any number of live changes before it. */
  _redrawSoon() {
    if (!this._redrawRequest) {
      this._redrawRequest = L.Util.requestAnimFrame(() => {
        this._redrawRequest = null;
        this.redraw();
      });
    }
    return this;
  },

  // Live changes arrive one tracker at a time, and rebuilding the index takes ~40–140 ms at
  // 15,000 on a busy 2-core machine: at most one rebuild a second, however many changes come
  // in meanwhile, when the browser is idle and never in the middle of a drag or a zoom.
  _scheduleRebuild(delay = 1000) {
    if (this._rebuildTimer) return;
    const timer = setTimeout(() => {
      const idle = window.requestIdleCallback || ((callback) => callback());
      idle(
        () => {
          if (this._rebuildTimer !== timer) return; // setPoints replaced everything meanwhile
          this._rebuildTimer = null;
          const map = this._map;
          if (map && (map._animatingZoom || map.dragging?._draggable?._moving)) {
            this._scheduleRebuild(250);
            return;
          }
          this._compact();
          this._invalidate();
          this.redraw();
        },
        { timeout: 1000 },
      );
    }, delay);
    this._rebuildTimer = timer;
  },

  /** Drops the places of removed points (before a rebuild: positions change). */
  _compact() {
    if (this._index.size === this._ids.length) return;
    const keep = [];
    for (let i = 0; i < this._ids.length; i += 1) if (this._ids[i] !== null) keep.push(i);
    for (const name of ["_ids", "_latitudes", "_longitudes", "_statuses", "_timestamps"]) {
      const column = this[name];
      this[name] = keep.map((i) => column[i]);
    }
    this._index = new Map(this._ids.map((value, position) => [value, position]));
  },

  _zoomLevel() {
    return this._map ? Math.round(this._map.getZoom()) : 0;
  },

  _clusterIndex() {
    if (!this._clusters) {
      const ranks = this._ranks;
      const features = [];
      for (let i = 0; i < this._ids.length; i += 1) {
        if (this._ids[i] === null) continue;
        features.push({
          type: "Feature",
          properties: { i, r: this._rankOf(this._statuses[i]) },
          geometry: { type: "Point", coordinates: [this._longitudes[i], this._latitudes[i]] },
        });
      }
      this._clusters = new Supercluster({
        maxZoom: CLUSTER_MAX_ZOOM,
        radius: CLUSTER_RADIUS,
        extent: 256, // Leaflet's tiles: the radius is in screen pixels
        // Each cluster counts its trackers per status rank: `counts[rank]`.
        map: (properties) => {
          const counts = new Array(ranks).fill(0);
          counts[properties.r] = 1;
          return { counts };
        },
        reduce: (accumulated, properties) => {
          // The first child's counts are copied shallowly: never add into a shared array.
          accumulated.counts = accumulated.counts.map((n, rank) => n + properties.counts[rank]);
        },
      }).load(features);
    }
    return this._clusters;
  },

  /** The clusters and single points at the current zoom, in drawing order (worst last). */
  _collect() {
    const zoom = this._zoomLevel();
    if (this._spread && this._spread.zoom !== zoom) this._spread = null;
    const spreadId = this._spread?.clusterId;
    const byRank = Array.from({ length: this._ranks }, () => []);
    const clusters = [];
    if (zoom > CLUSTER_MAX_ZOOM) {
      for (let i = 0; i < this._ids.length; i += 1) {
        if (this._ids[i] !== null) byRank[this._rankOf(this._statuses[i])].push(i);
      }
    } else {
      for (const feature of this._clusterIndex().getClusters(WHOLE_WORLD, zoom)) {
        const { properties } = feature;
        if (!properties.cluster) {
          byRank[properties.r].push(properties.i);
          continue;
        }
        if (properties.cluster_id === spreadId) continue; // drawn as its spread points
        const { counts } = properties;
        let worst = 0;
        for (let rank = 0; rank < counts.length; rank += 1) if (counts[rank]) worst = rank;
        const [longitude, latitude] = feature.geometry.coordinates;
        clusters.push({ id: properties.cluster_id, count: properties.point_count, counts, worst, latitude, longitude });
      }
    }
    clusters.sort((a, b) => a.worst - b.worst || a.count - b.count);
    const points = Int32Array.from(byRank.flat());
    return { zoom, points, clusters };
  },

  // --- The renderer's protocol ---------------------------------------------------------

  _project() {
    const map = this._map;
    const items = this._collect();
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const extend = (x, y, reach) => {
      if (x - reach < minX) minX = x - reach;
      if (x + reach > maxX) maxX = x + reach;
      if (y - reach < minY) minY = y - reach;
      if (y + reach > maxY) maxY = y + reach;
    };
    const count = items.points.length;
    items.x = new Float64Array(count);
    items.y = new Float64Array(count);
    const reach = this.options.radius + this.options.weight;
    for (let k = 0; k < count; k += 1) {
      const i = items.points[k];
      const point = map.latLngToLayerPoint([this._latitudes[i], this._longitudes[i]]);
      items.x[k] = point.x;
      items.y[k] = point.y;
      extend(point.x, point.y, reach);
    }
    for (const cluster of items.clusters) {
      const point = map.latLngToLayerPoint([cluster.latitude, cluster.longitude]);
      cluster.x = point.x;
      cluster.y = point.y;
      cluster.radius = clusterRadius(cluster.count);
      extend(point.x, point.y, cluster.radius + 1);
    }
    if (this._spread) {
      this._layOutSpread(map);
      extend(this._spread.centreX, this._spread.centreY, this._spread.reach + reach);
    }
    this._highlightPoint = null;
    if (this._highlighted !== null && this._index.has(this._highlighted)) {
      const point = map.latLngToLayerPoint(this.latLngOf(this._highlighted));
      this._highlightPoint = point;
      extend(point.x, point.y, reach + 4);
    }
    this._items = items;
    this._pxBounds = Number.isFinite(minX) ? L.bounds([minX, minY], [maxX, maxY]) : undefined;
  },

  /** The spread points on a circle (a spiral past a dozen) around the cluster's centre. */
  _layOutSpread(map) {
    const spread = this._spread;
    const { positions } = spread;
    let x = 0;
    let y = 0;
    for (const i of positions) {
      x += this._longitudes[i];
      y += this._latitudes[i];
    }
    const centre = map.latLngToLayerPoint([y / positions.length, x / positions.length]);
    spread.centreX = centre.x;
    spread.centreY = centre.y;
    spread.x = new Float64Array(positions.length);
    spread.y = new Float64Array(positions.length);
    const gap = (this.options.radius + this.options.weight) * 2 + 2;
    let reach = 0;
    if (positions.length <= 12) {
      const radius = Math.max(gap * 1.5, (gap * positions.length) / TAU);
      positions.forEach((_, k) => {
        const angle = (k / positions.length) * TAU - Math.PI / 2;
        spread.x[k] = centre.x + radius * Math.cos(angle);
        spread.y[k] = centre.y + radius * Math.sin(angle);
      });
      reach = radius;
    } else {
      let angle = 0;
      let radius = gap * 1.5;
      positions.forEach((_, k) => {
        spread.x[k] = centre.x + radius * Math.cos(angle);
        spread.y[k] = centre.y + radius * Math.sin(angle);
        angle += gap / radius;
        radius += (gap * gap) / (TAU * radius);
      });
      reach = radius;
    }
    spread.reach = reach;
  },

  _update() {
    if (this._map) this._updatePath();
  },

  _empty() {
    return !this._index.size;
  },

  /** One marker of a colour, drawn once: stamping a bitmap rasterises faster than 15,000 arcs. */
  _sprite(fill) {
    this._sprites = this._sprites || new Map();
    let sprite = this._sprites.get(fill);
    if (!sprite) {
      const { radius, weight, color, opacity, fillOpacity } = this.options;
      const scale = window.devicePixelRatio || 1;
      const size = Math.ceil((radius + weight) * 2 + 2);
      sprite = document.createElement("canvas");
      sprite.width = sprite.height = size * scale;
      sprite.size = size;
      const ctx = sprite.getContext("2d");
      ctx.scale(scale, scale);
      ctx.beginPath();
      ctx.arc(size / 2, size / 2, radius, 0, TAU);
      ctx.globalAlpha = fillOpacity;
      ctx.fillStyle = fill;
      ctx.fill();
      ctx.globalAlpha = opacity;
      ctx.lineWidth = weight;
      ctx.strokeStyle = color;
      ctx.stroke();
      this._sprites.set(fill, sprite);
    }
    return sprite;
  },

  _stamp(ctx, status, x, y) {
    const sprite = this._sprite(this.options.colorOf(status));
    const half = sprite.size / 2;
    ctx.drawImage(sprite, x - half, y - half, sprite.size, sprite.size);
  },

  /** A cluster: filled with its worst status, one arc per status around it (its count: later). */
  _drawCluster(ctx, cluster) {
    const { x, y, radius, counts, count } = cluster;
    const present = counts.filter((n) => n > 0).length;
    const spare = TAU - MIN_ARC * present;
    let angle = -Math.PI / 2;
    ctx.lineWidth = RING_WIDTH;
    // The most severe status first, from twelve o'clock clockwise.
    for (let rank = counts.length - 1; rank >= 0; rank -= 1) {
      if (!counts[rank]) continue;
      const arc = MIN_ARC + (spare * counts[rank]) / count;
      ctx.beginPath();
      ctx.arc(x, y, radius - RING_WIDTH / 2, angle, angle + arc);
      ctx.strokeStyle = this._rankColors[rank];
      ctx.stroke();
      angle += arc;
    }
    ctx.beginPath();
    ctx.arc(x, y, radius - RING_WIDTH - 1, 0, TAU);
    ctx.fillStyle = this._rankColors[cluster.worst];
    ctx.fill();
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, TAU);
    ctx.lineWidth = 1;
    ctx.strokeStyle = this.options.color;
    ctx.stroke();
  },

  /** Paints what `_project` collected inside the renderer's bounds, the worst last. */
  _updatePath() {
    const renderer = this._renderer;
    if (!renderer._drawing || this._empty()) return;
    const { min, max } = renderer._bounds;
    const outside = (x, y, reach) => x < min.x - reach || x > max.x + reach || y < min.y - reach || y > max.y + reach;
    const ctx = renderer._ctx;
    const items = this._items;
    const reach = this.options.radius + this.options.weight;
    // Trackers at one place cover each other: a stamp that would land on the same pixel as the
    // one drawn there last, in the same colour, would change nothing.
    const lastAt = new Map(); // pixel → status stamped there last
    for (let k = 0; k < items.points.length; k += 1) {
      const x = items.x[k];
      const y = items.y[k];
      if (outside(x, y, reach) || this._ids[items.points[k]] === null) continue;
      const status = this._statuses[items.points[k]];
      const pixel = Math.round(x) * 65536 + Math.round(y);
      if (lastAt.get(pixel) === status) continue;
      lastAt.set(pixel, status);
      this._stamp(ctx, status, x, y);
    }
    ctx.save();
    ctx.font = "bold 11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const shown = items.clusters.filter((cluster) => !outside(cluster.x, cluster.y, cluster.radius));
    for (const cluster of shown) this._drawCluster(ctx, cluster);
    // The counts after every cluster: where two clusters touch, neither count is covered.
    ctx.fillStyle = "#ffffff";
    for (const cluster of shown) ctx.fillText(abbreviate(cluster.count), cluster.x, cluster.y + 0.5);
    ctx.restore();
    if (this._spread) this._drawSpread(ctx);
    if (this._highlightPoint) {
      const { x, y } = this._highlightPoint;
      ctx.save();
      ctx.beginPath();
      ctx.arc(x, y, this.options.radius + 3, 0, TAU);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#111827";
      ctx.stroke();
      ctx.restore();
      this._stamp(ctx, this._statuses[this._index.get(this._highlighted)], x, y);
    }
  },

  _drawSpread(ctx) {
    const { positions, x, y, centreX, centreY } = this._spread;
    ctx.save();
    ctx.beginPath();
    for (let k = 0; k < positions.length; k += 1) {
      ctx.moveTo(centreX, centreY);
      ctx.lineTo(x[k], y[k]);
    }
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(17, 24, 39, 0.55)";
    ctx.stroke();
    ctx.restore();
    // Drawn in order of severity, as single points are.
    const order = positions.map((position, k) => k);
    order.sort((a, b) => this._rankOf(this._statuses[positions[a]]) - this._rankOf(this._statuses[positions[b]]));
    for (const k of order) {
      if (this._ids[positions[k]] !== null) this._stamp(ctx, this._statuses[positions[k]], x[k], y[k]);
    }
  },

  /**
   * True when a point or a cluster is under `p` (a layer point): the one drawn on top there.
   * `hit` is then that tracker's id, or `hitCluster` that cluster.
   */
  _containsPoint(p) {
    return this.pick(p, this._clickTolerance());
  },

  /** `_containsPoint` with a tolerance of `slack` pixels: for the keyboard, at the map's centre. */
  pick(p, slack) {
    const reach = this.options.radius + slack;
    const near = (x, y, radius) => (x - p.x) ** 2 + (y - p.y) ** 2 <= radius * radius;
    this.hit = null;
    this.hitCluster = null;
    if (this._highlightPoint) {
      if (near(this._highlightPoint.x, this._highlightPoint.y, reach)) {
        this.hit = this._highlighted;
        return true;
      }
    }
    if (this._spread) {
      const { positions, x, y } = this._spread;
      for (let k = positions.length - 1; k >= 0; k -= 1) {
        if (near(x[k], y[k], reach)) {
          this.hit = this._ids[positions[k]];
          return true;
        }
      }
    }
    const items = this._items;
    for (let k = items.clusters.length - 1; k >= 0; k -= 1) {
      const cluster = items.clusters[k];
      if (near(cluster.x, cluster.y, cluster.radius + slack)) {
        this.hitCluster = { id: cluster.id, count: cluster.count, latitude: cluster.latitude, longitude: cluster.longitude };
        return true;
      }
    }
    for (let k = items.points.length - 1; k >= 0; k -= 1) {
      if (near(items.x[k], items.y[k], reach) && this._ids[items.points[k]] !== null) {
        this.hit = this._ids[items.points[k]];
        return true;
      }
    }
    return false;
  },
});
