// The top bar's attention chips: how many trackers of the user's scope have a low battery, went
// silent, or never reported (`GET /api/attention/`). A chip is a toggle button: pressing it applies
// its filter (battery_max / silent_hours, in the URL like every filter), pressing it again removes it.
// "Silent" and "never reported" are two values of the one `silent_hours` filter, so at most one of
// them is pressed.

import { fetchAttention } from "./api.js";
import { element } from "./dom.js";
import { formatCount } from "./format.js";
import { NEVER_REPORTED_HOURS } from "./state.js";

const REFRESH_MS = 60_000; // the counts age with the clock (silence) as well as with reports
const AFTER_CHANGES_MS = 5_000; // live changes ask for fresh counts at most this often

/**
 * createAttention(root, {lowBatteryPercent, silentAfterHours, onApply}) → {setFilters, refresh, changed}.
 * `onApply({battery_max, silent_hours})` receives the attention filters a chip asks for.
 */
export function createAttention(root, { lowBatteryPercent, silentAfterHours, onApply }) {
  const chips = [
    {
      key: "low_battery",
      filter: "battery_max",
      value: lowBatteryPercent,
      text: "low battery",
      hint: `battery at or below ${lowBatteryPercent} %`,
    },
    {
      key: "silent",
      filter: "silent_hours",
      value: silentAfterHours,
      text: "silent",
      hint: `no report for ${silentAfterHours} hours or more`,
    },
    {
      key: "never_reported",
      filter: "silent_hours",
      value: NEVER_REPORTED_HOURS,
      text: "never reported",
      hint: "no report received yet",
    },
  ];
  let filters = { battery_max: null, silent_hours: null };

  for (const chip of chips) {
    chip.count = element("span", { className: "chip-count", textContent: "…" });
    chip.button = element("button", { type: "button", className: `chip chip-${chip.key}` }, [
      chip.count,
      element("span", { className: "chip-text", textContent: ` ${chip.text}` }),
    ]);
    chip.button.dataset.chip = chip.key;
    chip.button.setAttribute("aria-pressed", "false");
    chip.button.title = `Show only the trackers with ${chip.hint}`;
    chip.button.addEventListener("click", () => {
      const pressed = filters[chip.filter] === chip.value;
      onApply({ ...filters, [chip.filter]: pressed ? null : chip.value });
    });
  }
  root.replaceChildren(...chips.map((chip) => chip.button));

  function render(counts) {
    for (const chip of chips) {
      const count = counts?.[chip.key];
      chip.count.textContent = typeof count === "number" ? formatCount(count) : "—";
      chip.button.classList.toggle("is-zero", count === 0);
      chip.button.dataset.count = typeof count === "number" ? String(count) : "";
    }
    root.dataset.state = counts ? "loaded" : "error";
  }

  let controller = null;
  async function refresh() {
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    try {
      const counts = await fetchAttention({ signal: mine.signal });
      if (controller === mine) render(counts);
    } catch (error) {
      if (error.name !== "AbortError" && controller === mine) {
        render(null);
        root.title = `The attention counts could not be loaded. ${error.message}`;
      }
    }
  }

  let changedTimer = null;
  setInterval(refresh, REFRESH_MS);

  return {
    /** Shows which chips the current filters press. */
    setFilters(next) {
      filters = { battery_max: next.battery_max, silent_hours: next.silent_hours };
      for (const chip of chips) chip.button.setAttribute("aria-pressed", String(filters[chip.filter] === chip.value));
    },
    refresh,
    /** A live change arrived: fresh counts soon (several changes share one request). */
    changed() {
      if (changedTimer !== null) return;
      changedTimer = setTimeout(() => {
        changedTimer = null;
        refresh();
      }, AFTER_CHANGES_MS);
    },
  };
}
