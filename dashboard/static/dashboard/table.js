// The trackers table: one page of rows as the server sorted and paged them (the page never
// holds more trackers than it shows). Rows are focusable; Enter or a click centres the map on
// the tracker.

import { element } from "./dom.js";
import { battery, exactTime, formatCount, relativeTime } from "./format.js";

const COLUMNS = 8;
const LOW_BATTERY_PERCENT = JSON.parse(document.getElementById("page-config").textContent).low_battery_percent;

/**
 * createTable(root, {describe, onActivate, onSort, onPage}) → {render, setBusy}.
 * `render(view)` draws the server's page `view.rows`, or the message `view.message`.
 */
export function createTable(root, { describe, onActivate, onSort, onPage }) {
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
    const low = tracker.battery_level !== null && tracker.battery_level !== undefined && tracker.battery_level <= LOW_BATTERY_PERCENT;
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
    /**
     * view: {rows, sort, page, pages, total, first, message?} — `rows` are the server's page
     * `page` of `pages` (starting at row `first`, 1-based); `message` replaces the body
     * (empty state, no match).
     */
    render({ rows, sort, page: shownPage = 1, pages = 1, total = 0, first = 1, message }) {
      for (const header of headers) {
        const active = header.dataset.sort === sort.key;
        header.setAttribute("aria-sort", active ? (sort.desc ? "descending" : "ascending") : "none");
      }
      page = shownPage;
      if (message) {
        body.replaceChildren(
          element("tr", { className: "table-message" }, [element("td", { colSpan: COLUMNS }, [].concat(message))]),
        );
        pager.hidden = true;
        return;
      }
      body.replaceChildren(...rows.map(row));
      pager.hidden = pages <= 1;
      pagerText.textContent = `Rows ${formatCount(first)}–${formatCount(first + rows.length - 1)} of ${formatCount(total)}`;
      previous.disabled = page <= 1;
      next.disabled = page >= pages;
    },
    /** A page is on its way: the rows shown are the previous page's until it arrives. */
    setBusy(busy) {
      root.setAttribute("aria-busy", String(busy));
    },
  };
}
