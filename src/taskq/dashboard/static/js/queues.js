// Every queue that has tasks or flow control settings (GET /queues): what waits, what
// runs, how long the oldest ready task has waited, how fast it drains, and whether it is
// paused or limited; an admin session pauses, resumes and limits it in place.

import { html, useEffect, useRef, useState } from "../vendor/preact-htm.module.js";
import { canChange } from "./actions.js";
import { get, post, request } from "./api.js";
import { duration, number, rate } from "./format.js";
import { useLive } from "./live.js";
import { Card, CopyButton, Empty, ErrorNote, Loading, STATUSES, firstTaskCurl } from "./widgets.js";

// GET /queues is computed at most once a second: an answer fetched just after a change may
// predate it. A change's own answer is shown until the list agrees, or for this long.
const OWN_ANSWER_MS = 5000;

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

/** Paused or not, the concurrency limit and the rate limit. */
function FlowState({ queue }) {
  const rateLimit = queue.rate_limit ?? null;
  return html`<span class="flow-state">
    ${queue.paused ? html`<span class="badge badge-paused" title="No worker starts its tasks; running ones finish">paused</span>` : null}
    ${queue.concurrency === null && rateLimit === null
      ? html`<span class="muted" title="No limit on how many of its tasks run at once, nor how often they start">unlimited</span>`
      : null}
    ${queue.concurrency === null
      ? null
      : html`<span class="limit" title=${`At most ${queue.concurrency} of its tasks running at once, across every worker`}>≤ ${number(queue.concurrency)} at once</span>`}
    ${rateLimit === null
      ? null
      : html`<span class="limit" data-rate=${rateLimit} title=${`At most ${rateLimit.replace("/", " starts per ")}, across every worker`}>≤ ${rateLimit} starts</span>`}
    ${(queue.key_concurrency ?? null) === null
      ? null
      : html`<span class="limit" data-per-key=${queue.key_concurrency} title=${`At most ${queue.key_concurrency} of its tasks holding one concurrency key run at once`}>≤ ${number(queue.key_concurrency)} per key</span>`}
  </span>`;
}

function path(name, suffix = "") {
  return `/queues/${encodeURIComponent(name)}${suffix}`;
}

const COLUMNS = 1 + 1 + STATUSES.length + 3; // name, flow, the statuses, oldest and the rates

/**
 * One queue's row; for an admin, its Pause / Resume and Limit buttons, and under the row,
 * when open, the limit's editor and any refusal. `changed` gets the queue's new settings.
 */
function QueueRow({ queue: q, mayChange, changed }) {
  const [editing, setEditing] = useState(false);
  const [limit, setLimit] = useState("");
  const [rateLimit, setRateLimit] = useState("");
  const [perKey, setPerKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const input = useRef(null);
  useEffect(() => {
    if (editing && input.current) input.current.focus();
  }, [editing]);

  const change = async (call) => {
    setBusy(true);
    setError(null);
    try {
      changed(await call());
      setEditing(false);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const openEditor = () => {
    setLimit(q.concurrency === null ? "" : String(q.concurrency));
    setRateLimit(q.rate_limit ?? "");
    setPerKey(q.key_concurrency == null ? "" : String(q.key_concurrency));
    setError(null);
    setEditing(!editing);
  };
  const close = () => {
    setEditing(false);
    setError(null);
  };
  const setTo = (event) => {
    event.preventDefault();
    const n = Number(limit);
    if (limit.trim() === "" || !Number.isInteger(n) || n < 1) {
      setError(new Error("A limit is a whole number from 1 (Clear for no limit)."));
      return;
    }
    change(() => request("PATCH", path(q.name), { body: { concurrency: n } }));
  };
  const clear = () => change(() => request("PATCH", path(q.name), { body: { concurrency: null } }));
  const setRate = (event) => {
    event.preventDefault();
    if (rateLimit.trim() === "") {
      setError(new Error("A rate is N/UNIT: 100/s, 10/min, 5/10s, 1000/h (Clear for no limit)."));
      return;
    }
    // the service checks and names what is wrong (422): one place for the rule
    change(() => request("PATCH", path(q.name), { body: { rate_limit: rateLimit.trim() } }));
  };
  const clearRate = () => change(() => request("PATCH", path(q.name), { body: { rate_limit: null } }));
  const setKeyConcurrency = (event) => {
    event.preventDefault();
    const n = Number(perKey);
    if (perKey.trim() === "" || !Number.isInteger(n) || n < 1) {
      setError(new Error("Per key is a whole number from 1 (Clear for the default, 1)."));
      return;
    }
    change(() => request("PATCH", path(q.name), { body: { key_concurrency: n } }));
  };
  const clearKeyConcurrency = () => change(() => request("PATCH", path(q.name), { body: { key_concurrency: null } }));

  const windows = [...q.windows].sort((a, b) => a.window_s - b.window_s);
  const row = html`<tr key="row" data-queue=${q.name} data-paused=${String(q.paused)} class=${editing || error ? "has-flow-edit" : ""}>
    <td><a class="mono strong" href=${link(q.name)}>${q.name}</a></td>
    <td class="flow">
      <${FlowState} queue=${q} />
      ${mayChange
        ? html`<div class="flow-buttons">
            ${q.paused
              ? html`<button type="button" class="button small" data-action="resume" disabled=${busy}
                             title="Start its tasks again" onClick=${() => change(() => post(path(q.name, "/resume")))}>Resume</button>`
              : html`<button type="button" class="button small" data-action="pause" disabled=${busy}
                             title="Start none of its tasks; running ones finish" onClick=${() => change(() => post(path(q.name, "/pause")))}>Pause</button>`}
            <button type="button" class=${`button small ${editing ? "pressed" : ""}`} data-action="edit-limit" disabled=${busy}
                    aria-expanded=${String(editing)} title="Set or clear how many of its tasks may run at once, and how often they may start"
                    onClick=${openEditor}>Limit…</button>
          </div>`
        : null}
    </td>
    ${STATUSES.map(
      (s) => html`<td key=${s} class="num">${q.counts[s]
        ? html`<a href=${link(q.name, s)}>${number(q.counts[s])}</a>`
        : html`<span class="muted">0</span>`}</td>`,
    )}
    <td class=${`num ${q.oldest_ready_age_s > 60 ? "warn-text" : ""}`}>${q.oldest_ready_age_s === null ? html`<span class="muted">—</span>` : duration(q.oldest_ready_age_s)}</td>
    <td class="num nowrap"><${Rates} windows=${windows} field="completed_per_s" /></td>
    <td class="num nowrap"><${Rates} windows=${windows} field="failed_per_s" /></td>
  </tr>`;
  if (!editing && !error) return row;
  return [
    row,
    html`<tr key="edit" class="flow-edit" data-queue-edit=${q.name}><td colspan=${COLUMNS}>
      ${editing
        ? html`<form class="limit-form" novalidate onSubmit=${setTo}>
            <label>Run at most
              <input ref=${input} type="number" name="concurrency" min="1" step="1" inputmode="numeric" placeholder="n"
                     aria-label=${`Concurrency limit of ${q.name}`}
                     value=${limit} onInput=${(e) => setLimit(e.target.value)} disabled=${busy} />
              of its tasks at once</label>
            <span class="limit-buttons">
              <button type="submit" class="button small primary" data-action="set-limit" disabled=${busy}>Set</button>
              ${q.concurrency === null
                ? null
                : html`<button type="button" class="button small" data-action="clear-limit" disabled=${busy}
                               title="No limit on how many run at once" onClick=${clear}>Clear</button>`}
              <button type="button" class="link-button" onClick=${close}>Cancel</button>
            </span>
          </form>
          <form class="limit-form" novalidate onSubmit=${setRate}>
            <label>Start at most
              <input type="text" name="rate_limit" class="mono" size="8" placeholder="100/s" autocomplete="off"
                     aria-label=${`Rate limit of ${q.name}`}
                     value=${rateLimit} onInput=${(e) => setRateLimit(e.target.value)} disabled=${busy} />
              of its tasks (N/s, N/min, N/h, N/d)</label>
            <span class="limit-buttons">
              <button type="submit" class="button small primary" data-action="set-rate" disabled=${busy}>Set</button>
              ${(q.rate_limit ?? null) === null
                ? null
                : html`<button type="button" class="button small" data-action="clear-rate" disabled=${busy}
                               title="No limit on how often its tasks start" onClick=${clearRate}>Clear</button>`}
            </span>
          </form>
          <form class="limit-form" novalidate onSubmit=${setKeyConcurrency}>
            <label>Run at most
              <input type="number" name="key_concurrency" min="1" step="1" inputmode="numeric" placeholder="1"
                     aria-label=${`Concurrency per key of ${q.name}`}
                     value=${perKey} onInput=${(e) => setPerKey(e.target.value)} disabled=${busy} />
              of its tasks holding one concurrency key at once</label>
            <span class="limit-buttons">
              <button type="submit" class="button small primary" data-action="set-per-key" disabled=${busy}>Set</button>
              ${(q.key_concurrency ?? null) === null
                ? null
                : html`<button type="button" class="button small" data-action="clear-per-key" disabled=${busy}
                               title="One task of a key at a time (the default)" onClick=${clearKeyConcurrency}>Clear</button>`}
            </span>
          </form>`
        : null}
      ${error
        ? html`<div class="flow-error"><${ErrorNote} error=${error} />
            ${editing ? null : html`<button type="button" class="link-button" onClick=${close}>Dismiss</button>`}</div>`
        : null}
    </td></tr>`,
  ];
}

export function Queues({ session }) {
  // the answer is computed at most once a second by the service: following `stats` is cheap
  const { data, error, loading, refresh } = useLive(() => get("/queues"), "queues", { on: { stats: () => true }, minGapMs: 1000 });
  const mayChange = canChange(session);
  const [own, setOwn] = useState({}); // queue name -> {paused, concurrency, rate_limit, at}: a change's answer
  const later = useRef(null);
  useEffect(() => () => clearTimeout(later.current), []);
  const changed = (settings) => {
    const { paused, concurrency, rate_limit, key_concurrency } = settings;
    setOwn((old) => ({ ...old, [settings.name]: { paused, concurrency, rate_limit, key_concurrency, at: Date.now() } }));
    refresh();
    clearTimeout(later.current);
    later.current = setTimeout(refresh, 1100); // once the cached answer has surely expired
  };
  /** The queue as the list says, unless a change made here is newer than the list. */
  const current = (q) => {
    const mine = own[q.name];
    if (!mine || Date.now() - mine.at > OWN_ANSWER_MS) return q;
    const same = ["paused", "concurrency", "rate_limit", "key_concurrency"].every((k) => mine[k] === q[k]);
    if (same) return q;
    const { paused, concurrency, rate_limit, key_concurrency } = mine;
    return { ...q, paused, concurrency, rate_limit, key_concurrency };
  };
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  return html`<div class="page queues">
    <${ErrorNote} error=${error} />
    ${data.more ? html`<div class="note note-info">Only the first 1,000 queues by name are shown.</div>` : null}
    <${Card} className="table-card"
             actions=${html`<button type="button" class="button small" onClick=${refresh}>${loading ? "Refreshing…" : "Refresh"}</button>`}
             title=${`${number(data.queues.length)} queue${data.queues.length === 1 ? "" : "s"}`}>
      ${data.queues.length === 0
        ? html`<${Empty} title="No queues yet">
            <p>A queue appears with its first task (<code>"queue": "emails"</code> in the submission; "default" otherwise), or once it is paused or limited.</p>
            <pre class="code">${firstTaskCurl()}</pre>
            <${CopyButton} text=${firstTaskCurl()} label="Copy the command" />
          </${Empty}>`
        : html`<div class="table-wrap"><table class="table queues-table">
            <thead><tr>
              <th>queue</th>
              <th title="paused: no worker starts its tasks; the limits: how many may run at once, how many may start per period">flow</th>
              ${STATUSES.map((s) => html`<th key=${s} class="num"><i class=${`dot dot-${s}`}></i>${s}</th>`)}
              <th class="num wrap" title="since the run_at of its oldest task that is queued, due and held by no worker">oldest ready</th>
              <th class="num" title="per second over the last minute; then the last 5 and 15 minutes">completed/s</th>
              <th class="num" title="per second over the last minute; then the last 5 and 15 minutes">failed/s</th>
            </tr></thead>
            <tbody>${data.queues.map(
              (q) => html`<${QueueRow} key=${q.name} queue=${current(q)} mayChange=${mayChange} changed=${changed} />`,
            )}</tbody>
          </table></div>`}
    </${Card}>
  </div>`;
}
