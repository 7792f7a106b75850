// One task: what was submitted, what came of it, every attempt's error, and what can be
// done to it now. It follows the task's own changes from the stream.

import { html, useState } from "../vendor/preact-htm.module.js";
import { get } from "./api.js";
import { ACTIONS, canChange } from "./actions.js";
import { between, duration, parseTime, pretty } from "./format.js";
import { useLive } from "./live.js";
import { Badge, Card, Confirm, CopyButton, Empty, ErrorNote, Id, Loading, Note, Time } from "./widgets.js";

/** The `curl` that submits this task again, to this service. */
export function curlFor(task) {
  const body = { action: task.action, data: task.payload, queue: task.queue, priority: task.priority };
  if (task.max_attempts !== null) body.max_attempts = task.max_attempts;
  if (task.timeout !== null) body.timeout = task.timeout;
  if (task.unique_key) body.unique_key = task.unique_key;
  if (task.concurrency_key) body.concurrency_key = task.concurrency_key;
  const json = JSON.stringify(body).replace(/'/g, "'\\''"); // inside a single-quoted shell word
  return `curl -X POST ${location.origin}/tasks -H 'Content-Type: application/json' -d '${json}'`;
}

/** What is known of the task's life, oldest first, from its timestamps and its errors. */
function timeline(task) {
  const steps = [];
  const add = (at, kind, text, detail = null) => at && steps.push({ at, ms: parseTime(at), kind, text, detail });
  add(task.created_at, "submitted", "Submitted");
  const created = parseTime(task.created_at);
  const runAt = parseTime(task.run_at);
  const retried = task.errors.length > 0 && task.status === "queued";
  if (runAt !== null && created !== null && runAt - created > 1000 && !retried) {
    add(task.run_at, "scheduled", runAt > Date.now() ? "Due to run" : "Due");
  }
  for (const e of task.errors) add(e.at, "failed", `Attempt ${e.attempt} failed`, e.error);
  if (retried) add(task.run_at, "scheduled", `Attempt ${task.attempts + 1} due`);
  const lastError = task.errors[task.errors.length - 1];
  const startedMs = parseTime(task.started_at);
  // started_at is the last attempt's: show it unless that attempt is already shown failed
  if (startedMs !== null && task.attempts > 0) {
    add(task.started_at, "started", `Attempt ${task.attempts} started`);
  }
  if (task.processed_at && task.status !== "running" && task.status !== "queued") {
    const text = { completed: "Completed", failed: "Failed", cancelled: "Cancelled" }[task.status] || task.status;
    // a failure is already there as its attempt's step
    if (!(task.status === "failed" && lastError && lastError.attempt === task.attempts)) add(task.processed_at, task.status, text);
  }
  if (task.status === "running" && task.cancel_requested) steps.push({ at: null, ms: Infinity, kind: "cancelled", text: "Cancel requested: stopping" });
  return steps.sort((a, b) => a.ms - b.ms);
}

function Timeline({ task }) {
  return html`<ol class="timeline">
    ${timeline(task).map(
      (step, i) => html`<li key=${i} class=${`step step-${step.kind}`}>
        <i class="step-dot"></i>
        <div class="step-body">
          <div class="step-head"><span class="strong">${step.text}</span>
            ${step.at ? html`<span class="muted small"><${Time} at=${step.at} exact /></span>` : null}</div>
          ${step.detail ? html`<div class="step-detail error-text">${step.detail}</div>` : null}
        </div>
      </li>`,
    )}
  </ol>`;
}

function Attempts({ errors }) {
  const newestFirst = [...errors].reverse();
  return html`<${Card} title=${`Errors (${errors.length})`} className="errors">
    ${newestFirst.map(
      (e, i) => html`<details key=${e.attempt} class="attempt" open=${i === 0}>
        <summary>
          <span class="strong">Attempt ${e.attempt}</span>
          <span class="error-text" title=${e.error}>${e.error}</span>
          <span class="muted small nowrap"><${Time} at=${e.at} /></span>
          ${e.traceback ? html`<${CopyButton} text=${e.traceback} label="Copy traceback" />` : null}
        </summary>
        ${e.traceback
          ? html`<div class="traceback-wrap"><pre class="code traceback">${e.traceback}</pre></div>`
          : html`<p class="muted small">No traceback: the action refused the task (a Fail, or bad data for a demo action).</p>`}
      </details>`,
    )}
  </${Card}>`;
}

function Field({ label, children }) {
  return html`<div class="field-row"><dt>${label}</dt><dd>${children}</dd></div>`;
}

/** The worker running the task, when one says so in GET /workers. */
function useWorker(task) {
  const running = task && task.status === "running";
  const { data } = useLive(() => (running ? get("/workers") : Promise.resolve(null)), `${task ? task.id : ""}:${running}`, {
    on: { worker: () => running },
  });
  if (!running || !data) return null;
  return data.workers.find((w) => w.running.includes(task.id)) || null;
}

function Details({ task }) {
  const worker = useWorker(task);
  const ran = between(task.started_at, task.processed_at);
  const waited = between(task.run_at, task.started_at);
  return html`<${Card} title="Details">
    <dl class="fields">
      <${Field} label="queue"><a class="mono" href=${`#/tasks?queue=${encodeURIComponent(task.queue)}`}>${task.queue}</a></${Field}>
      <${Field} label="action"><a class="mono" href=${`#/tasks?action=${encodeURIComponent(task.action)}`}>${task.action}</a></${Field}>
      <${Field} label="priority">${task.priority}</${Field}>
      ${task.unique_key && html`<${Field} label="unique key"><span class="mono" title="while this task is queued or running, a submission with this key answers it">${task.unique_key}</span></${Field}>`}
      ${task.concurrency_key && html`<${Field} label="concurrency key"><span class="mono" title="at most the queue's key concurrency of its tasks holding this key run at once">${task.concurrency_key}</span></${Field}>`}
      <${Field} label="attempts">${task.attempts}${task.max_attempts === null ? html` <span class="muted" title="no max_attempts was submitted: the action's own, else the worker's --max-attempts">(max: the default)</span>` : ` of ${task.max_attempts}`}</${Field}>
      <${Field} label="timeout">${task.timeout === null ? html`<span class="muted">none</span>` : duration(task.timeout)}</${Field}>
      <${Field} label="worker">${worker
        ? html`<a href="#/workers" class="mono" title=${worker.id}>${worker.host} · pid ${worker.pid}</a>`
        : html`<span class="muted">${task.status === "running" ? "looking…" : "not running"}</span>`}</${Field}>
      <${Field} label="created"><${Time} at=${task.created_at} exact /></${Field}>
      <${Field} label="run at"><${Time} at=${task.run_at} exact /></${Field}>
      <${Field} label="waited">${waited === null ? html`<span class="muted">—</span>` : duration(waited)}</${Field}>
      <${Field} label="ran">${ran === null ? html`<span class="muted">—</span>` : duration(ran)}</${Field}>
    </dl>
  </${Card}>`;
}

function Json({ title, value, empty, className }) {
  const text = value === null || value === undefined ? null : pretty(value);
  return html`<${Card} title=${title} className=${className} actions=${text ? html`<${CopyButton} text=${text} />` : null}>
    ${text ? html`<pre class="code json">${text}</pre>` : html`<p class="muted">${empty}</p>`}
  </${Card}>`;
}

export function Task({ session, id }) {
  const { data: task, error, refresh } = useLive(() => get(`/tasks/${encodeURIComponent(id)}`), id, {
    on: { task: (event) => event.id === id },
  });
  const [ask, setAsk] = useState(null);
  const [outcome, setOutcome] = useState(null);

  if (error && error.status === 404) {
    return html`<${Empty} title="No such task">
      <p>Task <span class="mono">${id}</span> does not exist: it was deleted, pruned after its retention, or the id is wrong.</p>
      <a class="button" href="#/tasks">All tasks</a>
    </${Empty}>`;
  }
  if (!task) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;

  const act = (verb) => {
    const run = async () => {
      const answer = await ACTIONS[verb].one(task.id);
      if (verb === "delete") {
        location.hash = "#/tasks";
        return;
      }
      setOutcome(verb === "cancel" && answer && answer.status === "running" ? "Asked the worker to stop it." : `Task ${ACTIONS[verb].done}.`);
      refresh();
    };
    const wrapped = async () => {
      try {
        await run();
      } catch (caught) {
        setOutcome(null);
        throw caught;
      }
    };
    if (verb === "retry") {
      setOutcome(null);
      wrapped().catch((caught) => setOutcome(caught));
      return;
    }
    setAsk({
      title: verb === "delete" ? "Delete this task?" : "Cancel this task?",
      body: html`<p>${verb === "delete"
        ? "Its payload, result and errors are deleted for good."
        : task.status === "running"
          ? "The worker is asked to stop it; it ends cancelled."
          : "It will not run."}</p>`,
      confirm: verb === "delete" ? "Delete" : "Cancel task",
      danger: true,
      run: wrapped,
    });
  };
  const verbs = canChange(session) ? ["retry", "cancel", "delete"].filter((v) => ACTIONS[v].applies.includes(task.status)) : [];

  return html`<div class="page task" data-status=${task.status}>
    <div class="task-head">
      <div class="task-title">
        <${Badge} status=${task.status} />
        <h2>${task.action}</h2>
        <${Id} id=${task.id} />
        ${task.cancel_requested && task.status === "running" ? html`<span class="pill">stopping</span>` : null}
      </div>
      <div class="task-actions">
        ${verbs.map(
          (v) => html`<button key=${v} type="button" data-action=${v}
                       class=${`button ${v === "retry" ? "primary" : "danger-outline"}`} onClick=${() => act(v)}>${ACTIONS[v].label}</button>`,
        )}
        <${CopyButton} text=${curlFor(task)} label="Copy as curl" />
      </div>
    </div>
    ${outcome instanceof Error ? html`<${ErrorNote} error=${outcome} />` : outcome ? html`<${Note} kind="success">${outcome}</${Note}>` : null}
    ${error ? html`<${ErrorNote} error=${error} />` : null}
    <div class="task-grid">
      <div class="task-main">
        ${task.errors.length ? html`<${Attempts} errors=${task.errors} />` : null}
        ${task.status === "failed" || task.status === "cancelled"
          ? null
          : html`<${Json} title="Result" className="result" value=${task.result}
                  empty=${task.status === "completed" ? "The action returned nothing (null)." : "No result yet."} />`}
        <${Json} title="Payload" className="payload" value=${task.payload} empty="No data." />
      </div>
      <div class="task-side">
        <${Details} task=${task} />
        <${Card} title="Timeline"><${Timeline} task=${task} /></${Card}>
      </div>
    </div>
    <${Confirm} ask=${ask} close=${() => setAsk(null)} />
  </div>`;
}
