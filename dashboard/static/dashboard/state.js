// The page's one state object, and the URL that holds its filters (so a view can be shared).

export const TABLE_PAGE_SIZE = 50; // rows per table page

export const SORT_KEYS = ["serial", "name", "brand", "run", "status", "last_report", "battery", "city"];
const DEFAULT_SORT = { key: "last_report", desc: true };

export function emptyFilters() {
  return { brand_ids: [], production_run_ids: [], status: [], search: "" };
}

export const state = {
  filters: emptyFilters(),
  sort: { ...DEFAULT_SORT },
  lazy: false, // the scope is over the lazy threshold and the user hasn't chosen "Load all"
  prefersFullLoad: false,
  items: [], // trackers loaded for the current filters, in arrival order
  sorted: null, // the same in the table's order, until the items or the sort change
  total: 0,
  phase: "idle", // idle | empty | loading | loaded | error
  retry: null, // what the error's Retry button repeats
  tablePage: 1,
  generation: 0, // bumped by every load; a response of an older generation is dropped
  controller: null, // AbortController of the load in flight
};

/** A filter narrows the trackers; paging and sorting are not filters (as in the API). */
export function hasFilter(filters) {
  return (
    filters.brand_ids.length > 0 ||
    filters.production_run_ids.length > 0 ||
    filters.status.length > 0 ||
    filters.search.trim() !== ""
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

/**
 * The filters and sort in a query string. Unknown ids and statuses are dropped, so a shared
 * link never asks the API for another client's brand.
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
  };
  let sort = { ...DEFAULT_SORT };
  const sortParam = params.get("sort");
  if (sortParam) {
    const desc = sortParam.startsWith("-");
    const key = desc ? sortParam.slice(1) : sortParam;
    if (SORT_KEYS.includes(key)) sort = { key, desc };
  }
  return { filters, sort };
}

/** The API's filter parameters (comma-separated lists), without the empty ones. */
export function filterParams(filters) {
  const params = new URLSearchParams();
  if (filters.brand_ids.length) params.set("brand_ids", filters.brand_ids.join(","));
  if (filters.production_run_ids.length) params.set("production_run_ids", filters.production_run_ids.join(","));
  if (filters.status.length) params.set("status", filters.status.join(","));
  if (filters.search.trim()) params.set("search", filters.search.trim());
  return params;
}

export function writeQuery(filters, sort) {
  const params = filterParams(filters);
  if (sort.key !== DEFAULT_SORT.key || sort.desc !== DEFAULT_SORT.desc) {
    params.set("sort", `${sort.desc ? "-" : ""}${sort.key}`);
  }
  const query = params.toString().replaceAll("%2C", ",");
  return query ? `?${query}` : window.location.pathname;
}

export function sameFilters(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
