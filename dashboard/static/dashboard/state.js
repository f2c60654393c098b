// The page's one state object, and the URL that holds its view (filters, table sort and page),
// so a view can be shared and reloaded.

// The table's sortable columns and the API `ordering` each one asks for (the server sorts and
// pages the table: dashboard/filters.py ORDERING_CHOICES). Brand, run and city are not sortable.
const ORDERING_BY_SORT_KEY = {
  serial: "serial",
  name: "name",
  status: "current_status",
  last_report: "last_report_received",
  battery: "battery_level",
};
export const SORT_KEYS = Object.keys(ORDERING_BY_SORT_KEY);
const DEFAULT_SORT = { key: "last_report", desc: true }; // the API's default ordering

// The attention filters (the top bar's chips): `battery_max` (0–100, battery at or below) and
// `silent_hours` (no report for at least this many hours; never-reported trackers included).
// Only never-reported trackers are silent for NEVER_REPORTED_HOURS (100 years), the largest value
// the API accepts: that is the "never reported" chip.
export const NEVER_REPORTED_HOURS = 876_000;
const ATTENTION_BOUNDS = { battery_max: [0, 100], silent_hours: [1, NEVER_REPORTED_HOURS] };

export function emptyFilters() {
  return { brand_ids: [], production_run_ids: [], status: [], search: "", battery_max: null, silent_hours: null };
}

export const state = {
  filters: emptyFilters(),
  sort: { ...DEFAULT_SORT },
  lazy: false, // the scope is over the lazy threshold and the user hasn't chosen "Load all"
  prefersFullLoad: false,
  rows: [], // the table's page of trackers, as the server sorted and paged them
  total: 0, // trackers matching the filters (the list's `total`)
  pages: 0,
  tablePage: 1,
  mapLoaded: false, // the markers of the current filters are drawn
  phase: "idle", // idle | empty | loading | loaded | error
  selected: null, // id of the tracker the side panel shows (panel.js), or null
  retry: null, // what the error's Retry button repeats
  generation: 0, // bumped by every load; a response of an older generation is dropped
  controller: null, // AbortController of the load in flight (the positions for the map)
  tableController: null, // AbortController of the table page in flight
};

/** The API `ordering` for a table sort. */
export function orderingFor(sort) {
  return `${sort.desc ? "-" : ""}${ORDERING_BY_SORT_KEY[sort.key]}`;
}

export function isDefaultSort(sort) {
  return sort.key === DEFAULT_SORT.key && sort.desc === DEFAULT_SORT.desc;
}

/** A filter narrows the trackers; paging and sorting are not filters (as in the API). */
export function hasFilter(filters) {
  return (
    filters.brand_ids.length > 0 ||
    filters.production_run_ids.length > 0 ||
    filters.status.length > 0 ||
    filters.search.trim() !== "" ||
    filters.battery_max !== null ||
    filters.silent_hours !== null
  );
}

function idList(params, name, known) {
  const ids = new Set();
  for (const value of params.getAll(name)) {
    for (const piece of value.split(",")) {
      const id = Number(piece);
      if (Number.isSafeInteger(id) && known.has(id)) ids.add(id);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

/** An attention filter's integer from the query, or null when absent or out of its bounds. */
function boundedInteger(params, name) {
  const raw = params.get(name);
  if (raw === null || !/^\d+$/.test(raw)) return null;
  const value = Number(raw);
  const [low, high] = ATTENTION_BOUNDS[name];
  return value >= low && value <= high ? value : null;
}

/**
 * The filters, sort and table page in a query string. Unknown ids and statuses are dropped, so
 * a shared link never asks the API for another client's brand; an unknown sort is the default.
 */
export function readQuery(search, { brandIds, runIds, statuses }) {
  const params = new URLSearchParams(search);
  const status = new Set();
  for (const value of params.getAll("status")) {
    for (const piece of value.split(",")) if (statuses.has(piece)) status.add(piece);
  }
  const filters = {
    brand_ids: idList(params, "brand_ids", brandIds),
    production_run_ids: idList(params, "production_run_ids", runIds),
    status: [...statuses].filter((s) => status.has(s)),
    search: (params.get("search") || "").slice(0, 200),
    battery_max: boundedInteger(params, "battery_max"),
    silent_hours: boundedInteger(params, "silent_hours"),
  };
  let sort = { ...DEFAULT_SORT };
  const sortParam = params.get("sort");
  if (sortParam) {
    const desc = sortParam.startsWith("-");
    const key = desc ? sortParam.slice(1) : sortParam;
    if (SORT_KEYS.includes(key)) sort = { key, desc };
  }
  const page = Number(params.get("page"));
  return { filters, sort, page: Number.isSafeInteger(page) && page > 1 ? page : 1 };
}

/** The API's filter parameters (comma-separated lists), without the empty ones. */
export function filterParams(filters) {
  const params = new URLSearchParams();
  if (filters.brand_ids.length) params.set("brand_ids", filters.brand_ids.join(","));
  if (filters.production_run_ids.length) params.set("production_run_ids", filters.production_run_ids.join(","));
  if (filters.status.length) params.set("status", filters.status.join(","));
  if (filters.search.trim()) params.set("search", filters.search.trim());
  if (filters.battery_max !== null) params.set("battery_max", filters.battery_max);
  if (filters.silent_hours !== null) params.set("silent_hours", filters.silent_hours);
  return params;
}

export function writeQuery(filters, sort, page = 1) {
  const params = filterParams(filters);
  if (!isDefaultSort(sort)) params.set("sort", `${sort.desc ? "-" : ""}${sort.key}`);
  if (page > 1) params.set("page", page);
  const query = params.toString().replaceAll("%2C", ",");
  return query ? `?${query}` : window.location.pathname;
}

export function sameFilters(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
