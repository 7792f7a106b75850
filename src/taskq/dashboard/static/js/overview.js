// The overview: the store at a glance, from GET /stats (pushed once a second by the
// stream), GET /queues and one small page of failed tasks: nothing here grows with the
// number of tasks stored.

import { html, useEffect, useState } from "../vendor/preact-htm.module.js";
import { get } from "./api.js";
import { Chart } from "./chart.js";
import { subscribe } from "./events.js";
import { duration, number, rate } from "./format.js";
import { useConnection, useLive } from "./live.js";
import * as throughput from "./throughput.js";
import { Badge, Card, CopyButton, Empty, ErrorNote, Loading, STATUSES, Time, firstTaskCurl } from "./widgets.js";

const POLL_STATS_MS = 2000;
const BUSIEST = 6;
const RECENT_FAILURES = 6;

/** GET /stats: the stream's copy once a second when live, else polled. */
function useStats() {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  const state = useConnection();
  useEffect(() => subscribe("stats", (message) => message.stats && setStats(message.stats)), []);
  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const answer = await get("/stats");
        if (stopped) return;
        setStats(answer);
        setError(null);
        if (state !== "live") throughput.fromCounts(answer.counts, answer.generated_at);
      } catch (caught) {
        if (!stopped) setError(caught);
      }
    };
    load();
    const timer = state === "live" ? null : setInterval(load, POLL_STATS_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [state]);
  return { stats, error };
}

const SMOOTH = 5; // seconds: work done in batches makes a raw per-second line saw-toothed

/** The throughput samples, each the mean of the last SMOOTH seconds. */
function usePoints() {
  const [points, setPoints] = useState(throughput.current());
  useEffect(() => throughput.watch((next) => setPoints([...next])), []);
  return points.map((point, i) => {
    const recent = points.slice(Math.max(0, i - SMOOTH + 1), i + 1);
    const mean = (name) => recent.reduce((sum, p) => sum + (p.values[name] || 0), 0) / recent.length;
    return { at: point.at, values: { completed: mean("completed"), failed: mean("failed") } };
  });
}

function StatusCards({ counts }) {
  const total = STATUSES.reduce((sum, s) => sum + counts[s], 0);
  return html`<div class="stat-cards">
    <a class="stat-card stat-total" href="#/tasks">
      <span class="stat-label">All tasks</span><span class="stat-value">${number(total)}</span>
    </a>
    ${STATUSES.map(
      (s) => html`<a key=${s} class=${`stat-card stat-${s}`} href=${`#/tasks?status=${s}`} data-status=${s}>
        <span class="stat-label"><i class=${`dot dot-${s}`}></i>${s}</span>
        <span class="stat-value">${number(counts[s])}</span>
      </a>`,
    )}
  </div>`;
}

const SERIES = [
  { name: "completed", label: "completed", className: "series-completed" },
  { name: "failed", label: "failed", className: "series-failed" },
];

function Throughput({ windows }) {
  const points = usePoints();
  const minute = windows && windows.find((w) => w.window_s === 60);
  return html`<${Card} title="Throughput" className="span-2"
      actions=${minute ? html`<span class="muted">per second, ${SMOOTH} s average · last minute: ${rate(minute.completed_per_s)} completed, ${rate(minute.failed_per_s)} failed</span>` : null}>
    ${points.length < 2
      ? html`<div class="chart-waiting muted">Collecting the first seconds…</div>`
      : html`<${Chart} points=${points} series=${SERIES} maxSpanMs=${throughput.SPAN_MS} height=${250}
               label="Completed and failed tasks per second" />`}
  </${Card}>`;
}

function Latency({ windows }) {
  if (!windows) return null;
  const rows = [...windows].sort((a, b) => a.window_s - b.window_s);
  const five = rows.find((w) => w.window_s === 300) || rows[0];
  return html`<${Card} title="Wait and run time">
    <div class="latency-figures">
      <div><span class="stat-label">wait p50</span><span class="figure">${duration(five.wait_s.p50)}</span></div>
      <div><span class="stat-label">wait p95</span><span class="figure">${duration(five.wait_s.p95)}</span></div>
      <div><span class="stat-label">run p50</span><span class="figure">${duration(five.run_s.p50)}</span></div>
      <div><span class="stat-label">run p95</span><span class="figure">${duration(five.run_s.p95)}</span></div>
    </div>
    <p class="muted small">Over the last ${five.window_s / 60} minutes. Wait: due → started; run: started → finished. Below: p50 · p95 per window.</p>
    <div class="table-wrap"><table class="table compact">
      <thead><tr><th>window</th><th class="num">wait</th><th class="num">run</th></tr></thead>
      <tbody>${rows.map(
        (w) => html`<tr key=${w.window_s}>
          <td class="nowrap" title=${`${number(w.completed + w.failed)} tasks finished${w.sampled ? "; percentiles over the 10,000 that finished last" : ""}`}>${w.window_s / 60} min</td>
          <td class="num nowrap">${duration(w.wait_s.p50)} · ${duration(w.wait_s.p95)}</td>
          <td class="num nowrap">${duration(w.run_s.p50)} · ${duration(w.run_s.p95)}</td>
        </tr>`,
      )}</tbody>
    </table></div>
  </${Card}>`;
}

function backlog(queue) {
  return queue.counts.queued + queue.counts.running;
}

function BusiestQueues() {
  const { data, error } = useLive(() => get("/queues"), "queues", { on: { stats: () => true }, minGapMs: 2000 });
  const queues = data ? [...data.queues].sort((a, b) => backlog(b) - backlog(a) || a.name.localeCompare(b.name)).slice(0, BUSIEST) : [];
  return html`<${Card} title="Busiest queues" actions=${html`<a href="#/queues">All queues →</a>`}>
    <${ErrorNote} error=${error} />
    ${!data && !error ? html`<${Loading} />` : null}
    ${data && !queues.length ? html`<p class="muted">No queue has tasks yet.</p>` : null}
    ${queues.length
      ? html`<div class="table-wrap"><table class="table compact">
          <thead><tr><th>queue</th><th class="num">queued</th><th class="num">running</th><th class="num">oldest ready</th><th class="num">done/s (1 min)</th></tr></thead>
          <tbody>${queues.map((q) => {
            const minute = q.windows.find((w) => w.window_s === 60);
            return html`<tr key=${q.name}>
              <td><a href=${`#/tasks?queue=${encodeURIComponent(q.name)}`} class="mono">${q.name}</a></td>
              <td class="num">${number(q.counts.queued)}</td>
              <td class="num">${number(q.counts.running)}</td>
              <td class="num">${q.oldest_ready_age_s === null ? html`<span class="muted">—</span>` : duration(q.oldest_ready_age_s)}</td>
              <td class="num">${minute ? rate(minute.completed_per_s) : "—"}</td>
            </tr>`;
          })}</tbody>
        </table></div>`
      : null}
  </${Card}>`;
}

function RecentFailures() {
  const { data, error } = useLive(() => get("/tasks", { status: "failed", limit: RECENT_FAILURES }), "failures", {
    on: { task: (e) => e.kind === "failed" || e.kind === "deleted" || e.kind === "retried" },
  });
  return html`<${Card} title="Recent failures" actions=${html`<a href="#/tasks?status=failed">All failed →</a>`}>
    <${ErrorNote} error=${error} />
    ${!data && !error ? html`<${Loading} />` : null}
    ${data && !data.tasks.length ? html`<p class="muted">No failed task. Nice.</p>` : null}
    ${data && data.tasks.length
      ? html`<ul class="failures">${data.tasks.map(
          (t) => html`<li key=${t.id}>
            <div class="failure-head">
              <${Badge} status=${t.status} />
              <a href=${`#/tasks/${t.id}`} class="strong">${t.action}</a>
              <span class="muted mono">${t.queue}</span>
              <span class="grow"></span>
              <${Time} at=${t.processed_at} />
            </div>
            <div class="failure-error mono" title=${t.error}>${t.error}</div>
          </li>`,
        )}</ul>`
      : null}
  </${Card}>`;
}

export function Overview() {
  const { stats, error } = useStats();
  if (!stats) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  const total = STATUSES.reduce((sum, s) => sum + stats.counts[s], 0);
  return html`<div class="page overview">
    <${ErrorNote} error=${error} />
    <${StatusCards} counts=${stats.counts} />
    ${total === 0
      ? html`<${Card}><${Empty} title="No tasks yet">
          <p>Submit a first task and watch it appear here:</p>
          <pre class="code">${firstTaskCurl()}</pre>
          <${CopyButton} text=${firstTaskCurl()} label="Copy the command" />
        </${Empty}></${Card}>`
      : null}
    <div class="grid-3">
      <${Throughput} windows=${stats.windows} />
      <${Latency} windows=${stats.windows} />
    </div>
    <div class="grid-2">
      <${BusiestQueues} />
      <${RecentFailures} />
    </div>
  </div>`;
}
