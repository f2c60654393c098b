// The dashboard page: wires the filters, the map and the table to one state object.
//
// 1. The reference data and the user's scope are embedded in the page: the filters work
//    before any request.
// 2. The URL holds the filters; a change pushes a new URL, Back and a reload restore them.
// 3. In lazy mode (a large scope) nothing loads until a filter is set; otherwise trackers
//    load in pages of `page_size` (set by the server), each shown as it arrives. A newer
//    load aborts the older one, and a response of an older load is dropped.

import { exportUrl, fetchTrackers, savePreferences } from "./api.js";
import { element } from "./dom.js";
import { createFilters } from "./filters.js";
import { formatCount, plural } from "./format.js";
import { createMap } from "./map.js";
import { TABLE_PAGE_SIZE, hasFilter, readQuery, sameFilters, state, writeQuery } from "./state.js";
import { sortTrackers, createTable } from "./table.js";
import * as telemetry from "./telemetry.js";

const readJson = (id) => JSON.parse(document.getElementById(id).textContent);
const reference = readJson("reference-data");
let scope = readJson("scope-data");
const config = readJson("page-config");

const brandsById = new Map(reference.brands.map((brand) => [brand.id, brand]));
const runsById = new Map(reference.production_runs.map((run) => [run.id, run]));
const statusLabels = new Map(reference.statuses.map((status) => [status.value, status.label]));

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
});
const table = createTable(document.getElementById("table-panel"), {
  describe,
  pageSize: TABLE_PAGE_SIZE,
  onActivate: (id) => {
    if (!map.focus(id)) announce("This tracker has no location yet, so it is not on the map.");
  },
  onSort: (key) => {
    state.sort = { key, desc: state.sort.key === key ? !state.sort.desc : key === "last_report" };
    state.tablePage = 1;
    state.sorted = null;
    history.replaceState(null, "", writeQuery(state.filters, state.sort));
    renderTable();
  },
  onPage: (page) => {
    state.tablePage = page;
    renderTable();
  },
});

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
    table.render({ rows: [], sort: state.sort, page: 1, message: emptyStateMessage() });
    return;
  }
  if (!state.items.length) {
    const message =
      state.phase === "loading"
        ? "Loading trackers…"
        : state.phase === "error"
          ? "The trackers could not be loaded."
          : "No trackers match these filters.";
    table.render({ rows: [], sort: state.sort, page: 1, message });
    return;
  }
  if (!state.sorted) state.sorted = sortTrackers(state.items, state.sort, describe);
  state.tablePage = table.render({ rows: state.sorted, sort: state.sort, page: state.tablePage });
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

function renderProgress() {
  const loading = state.phase === "loading";
  dom.progress.classList.toggle("is-loading", loading);
  dom.progressBar.hidden = !loading;
  if (loading) {
    dom.progressBar.max = Math.max(state.total, 1);
    dom.progressBar.value = state.items.length;
    announce(
      state.total
        ? `Loaded ${formatCount(state.items.length)} of ${formatCount(state.total)}`
        : "Loading trackers…",
    );
  } else if (state.phase === "empty") {
    announce(emptyStateMessage()[0].textContent);
  } else if (state.phase === "loaded") {
    announce(`Showing ${plural(state.total, "tracker", "trackers")}`);
  }
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
  state.controller = null;
  state.generation += 1;
  state.items = [];
  state.total = 0;
  state.tablePage = 1;
  state.sorted = null;
  map.clear();
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

/** Loads every page of trackers for the current filters; `startedAt` times the first data shown. */
async function load({ startedAt = null } = {}) {
  reset();
  const generation = state.generation;
  const controller = new AbortController();
  state.controller = controller;
  const filtersNow = state.filters;
  setPhase("loading");
  map.setOverlay(null);
  renderTable();
  renderCount();
  renderProgress();

  const seen = new Set();
  try {
    let page = 1;
    let pages = 1;
    do {
      const body = await fetchTrackers({
        filters: filtersNow,
        lazy: state.lazy,
        page,
        size: config.page_size,
        signal: controller.signal,
      });
      if (generation !== state.generation) return; // a newer load owns the page now
      // Rows can shift between pages while trackers change: never show one twice.
      const fresh = body.items.filter((tracker) => !seen.has(tracker.id));
      for (const tracker of fresh) seen.add(tracker.id);
      state.items.push(...fresh);
      state.total = body.total;
      state.sorted = null;
      map.add(fresh);
      if (page === 1) map.fit();
      renderTable();
      renderProgress();
      if (page === 1 && startedAt !== null) telemetry.timing("filter_to_data", performance.now() - startedAt);
      pages = body.pages;
      page += 1;
    } while (page <= pages);
    state.controller = null;
    setPhase("loaded");
    if (state.total > config.page_size) map.fit();
    if (!state.items.length) map.setOverlay(element("strong", { textContent: "No trackers match these filters" }));
    renderTable();
    renderCount();
    renderProgress();
  } catch (error) {
    if (error.name === "AbortError" || generation !== state.generation) return;
    state.controller = null;
    setPhase("error");
    renderTable();
    renderCount();
    announce("");
    dom.progressBar.hidden = true;
    showError(`Couldn't load trackers. ${error.message}`, () => load({ startedAt: performance.now() }));
  }
}

/** Shows what the current filters call for: the lazy empty state, or their trackers. */
function refresh({ startedAt = null } = {}) {
  dom.exportLink.href = exportUrl(state.filters);
  filters.markApplied(state.filters);
  if (!scope.client_ids.length) {
    showEmptyState({ lazy: false }); // nothing to ask the API for
    return;
  }
  if (state.lazy && !hasFilter(state.filters)) {
    showEmptyState({ lazy: true });
    return;
  }
  if (state.lazy && startedAt !== null) telemetry.count("lazy_load");
  load({ startedAt });
}

function applyFilters(next) {
  if (sameFilters(next, state.filters)) return;
  const startedAt = performance.now();
  state.filters = next;
  state.tablePage = 1;
  history.pushState(null, "", writeQuery(state.filters, state.sort));
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
    state.sorted = null;
    renderTable();
    return;
  }
  state.filters = restored.filters;
  filters.set(state.filters);
  refresh();
});

const initial = readQuery(window.location.search, known);
state.filters = initial.filters;
state.sort = initial.sort;
state.lazy = Boolean(scope.lazy_mode);
history.replaceState(null, "", writeQuery(state.filters, state.sort)); // drops ids the user can't see
filters.set(state.filters);
renderScope();
dom.body.dataset.ready = "true";
telemetry.timing("dashboard_load", performance.now()); // navigation start → filters interactive
refresh();

// For the browser tests and whoever measures the page from its console.
window.trackerdash = { state, telemetry: telemetry.reported, map: map.leaflet };
