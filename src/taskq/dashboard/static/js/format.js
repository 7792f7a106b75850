// How times, durations and numbers read on every page: one place, so "3 s ago" and
// "1.2 s" look the same in a table, a card and a tooltip.

const NUMBER = new Intl.NumberFormat("en");

/** Milliseconds since the epoch of an ISO 8601 time from the API, or null. */
export function parseTime(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** "3 s ago", "in 5 min": the distance from `now` (both in ms). */
export function relative(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "—";
  const delta = (now - ms) / 1000;
  const text = span(Math.abs(delta));
  if (Math.abs(delta) < 1) return "just now";
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

// Whole units only: a relative time is for glancing, the tooltip holds the exact one.
function span(s) {
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** The exact time, in the viewer's zone and in UTC, for a tooltip. */
export function absolute(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const local = d.toLocaleString("en-GB", { hour12: false });
  return `${local} (local)\n${d.toISOString()}`;
}

/** A short local date and time: "2 Dec 03:53:26". */
export function clock(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toLocaleString("en-GB", {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
}

/** A duration given in seconds: "850 ms", "1.2 s", "3 min 4 s", "2 h 5 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 0.001) return "< 1 ms";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

/** Seconds between two ISO times, or null when either is missing. */
export function between(fromIso, toIso) {
  const a = parseTime(fromIso);
  const b = parseTime(toIso);
  return a === null || b === null ? null : Math.max(0, (b - a) / 1000);
}

export function number(n) {
  return n === null || n === undefined ? "—" : NUMBER.format(n);
}

/** Tasks per second: "0", "0.4/s", "12/s", "1,204/s". */
export function rate(perSecond) {
  if (!perSecond) return "0/s";
  if (perSecond < 10) return `${Number(perSecond.toFixed(1))}/s`;
  return `${NUMBER.format(Math.round(perSecond))}/s`;
}

/** The last 8 characters of a UUID, enough to tell tasks apart on a screen: a task id
 * begins with its creation time (its first 8 characters change every 65 s) and ends at random. */
export function shortId(id) {
  return id && id.length > 8 ? id.slice(-8) : id;
}

/** JSON for reading: indented, keys in the order they came. */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
