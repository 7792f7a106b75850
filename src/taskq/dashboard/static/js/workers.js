// The live workers (GET /workers): who runs what right now. A worker is listed while its
// heartbeat is fresh; the list follows joins and leaves from the stream, and task starts
// and ends for the tasks each one runs.

import { html } from "../vendor/preact-htm.module.js";
import { get } from "./api.js";
import { number } from "./format.js";
import { useLive } from "./live.js";
import { Card, Empty, ErrorNote, Id, Loading, Time } from "./widgets.js";

const RUNNING_CHANGES = new Set(["started", "completed", "failed", "retried", "cancelled", "released"]);

export function Workers() {
  const { data, error, loading, refresh } = useLive(() => get("/workers"), "workers", {
    on: { worker: () => true, task: (e) => RUNNING_CHANGES.has(e.kind) },
    minGapMs: 1000,
    everyMs: 10000, // last_seen moves on with heartbeats, which send no event
  });
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  const running = data.workers.reduce((sum, w) => sum + w.running.length, 0);
  const slots = data.workers.reduce((sum, w) => sum + w.concurrency, 0);
  return html`<div class="page workers">
    <${ErrorNote} error=${error} />
    <${Card} className="table-card" title=${`${number(data.workers.length)} worker${data.workers.length === 1 ? "" : "s"} · ${number(running)} of ${number(slots)} slots busy`}
             actions=${html`<button type="button" class="button small" onClick=${refresh}>${loading ? "Refreshing…" : "Refresh"}</button>`}>
      ${data.workers.length === 0
        ? html`<${Empty} title="No worker is running">
            <p>Tasks wait in their queues until one starts. Start one beside the API:</p>
            <pre class="code">taskq worker --database ./data/tasks.db</pre>
            <p class="muted">(or <code>taskq run</code>, the API and a worker in one process)</p>
          </${Empty}>`
        : html`<div class="table-wrap"><table class="table workers-table">
            <thead><tr><th>worker</th><th>host</th><th class="num">pid</th><th>queues</th><th class="num">busy</th><th>running tasks</th><th>started</th><th>last seen</th></tr></thead>
            <tbody>${data.workers.map(
              (w) => html`<tr key=${w.id}>
                <td><span class="mono" title=${w.id}>${w.id.length > 28 ? `…${w.id.slice(-24)}` : w.id}</span></td>
                <td>${w.host}</td>
                <td class="num mono">${w.pid}</td>
                <td>${w.queues === null
                  ? html`<span class="muted">all</span>`
                  : w.queues.map((q) => html`<a key=${q} class="pill mono" href=${`#/tasks?queue=${encodeURIComponent(q)}`}>${q}</a>`)}</td>
                <td class="num">
                  <span class="meter" title=${`${w.running.length} of ${w.concurrency}`}>
                    <span class="bar"><span class="bar-fill" style=${{ width: `${Math.min(100, (100 * w.running.length) / Math.max(1, w.concurrency))}%` }}></span></span>
                    ${w.running.length}/${w.concurrency}
                  </span>
                </td>
                <td class="running-ids">${w.running.length
                  ? w.running.map((id) => html`<${Id} key=${id} id=${id} href=${`#/tasks/${id}`} />`)
                  : html`<span class="muted">idle</span>`}</td>
                <td class="nowrap"><${Time} at=${w.started_at} /></td>
                <td class="nowrap"><${Time} at=${w.last_seen} /></td>
              </tr>`,
            )}</tbody>
          </table></div>`}
    </${Card}>
  </div>`;
}
