// The trackers table: sorted and paginated in the page over the loaded trackers.
// Rows are focusable; Enter or a click centres the map on the tracker.

import { element } from "./dom.js";
import { battery, exactTime, formatCount, relativeTime } from "./format.js";

const COLUMNS = 8;

/** Sort values per column; trackers without a value sort last in either direction. */
function sortValue(key, tracker, describe) {
  switch (key) {
    case "serial":
      return tracker.serial;
    case "name":
      return tracker.name || null;
    case "brand":
      return describe(tracker).brand;
    case "run":
      return describe(tracker).run;
    case "status":
      return describe(tracker).status;
    case "last_report":
      return tracker.last_report_received ? Date.parse(tracker.last_report_received) : null;
    case "battery":
      return tracker.battery_level ?? null;
    case "city":
      return tracker.latest_location?.nearest_city || null;
    default:
      return null;
  }
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

export function sortTrackers(items, { key, desc }, describe) {
  const keyed = items.map((tracker) => [sortValue(key, tracker, describe), tracker]);
  keyed.sort(([a, ta], [b, tb]) => {
    if (a === null || b === null) return a === b ? ta.id - tb.id : a === null ? 1 : -1;
    const order = typeof a === "number" ? a - b : collator.compare(a, b);
    return (desc ? -order : order) || ta.id - tb.id;
  });
  return keyed.map(([, tracker]) => tracker);
}

/**
 * createTable(root, {describe, pageSize, onActivate, onSort, onPage}) → {render}.
 * `render(view)` draws the rows of `view.rows` (already sorted), or the message `view.message`.
 */
export function createTable(root, { describe, pageSize, onActivate, onSort, onPage }) {
  const body = root.querySelector("tbody");
  const headers = [...root.querySelectorAll("th[data-sort]")];
  const pager = root.querySelector(".pager");
  const pagerText = pager.querySelector(".pager-text");
  const previous = pager.querySelector("[data-page=previous]");
  const next = pager.querySelector("[data-page=next]");
  let page = 1;

  for (const header of headers) {
    header.querySelector("button").addEventListener("click", () => onSort(header.dataset.sort));
  }
  previous.addEventListener("click", () => onPage(page - 1));
  next.addEventListener("click", () => onPage(page + 1));
  body.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) onActivate(Number(row.dataset.id));
  });
  body.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (!row) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onActivate(Number(row.dataset.id));
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      (event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling)?.focus();
    }
  });

  function row(tracker) {
    const names = describe(tracker);
    const city = tracker.latest_location?.nearest_city || "—";
    const when = element("time", {
      textContent: relativeTime(tracker.last_report_received),
      title: exactTime(tracker.last_report_received),
    });
    if (tracker.last_report_received) when.dateTime = tracker.last_report_received;
    const low = tracker.battery_level !== null && tracker.battery_level !== undefined && tracker.battery_level < 20;
    const tr = element("tr", { tabIndex: 0 }, [
      element("td", { className: "mono", textContent: tracker.serial }),
      element("td", { className: "clip", textContent: tracker.name || "—", title: tracker.name || "" }),
      element("td", { className: "clip", textContent: names.brand, title: names.brand }),
      element("td", { className: "clip", textContent: names.run, title: names.run }),
      element("td", {}, [
        element("span", { className: `swatch status-${tracker.current_status}` }),
        element("span", { textContent: names.status }),
      ]),
      element("td", {}, [when]),
      element("td", { className: low ? "num low" : "num", textContent: battery(tracker.battery_level) }),
      element("td", { className: "clip", textContent: city, title: city }),
    ]);
    tr.dataset.id = String(tracker.id);
    return tr;
  }

  return {
    /** view: {rows, sort, page, message?} — `message` replaces the body (empty state, no match). */
    render({ rows, sort, page: wanted, message }) {
      for (const header of headers) {
        const active = header.dataset.sort === sort.key;
        header.setAttribute("aria-sort", active ? (sort.desc ? "descending" : "ascending") : "none");
      }
      if (message) {
        page = 1;
        body.replaceChildren(
          element("tr", { className: "table-message" }, [element("td", { colSpan: COLUMNS }, [].concat(message))]),
        );
        pager.hidden = true;
        return;
      }
      const pages = Math.max(1, Math.ceil(rows.length / pageSize));
      page = Math.min(Math.max(1, wanted), pages);
      const first = (page - 1) * pageSize;
      const shown = rows.slice(first, first + pageSize);
      body.replaceChildren(...shown.map(row));
      pager.hidden = rows.length <= pageSize;
      pagerText.textContent = `Rows ${formatCount(first + 1)}–${formatCount(first + shown.length)} of ${formatCount(rows.length)}`;
      previous.disabled = page <= 1;
      next.disabled = page >= pages;
      return page;
    },
  };
}
