// The live stream: one EventSource for the current filters, and the connection indicator.
//
// createLive({ indicator, onChanges, onResync }) → { follow(params), stop() }
// - follow(params): a URLSearchParams of the list's filters, or null (lazy mode's empty state:
//   no stream). Replaces the open stream when the filters change.
// - onChanges({ items, removed }): apply in place; an event already applied (the same cursor after
//   a reconnect) is never applied twice.
// - onResync(): the server cannot replay what this page missed: refetch quietly.

import { element } from "./dom.js";

const STREAM_URL = "/api/trackers/stream/";
const OFFLINE_AFTER_MS = 30_000; // reconnecting this long without success reads as offline

const timeFormat = new Intl.DateTimeFormat("en-GB", { timeStyle: "medium" });

/** A cursor "<epoch>.<ms>-<seq>" (Redis) or "<epoch>.<n>" (in-process) as a comparable pair. */
function position(cursor) {
  const [epoch, entry = ""] = (cursor || "").split(".");
  const [ms, seq = "0"] = entry.split("-");
  return { epoch, ms: Number(ms), seq: Number(seq) };
}

/** Whether `cursor` is past `applied` in the same life of the feed (an older one was already applied). */
export function isNewer(cursor, applied) {
  if (!applied) return true;
  const a = position(cursor);
  const b = position(applied);
  if (a.epoch !== b.epoch) return true;
  return a.ms > b.ms || (a.ms === b.ms && a.seq > b.seq);
}

export function createLive({ indicator, url = STREAM_URL, enabled = true, onChanges, onResync }) {
  let source = null;
  let applied = null; // the cursor of the last event applied
  let lastUpdate = null; // when the last change arrived
  let troubleSince = null;
  let offlineTimer = null;

  const label = element("span", { className: "live-label" });
  const detail = element("span", { className: "live-detail" });
  indicator.replaceChildren(element("span", { className: "live-dot", ariaHidden: "true" }), label, detail);

  function show(status) {
    indicator.dataset.status = status;
    label.textContent = { live: "Live", reconnecting: "Reconnecting…", offline: "Offline", off: "" }[status];
    detail.textContent = lastUpdate && status !== "off" ? ` · last update ${timeFormat.format(lastUpdate)}` : "";
    indicator.hidden = status === "off";
  }

  function healthy() {
    troubleSince = null;
    clearTimeout(offlineTimer);
    show("live");
  }

  function trouble() {
    if (!source) return;
    if (source.readyState === EventSource.CLOSED) {
      // Refused (503: the stream is off, 4xx) or given up: the page stays a snapshot.
      show("offline");
      return;
    }
    troubleSince ??= Date.now();
    show("reconnecting");
    clearTimeout(offlineTimer);
    offlineTimer = setTimeout(() => {
      if (troubleSince && source && source.readyState !== EventSource.OPEN) show("offline");
    }, OFFLINE_AFTER_MS);
  }

  function stop() {
    if (source) source.close();
    source = null;
    clearTimeout(offlineTimer);
  }

  function follow(params) {
    stop();
    applied = null;
    if (params === null) {
      show("off");
      return;
    }
    if (!enabled) {
      show("offline"); // this server does not stream (WSGI, or LIVE_STREAM_ENABLED=false)
      return;
    }
    const query = params.toString();
    source = new EventSource(url + (query ? `?${query}` : ""));
    source.addEventListener("open", healthy);
    source.addEventListener("error", trouble);
    source.addEventListener("changes", (event) => {
      healthy();
      if (!isNewer(event.lastEventId, applied)) return;
      applied = event.lastEventId;
      lastUpdate = new Date();
      show("live");
      onChanges(JSON.parse(event.data));
    });
    source.addEventListener("resync", (event) => {
      healthy();
      applied = event.lastEventId || applied;
      lastUpdate = new Date();
      show("live");
      onResync();
    });
  }

  show("off");
  return { follow, stop };
}
