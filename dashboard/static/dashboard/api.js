// The HTTP API as the page uses it. The session cookie authenticates; writes send the CSRF token.

import { filterParams } from "./state.js";

const config = JSON.parse(document.getElementById("page-config").textContent);

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

async function request(url, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = config.csrf_token;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("The server could not be reached. Check your connection.", 0);
  }
  if (!response.ok) throw new ApiError(await describeFailure(response), response.status);
  return response.status === 204 ? null : response.json();
}

async function describeFailure(response) {
  if (response.status === 401 || response.status === 403) return "Your session has ended: reload the page to log in.";
  if (response.status === 400) {
    try {
      const errors = await response.json();
      const [field, messages] = Object.entries(errors)[0];
      return `The server refused the ${field.replaceAll("_", " ")}: ${[].concat(messages).join(" ")}`;
    } catch {
      // fall through to the generic message
    }
  }
  return `The server answered ${response.status} ${response.statusText}`.trim() + ".";
}

/** The list's parameters for the filters; `lazy` asks the API to answer nothing when no filter is set. */
function listParams(filters, lazy) {
  const params = filterParams(filters);
  if (lazy) params.set("lazy_load", "true");
  return params;
}

/** One page of full tracker items for the table, sorted by the server (`ordering`). */
export function fetchTrackers({ filters, lazy, page, size, ordering, signal }) {
  const params = listParams(filters, lazy);
  params.set("page", page);
  params.set("size", size);
  params.set("ordering", ordering);
  return request(`${config.urls.trackers}?${params}`, { signal });
}

/**
 * Every matching tracker that has a location, for the map, in one columnar answer:
 * `{total, id: [...], latitude: [...], longitude: [...], status: [...], timestamp: [...]}`.
 */
export function fetchPositions({ filters, lazy, signal }) {
  return request(`${config.urls.positions}?${listParams(filters, lazy)}`, { signal });
}

/** One tracker with its latest location (a popup's details); null when it is gone or out of scope. */
export async function fetchTracker(id, { signal } = {}) {
  try {
    return await request(`${config.urls.trackers}${id}/`, { signal });
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

/** One tracker's path for the map: `{points: [{timestamp, latitude, longitude}], reports, simplified}`. */
export function fetchTrail(id, { since = null, until = null, maxPoints = null, signal } = {}) {
  const params = new URLSearchParams();
  if (since) params.set("since", since);
  if (until) params.set("until", until);
  if (maxPoints) params.set("max_points", maxPoints);
  const query = params.toString();
  return request(`${config.urls.trackers}${id}/trail/${query ? `?${query}` : ""}`, { signal });
}

/** The top bar's counts in the user's scope: `{low_battery, silent, never_reported}`. */
export function fetchAttention({ signal } = {}) {
  return request(config.urls.attention, { signal });
}

/** The CSV of the filters, in the table's order (`ordering` null: the API's default). */
export function exportUrl(filters, ordering = null) {
  const params = filterParams(filters);
  if (ordering) params.set("ordering", ordering);
  const query = params.toString();
  return query ? `${config.urls.export}?${query}` : config.urls.export;
}

/** Saves the user's preferences; the API answers the new scope summary (with `lazy_mode`). */
export function savePreferences(preferences) {
  return request(config.urls.preferences, { method: "PATCH", body: preferences });
}

/** A beacon survives the page being closed; it carries the session cookie but no headers. */
export function sendBeacon(payload) {
  const blob = new Blob([JSON.stringify(payload)], { type: "application/json" });
  return navigator.sendBeacon(config.urls.telemetry, blob);
}
