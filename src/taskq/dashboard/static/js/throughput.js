// Completed and failed tasks per second over the last minutes, for the overview's chart.
// Kept for the page's whole life, not the overview's, so the chart is already full when the
// user comes back to it. Fed by the stream's `stats` messages (`per_second`, every process
// counted); without a stream, by the change of the store's counts between two polls.

import { subscribe } from "./events.js";

export const SPAN_MS = 5 * 60 * 1000;

let points = [];
let lastCounts = null;
const listeners = new Set();

function add(at, values) {
  points.push({ at, values });
  const oldest = at - SPAN_MS - 2000;
  while (points.length && points[0].at < oldest) points.shift();
  for (const listener of listeners) listener(points);
}

/** Start listening to the stream (once, at start-up). */
export function start() {
  subscribe("stats", (message) => {
    const at = Date.parse(message.at) || Date.now();
    const perSecond = message.per_second || {};
    lastCounts = null;
    add(at, { completed: perSecond.completed || 0, failed: perSecond.failed || 0, submitted: perSecond.submitted || 0 });
  });
}

/**
 * A polled GET /stats answer, when there is no stream: the rise in completed and failed
 * counts since the last poll, per second (a fall, from pruning or deletes, counts as 0).
 */
export function fromCounts(counts, atIso) {
  const at = Date.parse(atIso) || Date.now();
  if (lastCounts && at > lastCounts.at) {
    const seconds = (at - lastCounts.at) / 1000;
    add(at, {
      completed: Math.max(0, counts.completed - lastCounts.completed) / seconds,
      failed: Math.max(0, counts.failed - lastCounts.failed) / seconds,
    });
  }
  lastCounts = { at, completed: counts.completed, failed: counts.failed };
}

export function current() {
  return points;
}

export function watch(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
