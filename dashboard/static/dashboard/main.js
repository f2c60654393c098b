// The dashboard page: wires the filters, the map and the table to one state object.
//
// 1. The reference data and the user's scope are embedded in the page: the filters work
//    before any request.
// 2. The URL holds the view (filters, table sort and page); a filter change pushes a new URL,
//    Back and a reload restore it.
// 3. In lazy mode (a large scope) nothing loads until a filter is set. Otherwise two requests
//    start at once: the table's page of `table_page_size` full items (sorted and paged by the
//    server, it also gives the total) and the positions feed, one columnar answer that draws
//    every marker. A newer load aborts the older one, and a response of an older load is dropped.
// 4. A marker or a row opens the tracker panel (panel.js): its details, its trail on the map
//    (trail.js) and a replay. The top bar's chips (attention.js) apply the attention filters.

import { exportUrl, fetchPositions, fetchTracker, fetchTrackers, savePreferences } from "./api.js";
import { createAttention } from "./attention.js";
import { element } from "./dom.js";
import { createFilters } from "./filters.js";
import { formatCount, plural, relativeTime } from "./format.js";
import { createLive } from "./live.js";
import { createMap } from "./map.js";
import { createPanel } from "./panel.js";
import {
  filterParams,
  hasFilter,
  isDefaultSort,
  orderingFor,
  readQuery,
  sameFilters,
  state,
  writeQuery,
} from "./state.js";
import { createTable } from "./table.js";
import * as telemetry from "./telemetry.js";
import { createTrail } from "./trail.js";

const readJson = (id) => JSON.parse(document.getElementById(id).textContent);
const reference = readJson("reference-data");
let scope = readJson("scope-data");
const config = readJson("page-config");

const brandsById = new Map(reference.brands.map((brand) => [brand.id, brand]));
const runsById = new Map(reference.production_runs.map((run) => [run.id, run]));
const statusLabels = new Map(reference.statuses.map((status) => [status.value, status.label]));
const places = {
  storage: new Map(reference.storage_locations.map((place) => [place.id, place])),
  delivery: new Map(reference.delivery_locations.map((place) => [place.id, place])),
};

/** The names a tracker's row and popup show. */
function describe(tracker) {
  return {
    brand: brandsById.get(tracker.brand_id)?.name ?? "—",
    run: runsById.get(tracker.production_run_id)?.name ?? "—",
    status: statusLabels.get(tracker.current_status) ?? tracker.current_status,
  };
}

const dom = {
  body: document.body,
  progress: document.getElementById("load-progress"),
  progressText: document.getElementById("load-progress-text"),
  progressBar: document.getElementById("load-progress-bar"),
  error: document.getElementById("load-error"),
  errorText: document.getElementById("load-error-text"),
  retry: document.getElementById("retry"),
  count: document.getElementById("tracker-count"),
  exportLink: document.getElementById("export-csv"),
  loadAll: document.getElementById("load-all"),
  scopeText: document.getElementById("scope-summary"),
};

const filters = createFilters(document.getElementById("filters"), {
  brands: reference.brands,
  runs: reference.production_runs,
  statuses: reference.statuses,
  onChange: (next) => applyFilters(next),
});
const map = createMap(document.getElementById("map-panel"), {
  tileUrl: config.map_tile_url,
  statuses: reference.statuses,
  describe,
  details: trackerDetails,
  select: (id) => selectTracker(id),
});
const trail = createTrail(map.leaflet);
const panel = createPanel(document.getElementById("tracker-panel"), {
  trail,
  describe,
  details: (id, signal) => fetchTracker(id, { signal }), // the detail names its storage and delivery location
  places,
  lowBatteryPercent: config.low_battery_percent,
  onClose: () => {
    state.selected = null;
    map.highlight(null);
  },
});
const table = createTable(document.getElementById("table-panel"), {
  describe,
  onActivate: (id) => selectTracker(id),
  onSort: (key) => {
    state.sort = { key, desc: state.sort.key === key ? !state.sort.desc : key === "last_report" };
    showTablePage(1);
  },
  onPage: (page) => showTablePage(page),
});

/** Opens the tracker panel on tracker `id`, at once with its row when the table's page holds it. */
function selectTracker(id) {
  state.selected = id;
  map.highlight(id); // ringed on top, even inside a cluster
  panel.open(state.rows.find((tracker) => tracker.id === id) ?? { id });
}

const attention = createAttention(document.getElementById("attention"), {
  lowBatteryPercent: config.low_battery_percent,
  silentAfterHours: config.silent_after_hours,
  onApply: (chosen) => {
    const next = { ...state.filters, ...chosen };
    filters.set(next);
    applyFilters(next);
  },
});

/** A popup's tracker: from the table's page when it is there, else `GET /api/trackers/{id}/`. */
function trackerDetails(id, signal) {
  const row = state.rows.find((tracker) => tracker.id === id);
  return row ? Promise.resolve(row) : fetchTracker(id, { signal });
}

const known = {
  brandIds: new Set(brandsById.keys()),
  runIds: new Set(runsById.keys()),
  statuses: new Set(statusLabels.keys()),
};

// --- Rendering --------------------------------------------------------------------------

function setPhase(phase) {
  state.phase = phase;
  dom.body.dataset.phase = phase; // idle | empty | loading | loaded | error (the tests wait on it)
}

function announce(text) {
  dom.progressText.textContent = text;
}

/** Why nothing is shown: lazy mode waiting for a filter, or a scope without any client. */
function emptyStateMessage() {
  if (!scope.client_ids.length) {
    return [
      element("strong", { textContent: "No trackers to show" }),
      element("p", {
        textContent: "Your account is not linked to a client yet. Ask an administrator to link it to yours.",
      }),
    ];
  }
  return [
    element("strong", { textContent: "Select filters to view trackers" }),
    element("p", {
      textContent:
        `Your fleet has ${plural(scope.tracker_count, "tracker", "trackers")}: choose a brand, a production run or ` +
        'a status, or search, and the matching trackers load here. Or switch on "Load all".',
    }),
  ];
}

function renderTable() {
  if (state.phase === "empty") {
    table.render({ rows: [], sort: state.sort, message: emptyStateMessage() });
    return;
  }
  if (!state.rows.length) {
    const message =
      state.phase === "loading"
        ? "Loading trackers…"
        : state.phase === "error"
          ? "The trackers could not be loaded."
          : "No trackers match these filters.";
    table.render({ rows: [], sort: state.sort, message });
    return;
  }
  table.render({
    rows: state.rows,
    sort: state.sort,
    page: state.tablePage,
    pages: state.pages,
    total: state.total,
    first: (state.tablePage - 1) * config.table_page_size + 1,
  });
}

function renderCount() {
  if (state.phase === "empty") {
    dom.count.textContent = "";
    delete dom.count.dataset.total;
    return;
  }
  dom.count.textContent = state.phase === "loaded" ? plural(state.total, "tracker", "trackers") : "";
  dom.count.dataset.total = String(state.total);
}

/** While loading: the table's rows of the total, until the positions draw the rest on the map. */
function renderProgress() {
  const loading = state.phase === "loading";
  dom.progress.classList.toggle("is-loading", loading);
  dom.progressBar.hidden = !loading;
  if (loading) {
    const loaded = state.mapLoaded ? state.total : state.rows.length;
    dom.progressBar.max = Math.max(state.total, 1);
    dom.progressBar.value = loaded;
    announce(state.total ? `Loaded ${formatCount(loaded)} of ${formatCount(state.total)}` : "Loading trackers…");
  } else if (state.phase === "empty") {
    announce(emptyStateMessage()[0].textContent);
  } else if (state.phase === "loaded") {
    announce(`Showing ${plural(state.total, "tracker", "trackers")}`);
  }
}

function renderExportLink() {
  dom.exportLink.href = exportUrl(state.filters, isDefaultSort(state.sort) ? null : orderingFor(state.sort));
}

function writeUrl({ push = false } = {}) {
  const url = writeQuery(state.filters, state.sort, state.tablePage);
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function renderScope() {
  const parts = [
    plural(scope.brand_count, "brand", "brands"),
    plural(scope.production_run_count, "run", "runs"),
    plural(scope.tracker_count, "tracker", "trackers"),
  ];
  dom.scopeText.textContent = parts.join(" · ");
  dom.loadAll.checked = Boolean(scope.prefers_full_load);
}

/** An error message with a Retry button that repeats `retry`. */
function showError(message, retry) {
  dom.errorText.textContent = message;
  dom.error.hidden = false;
  state.retry = retry;
}

function hideError() {
  dom.error.hidden = true;
}

// --- Loading ----------------------------------------------------------------------------

function reset() {
  state.controller?.abort();
  state.tableController?.abort();
  state.controller = null;
  state.tableController = null;
  state.generation += 1;
  state.rows = [];
  state.total = 0;
  state.pages = 0;
  state.mapLoaded = false;
  map.clear();
  map.setUnplaced(0);
  table.setBusy(false);
  hideError();
}

/** The empty state; `lazy` tells the telemetry it is lazy mode's (not an empty scope's). */
function showEmptyState({ lazy }) {
  reset();
  setPhase("empty");
  map.setOverlay(emptyStateMessage());
  renderTable();
  renderCount();
  renderProgress();
  if (lazy) telemetry.count("empty_state");
}

/**
 * The server's page `page` of the table for the current filters and sort, or null when a newer
 * table request superseded this one. A page past the end (the fleet shrank, an old link) is
 * answered with the last page instead.
 */
async function requestTablePage(page) {
  state.tableController?.abort();
  const controller = new AbortController();
  state.tableController = controller;
  const ask = (number) =>
    fetchTrackers({
      filters: state.filters,
      lazy: state.lazy,
      page: number,
      size: config.table_page_size,
      ordering: orderingFor(state.sort),
      signal: controller.signal,
    });
  try {
    let body = await ask(page);
    if (!body.items.length && body.pages > 0 && page > body.pages) body = await ask(body.pages);
    return state.tableController === controller ? body : null;
  } catch (error) {
    if (error.name === "AbortError" && state.tableController !== controller) return null;
    throw error;
  } finally {
    if (state.tableController === controller) state.tableController = null;
  }
}

function applyTablePage(body) {
  state.rows = body.items;
  state.total = body.total;
  state.pages = body.pages;
  state.tablePage = Math.max(1, body.page);
  writeUrl();
}

/** The table's page `page` (after a sort, a pager click, Back): the map is left as it is. */
async function showTablePage(page) {
  state.tablePage = page;
  writeUrl();
  renderExportLink();
  if (state.phase === "empty") {
    renderTable(); // lazy mode's empty state asks for nothing
    return;
  }
  if (state.phase === "error" && !state.mapLoaded) {
    load(); // the load itself failed: its table and map, again, for this page
    return;
  }
  const generation = state.generation;
  table.setBusy(true);
  try {
    const body = await requestTablePage(page);
    if (!body || generation !== state.generation) return;
    applyTablePage(body);
    if (state.phase === "error") {
      hideError(); // this page had failed; the map is drawn (else the load is retried above)
      setPhase("loaded");
    }
    table.setBusy(false);
    renderTable();
    renderCount();
    renderProgress();
  } catch (error) {
    if (error.name === "AbortError" || generation !== state.generation) return;
    table.setBusy(false);
    setPhase("error");
    state.rows = [];
    renderTable();
    renderCount();
    announce("");
    dom.progressBar.hidden = true;
    showError(`Couldn't load this page of trackers. ${error.message}`, () => showTablePage(page));
  }
}

/** Loads the table's page and every marker for the current filters; `startedAt` times the first data shown. */
async function load({ startedAt = null } = {}) {
  reset();
  const generation = state.generation;
  const controller = new AbortController();
  state.controller = controller;
  setPhase("loading");
  map.setOverlay(null);
  renderTable();
  renderCount();
  renderProgress();

  const positions = fetchPositions({ filters: state.filters, lazy: state.lazy, signal: controller.signal });
  positions.catch(() => {}); // awaited below; a table failure first must not leave it unhandled
  try {
    const body = await requestTablePage(state.tablePage);
    if (generation !== state.generation) return; // a newer load owns the page now
    if (body) {
      // null: a newer table request (Back, a sort) is already on its way and will render
      applyTablePage(body);
      renderTable();
      renderProgress();
      if (startedAt !== null) telemetry.timing("filter_to_data", performance.now() - startedAt);
    }
    const columns = await positions;
    if (generation !== state.generation) return;
    performance.mark("trackerdash:positions"); // for whoever measures the page (scripts/measure_dashboard.py)
    state.controller = null;
    map.setPositions(columns);
    map.setUnplaced(Math.max(0, state.total - columns.total));
    map.fit();
    performance.mark("trackerdash:markers"); // painted on the next frame
    state.mapLoaded = true;
    if (state.phase !== "loading") return; // a table page failed meanwhile: its error stays
    setPhase("loaded");
    if (!state.total) map.setOverlay(element("strong", { textContent: "No trackers match these filters" }));
    renderTable();
    renderCount();
    renderProgress();
  } catch (error) {
    if (error.name === "AbortError" || generation !== state.generation) return;
    controller.abort(); // the other request is of no use without this one
    state.controller = null;
    state.rows = []; // half a view is no view: Retry loads both again
    setPhase("error");
    renderTable();
    renderCount();
    announce("");
    dom.progressBar.hidden = true;
    showError(`Couldn't load trackers. ${error.message}`, () => load({ startedAt: performance.now() }));
  }
}

// --- Live updates (live.js): markers move and rows change in place --------------------------

/** A `changes` event: move each marker, replace rows shown on this table page, drop the removed. */
function applyLiveChanges({ items, removed }) {
  if (state.phase !== "loaded") return; // a load in flight will show the newer state anyway
  let rowsChanged = false;
  for (const item of items) {
    const location = item.latest_location;
    if (location) {
      map.updatePosition(item.id, { ...location, status: item.current_status });
    }
    if (item.id === state.selected) panel.update(item);
    const index = state.rows.findIndex((row) => row.id === item.id);
    if (index >= 0) {
      state.rows[index] = { ...state.rows[index], ...item };
      rowsChanged = true;
    }
  }
  for (const id of removed) map.removePosition(id);
  attention.changed(); // the counts may have moved too
  if (removed.some((id) => state.rows.some((row) => row.id === id))) {
    showTablePage(state.tablePage); // a row left this page: the server's page is the truth
  } else if (rowsChanged) {
    renderTable();
  }
}

/** `resync`: the stream could not replay what this page missed: refetch, without a loading state. */
async function quietRefetch() {
  if (state.phase !== "loaded") return;
  const generation = state.generation;
  try {
    const columns = await fetchPositions({ filters: state.filters, lazy: state.lazy });
    if (generation !== state.generation) return;
    map.setPositions(columns);
    map.setUnplaced(Math.max(0, state.total - columns.total));
    const body = await requestTablePage(state.tablePage);
    if (!body || generation !== state.generation) return;
    applyTablePage(body);
    renderTable();
    renderCount();
  } catch {
    // the next change or resync tries again; the page keeps what it shows
  }
}

const live = createLive({
  indicator: document.getElementById("live-status"),
  url: config.urls.stream,
  enabled: config.live_stream,
  onChanges: applyLiveChanges,
  onResync: quietRefetch,
});

/** The stream's parameters: the list's filters (lazy mode's empty state opens none: null). */
function liveParams() {
  const params = filterParams(state.filters);
  if (state.lazy) params.set("lazy_load", "true");
  return params;
}

// Relative times ("5 minutes ago") tick without re-rendering the rows.
setInterval(() => {
  for (const when of document.querySelectorAll("#table-panel time[datetime]")) {
    when.textContent = relativeTime(when.dateTime);
  }
}, 15_000);

/** Shows what the current filters call for: the lazy empty state, or their trackers. */
function refresh({ startedAt = null } = {}) {
  renderExportLink();
  filters.markApplied(state.filters);
  attention.setFilters(state.filters);
  if (!scope.client_ids.length) {
    live.follow(null);
    showEmptyState({ lazy: false }); // nothing to ask the API for
    return;
  }
  if (state.lazy && !hasFilter(state.filters)) {
    live.follow(null);
    showEmptyState({ lazy: true });
    return;
  }
  if (state.lazy && startedAt !== null) telemetry.count("lazy_load");
  live.follow(liveParams()); // opened before the load: a change during the load is not missed
  load({ startedAt });
}

function applyFilters(next) {
  if (sameFilters(next, state.filters)) return;
  const startedAt = performance.now();
  state.filters = next;
  state.tablePage = 1;
  writeUrl({ push: true });
  telemetry.count("filter_applied");
  refresh({ startedAt });
}

// --- Wiring -----------------------------------------------------------------------------

dom.retry.addEventListener("click", () => {
  hideError();
  state.retry?.();
});

async function saveLoadAll(wanted) {
  dom.loadAll.checked = wanted;
  dom.loadAll.disabled = true;
  try {
    scope = await savePreferences({ prefers_full_load: wanted });
    state.lazy = Boolean(scope.lazy_mode);
    renderScope();
    refresh({ startedAt: performance.now() });
  } catch (error) {
    dom.loadAll.checked = !wanted;
    showError(`Couldn't save the "Load all" setting. ${error.message}`, () => saveLoadAll(wanted));
  } finally {
    dom.loadAll.disabled = false;
  }
}

dom.loadAll.addEventListener("change", () => saveLoadAll(dom.loadAll.checked));

window.addEventListener("popstate", () => {
  const restored = readQuery(window.location.search, known);
  state.sort = restored.sort;
  if (sameFilters(restored.filters, state.filters)) {
    showTablePage(restored.page);
    return;
  }
  state.filters = restored.filters;
  state.tablePage = restored.page;
  filters.set(state.filters);
  refresh();
});

const initial = readQuery(window.location.search, known);
state.filters = initial.filters;
state.sort = initial.sort;
state.tablePage = initial.page;
state.lazy = Boolean(scope.lazy_mode);
writeUrl(); // drops ids the user can't see
filters.set(state.filters);
renderScope();
attention.refresh();
dom.body.dataset.ready = "true";
telemetry.timing("dashboard_load", performance.now()); // navigation start → filters interactive
refresh();

// For the browser tests and whoever measures the page from its console.
window.trackerdash = { state, telemetry: telemetry.reported, map: map.leaflet, markers: map, live, panel, trail };
