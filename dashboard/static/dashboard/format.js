// How values read on the page: counts, relative and exact times, battery, status labels.

const numberFormat = new Intl.NumberFormat("en");
const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "auto", style: "short" });
const exactFormat = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "medium",
  timeZone: "UTC",
});

const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

export function formatCount(n) {
  return numberFormat.format(n);
}

export function plural(n, one, many) {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** "5 minutes ago", "yesterday"; "never" for a tracker that has not reported. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = (new Date(iso).getTime() - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relativeFormat.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

export function exactTime(iso) {
  return iso ? `${exactFormat.format(new Date(iso))} UTC` : "No report received yet";
}

export function battery(level) {
  return level === null || level === undefined ? "—" : `${level} %`;
}
