// The filter bar: brand, production run and status multi-selects, search, "Clear filters".
// Each multi-select is a button that opens a list of checkboxes: native controls, so
// Tab, Space and Enter work as everywhere; Escape closes the list.

import { element } from "./dom.js";
import { emptyFilters, hasFilter } from "./state.js";

const SEARCH_DEBOUNCE_MS = 250;
const FIND_BOX_FROM = 8; // options from which a list gets its own "find" box

/** A multi-select of checkboxes in a drop-down panel. */
class Checklist {
  constructor(container, { id, label, noun, onChange }) {
    this.noun = noun;
    this.onChange = onChange;
    this.options = [];
    this.selected = new Set();

    this.toggle = element("button", {
      type: "button",
      id: `${id}-toggle`,
      className: "checklist-toggle",
    });
    this.toggle.setAttribute("aria-expanded", "false");
    this.toggle.setAttribute("aria-controls", `${id}-panel`);
    this.labelText = element("span", { className: "checklist-label", textContent: label });
    this.summary = element("span", { className: "checklist-summary" });
    this.toggle.append(this.labelText, this.summary);

    this.find = element("input", { type: "search", className: "checklist-find", placeholder: `Find a ${noun}` });
    this.find.setAttribute("aria-label", `Find a ${noun}`);
    this.list = element("ul", { className: "checklist-options" });
    this.clearButton = element("button", { type: "button", className: "link-button", textContent: "Clear" });
    this.panel = element("div", { id: `${id}-panel`, className: "checklist-panel", hidden: true }, [
      this.find,
      this.list,
      element("div", { className: "checklist-actions" }, [this.clearButton]),
    ]);
    this.panel.setAttribute("role", "group");
    this.panel.setAttribute("aria-label", label);
    this.root = element("div", { className: "checklist", id }, [this.toggle, this.panel]);
    container.append(this.root);

    this.toggle.addEventListener("click", () => this.setOpen(this.panel.hidden));
    this.find.addEventListener("input", () => this.applyFind());
    this.clearButton.addEventListener("click", () => {
      if (!this.selected.size) return;
      this.selected.clear();
      this.renderOptions();
      this.onChange();
    });
    this.list.addEventListener("change", (event) => {
      const value = event.target.value;
      const key = this.options.find((option) => String(option.value) === value)?.value;
      if (key === undefined) return;
      if (event.target.checked) this.selected.add(key);
      else this.selected.delete(key);
      this.renderSummary();
      this.onChange();
    });
    this.root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) {
        event.stopPropagation();
        this.setOpen(false);
        this.toggle.focus();
      }
    });
    document.addEventListener("pointerdown", (event) => {
      if (!this.panel.hidden && !this.root.contains(event.target)) this.setOpen(false);
    });
    this.root.addEventListener("focusout", (event) => {
      if (event.relatedTarget && !this.root.contains(event.relatedTarget)) this.setOpen(false);
    });
  }

  setOpen(open) {
    this.panel.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    if (open) (this.options.length >= FIND_BOX_FROM ? this.find : this.list.querySelector("input"))?.focus();
  }

  /** options: [{value, label, hint?, swatch?}]; selections not among them are dropped. */
  setOptions(options) {
    this.options = options;
    const known = new Set(options.map((option) => option.value));
    for (const value of this.selected) if (!known.has(value)) this.selected.delete(value);
    this.find.hidden = options.length < FIND_BOX_FROM;
    this.renderOptions();
  }

  setSelected(values) {
    const known = new Set(this.options.map((option) => option.value));
    this.selected = new Set(values.filter((value) => known.has(value)));
    this.renderOptions();
  }

  values() {
    return this.options.map((option) => option.value).filter((value) => this.selected.has(value));
  }

  renderOptions() {
    this.list.replaceChildren(
      ...this.options.map((option) => {
        const box = element("input", { type: "checkbox", value: String(option.value) });
        box.checked = this.selected.has(option.value);
        const parts = [box];
        if (option.swatch) parts.push(element("span", { className: `swatch status-${option.swatch}` }));
        parts.push(element("span", { className: "option-label", textContent: option.label }));
        if (option.hint) parts.push(element("span", { className: "option-hint", textContent: option.hint }));
        return element("li", {}, [element("label", {}, parts)]);
      }),
    );
    if (!this.options.length) {
      this.list.append(element("li", { className: "checklist-none", textContent: `No ${this.noun} to choose` }));
    }
    this.applyFind();
    this.renderSummary();
  }

  applyFind() {
    const needle = this.find.value.trim().toLowerCase();
    for (const item of this.list.children) {
      item.hidden = needle !== "" && !item.textContent.toLowerCase().includes(needle);
    }
  }

  renderSummary() {
    const chosen = this.options.filter((option) => this.selected.has(option.value));
    if (chosen.length === 0) this.summary.textContent = "All";
    else if (chosen.length === 1) this.summary.textContent = chosen[0].label;
    else this.summary.textContent = `${chosen.length} selected`;
    this.root.classList.toggle("is-active", chosen.length > 0);
    this.toggle.setAttribute("aria-label", `${this.labelText.textContent}: ${this.summary.textContent}`);
  }
}

/**
 * Builds the filter bar inside `form` from the embedded reference data.
 * `onChange(filters, {debounced})` is called with a fresh filters object on every change.
 */
export function createFilters(form, { brands, runs, statuses, onChange }) {
  const brandNames = new Map(brands.map((brand) => [brand.id, brand.name]));
  const emit = () => onChange(current());

  const brandList = new Checklist(form.querySelector("[data-filter=brands]"), {
    id: "brand-filter",
    label: "Brands",
    noun: "brand",
    onChange: () => {
      narrowRuns();
      emit();
    },
  });
  const runList = new Checklist(form.querySelector("[data-filter=runs]"), {
    id: "run-filter",
    label: "Production runs",
    noun: "production run",
    onChange: emit,
  });
  const statusList = new Checklist(form.querySelector("[data-filter=statuses]"), {
    id: "status-filter",
    label: "Status",
    noun: "status",
    onChange: emit,
  });
  const search = form.querySelector("#search");
  const clear = form.querySelector("#clear-filters");
  // The attention filters have no control here (the top bar's chips set them): kept as set, and
  // cleared by "Clear filters" with the rest.
  let attention = { battery_max: null, silent_hours: null };

  brandList.setOptions(brands.map((brand) => ({ value: brand.id, label: brand.name })));
  statusList.setOptions(statuses.map((status) => ({ value: status.value, label: status.label, swatch: status.value })));

  // Runs narrow to the chosen brands; with none chosen every run is offered, named with its brand.
  function narrowRuns() {
    const chosen = new Set(brandList.values());
    runList.setOptions(
      runs
        .filter((run) => chosen.size === 0 || chosen.has(run.brand_id))
        .map((run) => ({ value: run.id, label: run.name, hint: chosen.size === 1 ? "" : brandNames.get(run.brand_id) })),
    );
  }
  narrowRuns();

  function current() {
    return {
      brand_ids: brandList.values(),
      production_run_ids: runList.values(),
      status: statusList.values(),
      search: search.value.trim(),
      battery_max: attention.battery_max,
      silent_hours: attention.silent_hours,
    };
  }

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(emit, SEARCH_DEBOUNCE_MS);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault(); // Enter in the search box applies at once
    clearTimeout(searchTimer);
    emit();
  });
  clear.addEventListener("click", () => {
    clearTimeout(searchTimer);
    set(emptyFilters());
    emit();
    search.focus();
  });

  function set(filters) {
    brandList.setSelected(filters.brand_ids);
    narrowRuns();
    runList.setSelected(filters.production_run_ids);
    statusList.setSelected(filters.status);
    search.value = filters.search;
    attention = { battery_max: filters.battery_max, silent_hours: filters.silent_hours };
    clear.disabled = !hasFilter(filters);
  }

  return {
    /** Shows `filters` in the controls (after a reload or Back) without emitting a change. */
    set,
    current,
    markApplied(filters) {
      clear.disabled = !hasFilter(filters);
    },
  };
}
