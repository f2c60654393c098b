// Every marker of the map as ONE Leaflet layer on a canvas renderer: projected and painted in
// one pass (a bitmap stamped per point), and found under the pointer by a scan of the projected
// points. One L.circleMarker per tracker costs ~60 µs to add and as much to paint: 15,000 took
// ~0.9 s to add and ~1.3 s to the first painted frame; this layer draws them in a few ms.
//
// It speaks the protocol Leaflet's canvas renderer has with its paths (`_project`, `_update`,
// `_updatePath`, `_containsPoint`, `_empty`, `_pxBounds`): private API of Leaflet 1.9, which
// the pinned django-leaflet serves. The renderer then does what it does for any path: padding,
// zoom animation, redraw on move, click and hover events (pointer cursor included).

const TAU = Math.PI * 2;

export const PointsLayer = L.Path.extend({
  options: { radius: 6, weight: 1, color: "#ffffff", opacity: 1, fill: true, fillOpacity: 0.9, interactive: true },

  /** `colorOf(status)` → the fill colour of a point. */
  initialize(options) {
    L.setOptions(this, options);
    this._ids = [];
    this._latitudes = [];
    this._longitudes = [];
    this._statuses = [];
    this._timestamps = [];
    this._index = new Map(); // id → position in the arrays
    this._x = new Float64Array(0); // projected layer points, after `_project`
    this._y = new Float64Array(0);
    this.hit = null; // id of the point under the pointer at the last hit test
  },

  /** Replaces every point: parallel arrays, as the positions feed sends them. */
  setPoints({ id, latitude, longitude, status, timestamp }) {
    this._ids = id.slice();
    this._latitudes = latitude.slice();
    this._longitudes = longitude.slice();
    this._statuses = status.slice();
    this._timestamps = timestamp.slice();
    this._index = new Map(this._ids.map((value, position) => [value, position]));
    return this.redraw();
  },

  /** Adds or moves one point. */
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
    return this.redraw();
  },

  /** Removes one point (a live `removed`); unknown ids are ignored. */
  removePoint(id) {
    const position = this._index.get(id);
    if (position === undefined) return this;
    for (const column of [this._ids, this._latitudes, this._longitudes, this._statuses, this._timestamps]) {
      column.splice(position, 1);
    }
    this._index = new Map(this._ids.map((value, index) => [value, index]));
    return this.redraw();
  },

  // (A method, not a getter: L.Class.extend copies properties by value.)
  size() {
    return this._ids.length;
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
    for (let i = 0; i < this._ids.length; i += 1) bounds.extend([this._latitudes[i], this._longitudes[i]]);
    return bounds;
  },

  // --- The renderer's protocol ---------------------------------------------------------

  _project() {
    const map = this._map;
    const count = this._ids.length;
    this._x = new Float64Array(count);
    this._y = new Float64Array(count);
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let i = 0; i < count; i += 1) {
      const point = map.latLngToLayerPoint([this._latitudes[i], this._longitudes[i]]);
      this._x[i] = point.x;
      this._y[i] = point.y;
      if (point.x < minX) minX = point.x;
      if (point.x > maxX) maxX = point.x;
      if (point.y < minY) minY = point.y;
      if (point.y > maxY) maxY = point.y;
    }
    const pad = this.options.radius + this.options.weight;
    this._pxBounds = count ? L.bounds([minX - pad, minY - pad], [maxX + pad, maxY + pad]) : undefined;
  },

  _update() {
    if (this._map) this._updatePath();
  },

  _empty() {
    return !this._ids.length;
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

  /** Paints the points inside the renderer's bounds, in their order (the last on top). */
  _updatePath() {
    const renderer = this._renderer;
    if (!renderer._drawing || this._empty()) return;
    const { min, max } = renderer._bounds;
    const reach = this.options.radius + this.options.weight;
    const ctx = renderer._ctx;
    // Trackers at one place (a depot, a city) cover each other: a stamp that would land on the
    // same pixel as the one drawn there last, in the same colour, would change nothing.
    const lastAt = new Map(); // pixel → sprite stamped there last
    for (let i = 0; i < this._ids.length; i += 1) {
      const x = this._x[i];
      const y = this._y[i];
      if (x < min.x - reach || x > max.x + reach || y < min.y - reach || y > max.y + reach) continue;
      const sprite = this._sprite(this.options.colorOf(this._statuses[i]));
      const pixel = Math.round(x) * 65536 + Math.round(y);
      if (lastAt.get(pixel) === sprite) continue;
      lastAt.set(pixel, sprite);
      const half = sprite.size / 2;
      ctx.drawImage(sprite, x - half, y - half, sprite.size, sprite.size);
    }
  },

  /** True when a point is under `p` (a layer point); `hit` is then the nearest one's id. */
  _containsPoint(p) {
    const reach = this.options.radius + this._clickTolerance();
    let best = reach * reach;
    let found = -1;
    for (let i = 0; i < this._ids.length; i += 1) {
      const dx = this._x[i] - p.x;
      const dy = this._y[i] - p.y;
      const distance = dx * dx + dy * dy;
      if (distance <= best) {
        best = distance;
        found = i;
      }
    }
    this.hit = found < 0 ? null : this._ids[found];
    return found >= 0;
  },
});
