// Every queue that has tasks (GET /queues): what waits, what runs, how long the oldest
// ready task has waited, and how fast it drains.

import { html } from "../vendor/preact-htm.module.js";
import { get } from "./api.js";
import { duration, number, rate } from "./format.js";
import { useLive } from "./live.js";
import { Card, CopyButton, Empty, ErrorNote, Loading, STATUSES, firstTaskCurl } from "./widgets.js";

function link(queue, status) {
  const params = new URLSearchParams({ queue });
  if (status) params.set("status", status);
  return `#/tasks?${params}`;
}

/** The last minute's rate, then the 5 and 15 minutes' in small type. */
function Rates({ windows, field }) {
  const [first, ...rest] = windows;
  if (!first) return html`<span class="muted">—</span>`;
  return html`<span class="rates"><strong class=${first[field] ? "" : "muted"}>${rate(first[field])}</strong>
    <span class="muted small" title=${rest.map((w) => `${w.window_s / 60} min: ${rate(w[field])}`).join(", ")}>${rest.map((w) => rate(w[field])).join(" · ")}</span></span>`;
}

export function Queues() {
  // the answer is computed at most once a second by the service: following `stats` is cheap
  const { data, error, loading, refresh } = useLive(() => get("/queues"), "queues", { on: { stats: () => true }, minGapMs: 1000 });
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  return html`<div class="page queues">
    <${ErrorNote} error=${error} />
    ${data.more ? html`<div class="note note-info">Only the first 1,000 queues by name are shown.</div>` : null}
    <${Card} className="table-card"
             actions=${html`<button type="button" class="button small" onClick=${refresh}>${loading ? "Refreshing…" : "Refresh"}</button>`}
             title=${`${number(data.queues.length)} queue${data.queues.length === 1 ? "" : "s"}`}>
      ${data.queues.length === 0
        ? html`<${Empty} title="No queues yet">
            <p>A queue appears with its first task (<code>"queue": "emails"</code> in the submission; "default" otherwise).</p>
            <pre class="code">${firstTaskCurl()}</pre>
            <${CopyButton} text=${firstTaskCurl()} label="Copy the command" />
          </${Empty}>`
        : html`<div class="table-wrap"><table class="table queues-table">
            <thead><tr>
              <th>queue</th>
              ${STATUSES.map((s) => html`<th key=${s} class="num"><i class=${`dot dot-${s}`}></i>${s}</th>`)}
              <th class="num" title="since the run_at of its oldest task that is queued, due and held by no worker">oldest ready</th>
              <th class="num" title="per second over the last minute; then the last 5 and 15 minutes">completed/s</th>
              <th class="num" title="per second over the last minute; then the last 5 and 15 minutes">failed/s</th>
            </tr></thead>
            <tbody>${data.queues.map((q) => {
              const windows = [...q.windows].sort((a, b) => a.window_s - b.window_s);
              return html`<tr key=${q.name} data-queue=${q.name}>
                <td><a class="mono strong" href=${link(q.name)}>${q.name}</a></td>
                ${STATUSES.map(
                  (s) => html`<td key=${s} class="num">${q.counts[s]
                    ? html`<a href=${link(q.name, s)}>${number(q.counts[s])}</a>`
                    : html`<span class="muted">0</span>`}</td>`,
                )}
                <td class=${`num ${q.oldest_ready_age_s > 60 ? "warn-text" : ""}`}>${q.oldest_ready_age_s === null ? html`<span class="muted">—</span>` : duration(q.oldest_ready_age_s)}</td>
                <td class="num nowrap"><${Rates} windows=${windows} field="completed_per_s" /></td>
                <td class="num nowrap"><${Rates} windows=${windows} field="failed_per_s" /></td>
              </tr>`;
            })}</tbody>
          </table></div>`}
    </${Card}>
  </div>`;
}
