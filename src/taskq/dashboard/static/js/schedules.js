// Cron schedules the live workers run (GET /schedules): when each fires next and when it
// last enqueued a task.

import { html } from "../vendor/preact-htm.module.js";
import { get } from "./api.js";
import { number } from "./format.js";
import { useLive } from "./live.js";
import { Card, Empty, ErrorNote, Loading, Time } from "./widgets.js";

export function Schedules() {
  const { data, error, loading, refresh } = useLive(() => get("/schedules"), "schedules", {
    on: { worker: () => true, task: (e) => e.kind === "submitted" && data && data.schedules.some((s) => s.action === e.action) },
    minGapMs: 1000,
    everyMs: 15000, // next_run moves on by itself
  });
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  return html`<div class="page schedules">
    <${ErrorNote} error=${error} />
    <${Card} className="table-card" title=${`${number(data.schedules.length)} schedule${data.schedules.length === 1 ? "" : "s"}`}
             actions=${html`<button type="button" class="button small" onClick=${refresh}>${loading ? "Refreshing…" : "Refresh"}</button>`}>
      ${data.schedules.length === 0
        ? html`<${Empty} title="No schedules">
            <p>A schedule is an action with a <code>cron</code> expression, run by a live worker:</p>
            <pre class="code">@taskq.action("cleanup", cron="*/15 * * * *")
async def cleanup(data: dict) -> None: ...</pre>
            <p class="muted">or, without code, in taskq.toml: <code>[cron]</code> <code>uppercase = "0 * * * *"</code></p>
          </${Empty}>`
        : html`<div class="table-wrap"><table class="table">
            <thead><tr><th>action</th><th>expression (UTC)</th><th>next run</th><th>last tick</th><th></th></tr></thead>
            <tbody>${data.schedules.map(
              (s) => html`<tr key=${`${s.action} ${s.expression}`}>
                <td class="strong">${s.action}</td>
                <td class="mono">${s.expression}</td>
                <td class="nowrap"><${Time} at=${s.next_run} /> <span class="muted small"><${Time} at=${s.next_run} exact /></span></td>
                <td class="nowrap">${s.last_tick ? html`<${Time} at=${s.last_tick} />` : html`<span class="muted">none stored</span>`}</td>
                <td><a href=${`#/tasks?action=${encodeURIComponent(s.action)}`}>its tasks →</a></td>
              </tr>`,
            )}</tbody>
          </table></div>`}
    </${Card}>
  </div>`;
}
