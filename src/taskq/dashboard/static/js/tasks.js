// The task list: status tabs, filters and the page cursor all live in the hash
// (#/tasks?status=failed&queue=emails&cursor=…), so a view is a link. One page is fetched
// at a time, whatever the table holds.

import { html, useEffect, useState } from "../vendor/preact-htm.module.js";
import { get } from "./api.js";
import { ACTIONS, applyToEach, applyToFilter, canChange } from "./actions.js";
import { between, duration, number, parseTime, shortId } from "./format.js";
import { useLive } from "./live.js";
import { Badge, Card, Confirm, CopyButton, Empty, ErrorNote, Id, Loading, Note, STATUSES, Time, firstTaskCurl } from "./widgets.js";

const PAGE_SIZE = 50;
const TEXT_FILTERS = ["queue", "action", "q"];
const TIME_FILTERS = ["created_after", "created_before"];

/** The view the hash asks for. */
function readParams(params) {
  const view = { status: params.getAll("status").filter(Boolean), cursor: params.get("cursor") || "" };
  for (const name of [...TEXT_FILTERS, ...TIME_FILTERS]) view[name] = params.get(name) || "";
  return view;
}

function hashOf(view) {
  const search = new URLSearchParams();
  for (const status of view.status) search.append("status", status);
  for (const name of [...TEXT_FILTERS, ...TIME_FILTERS, "cursor"]) if (view[name]) search.set(name, view[name]);
  const text = search.toString();
  return `#/tasks${text ? `?${text}` : ""}`;
}

function go(view) {
  location.hash = hashOf(view);
}

/** The filter as a bulk action's body takes it (lists for status, queue, action). */
function bulkFilter(view) {
  const filter = {};
  if (view.status.length) filter.status = view.status;
  if (view.queue) filter.queue = [view.queue];
  if (view.action) filter.action = [view.action];
  for (const name of TIME_FILTERS) if (view[name]) filter[name] = view[name];
  if (view.q) filter.q = view.q;
  return filter;
}

// <input type="datetime-local"> speaks local time without a zone; the hash and the API, UTC.
function toLocalInput(iso) {
  const ms = parseTime(iso);
  if (ms === null) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function fromLocalInput(value) {
  if (!value) return "";
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString();
}

/** Could this change show on the page we look at (so the page is worth fetching again)? */
function concerns(view, shownIds, event) {
  if (shownIds.has(event.id)) return true;
  if (view.cursor || event.kind === "deleted") return false;
  if (view.status.length && !view.status.includes(event.status)) return false;
  if (view.queue && view.queue !== event.queue) return false;
  if (view.action && view.action !== event.action) return false;
  return true;
}

function Tabs({ view }) {
  const one = view.status.length === 1 ? view.status[0] : view.status.length ? null : "all";
  return html`<nav class="tabs" aria-label="Status">
    ${["all", ...STATUSES].map((s) => {
      const next = { ...view, status: s === "all" ? [] : [s], cursor: "" };
      return html`<a key=${s} href=${hashOf(next)} class=${one === s ? "tab active" : "tab"}
                     aria-current=${one === s ? "page" : undefined} data-tab=${s}>
        ${s === "all" ? null : html`<i class=${`dot dot-${s}`}></i>`}${s}</a>`;
    })}
  </nav>`;
}

function Filters({ view, queues }) {
  const [form, setForm] = useState(view);
  useEffect(() => setForm(view), [hashOf({ ...view, cursor: "" })]);
  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });
  const apply = (event) => {
    event.preventDefault();
    go({ ...form, status: view.status, cursor: "" });
  };
  const active = [...TEXT_FILTERS, ...TIME_FILTERS].some((name) => view[name]);
  return html`<form class="filters" onSubmit=${apply}>
    <label class="field"><span>Queue</span>
      <input name="queue" list="queue-names" placeholder="any" value=${form.queue} onInput=${set("queue")} />
      <datalist id="queue-names">${queues.map((q) => html`<option key=${q} value=${q} />`)}</datalist>
    </label>
    <label class="field"><span>Action</span>
      <input name="action" placeholder="any" value=${form.action} onInput=${set("action")} /></label>
    <label class="field time"><span>Created after</span>
      <input name="created_after" type="datetime-local" value=${toLocalInput(form.created_after)}
             onInput=${(e) => setForm({ ...form, created_after: fromLocalInput(e.target.value) })} /></label>
    <label class="field time"><span>Created before</span>
      <input name="created_before" type="datetime-local" value=${toLocalInput(form.created_before)}
             onInput=${(e) => setForm({ ...form, created_before: fromLocalInput(e.target.value) })} /></label>
    <label class="field grow"><span>Error contains</span>
      <input name="q" type="search" placeholder="e.g. timeout" value=${form.q} onInput=${set("q")} /></label>
    <div class="filter-buttons">
      <button type="submit" class="button primary">Apply</button>
      ${active
        ? html`<a class="button" href=${hashOf({ status: view.status, cursor: "" })}>Clear</a>`
        : null}
    </div>
  </form>`;
}

/** One line about the task's state that the status alone does not say. */
function Summary({ task }) {
  if (task.status === "failed" || (task.error && task.status !== "completed")) {
    return html`<span class="error-text" title=${task.error}>${task.error}</span>`;
  }
  if (task.status === "completed") {
    const text = JSON.stringify(task.result);
    return html`<span class="mono muted" title=${text}>${text}</span>`;
  }
  if (task.status === "queued" && parseTime(task.run_at) > Date.now() + 1000) {
    return html`<span class="muted">runs <${Time} at=${task.run_at} /></span>`;
  }
  if (task.status === "running") {
    return html`<span class="muted">${task.cancel_requested ? "stopping…" : html`started <${Time} at=${task.started_at} />`}</span>`;
  }
  return null;
}

function Row({ task, selected, toggle, selectable }) {
  const open = (event) => {
    if (event.target.closest("a, button, input, label")) return;
    location.hash = `#/tasks/${task.id}`;
  };
  const took = between(task.started_at, task.processed_at);
  return html`<tr class=${selected ? "selected clickable" : "clickable"} onClick=${open} data-id=${task.id}>
    ${selectable
      ? html`<td class="check"><input type="checkbox" checked=${selected} onChange=${() => toggle(task.id)}
                                      aria-label=${`Select task ${task.id}`} /></td>`
      : null}
    <td><${Badge} status=${task.status} /></td>
    <td><${Id} id=${task.id} href=${`#/tasks/${task.id}`} /></td>
    <td class="strong">${task.action}</td>
    <td class="mono">${task.queue}</td>
    <td class="num">${task.attempts}${task.max_attempts ? html`<span class="muted">/${task.max_attempts}</span>` : null}</td>
    <td class="nowrap"><${Time} at=${task.created_at} /></td>
    <td class="num nowrap">${took === null ? html`<span class="muted">—</span>` : duration(took)}</td>
    <td class="summary">${html`<${Summary} task=${task} />`}</td>
  </tr>`;
}

function describe(verb, result) {
  const action = ACTIONS[verb];
  const parts = [`${number(result.done)} task${result.done === 1 ? "" : "s"} ${action.done}.`];
  if (result.skipped) parts.push(`${result.skipped} skipped: ${verb} applies to ${action.applies.join(", ")} tasks only.`);
  for (const f of result.failures.slice(0, 3)) parts.push(`${shortId(f.id)}: ${f.message}.`);
  if (result.failures.length > 3) parts.push(`${result.failures.length - 3} more failed.`);
  return parts.join(" ");
}

export function Tasks({ session, params }) {
  const view = readParams(params);
  const key = hashOf(view);
  const [selected, setSelected] = useState(new Set());
  const [ask, setAsk] = useState(null);
  const [outcome, setOutcome] = useState(null); // {kind, text, more?}
  const [back, setBack] = useState([]); // cursors of the pages before this one
  const shownIds = new Set();

  const { data, error, loading, refresh } = useLive(
    () => get("/tasks", { ...bulkFilter(view), cursor: view.cursor, limit: PAGE_SIZE }),
    key,
    { on: { task: (event) => concerns(view, shownIds, event) } },
  );
  const queues = useLive(() => get("/queues"), "queue-names", { minGapMs: 10000 });
  const tasks = data ? data.tasks : [];
  for (const t of tasks) shownIds.add(t.id);

  useEffect(() => setSelected(new Set()), [key]);
  const toggle = (id) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const allSelected = tasks.length > 0 && tasks.every((t) => selected.has(t.id));
  const selectPage = () => setSelected(allSelected ? new Set() : new Set(tasks.map((t) => t.id)));
  const chosen = tasks.filter((t) => selected.has(t.id));
  const mayChange = canChange(session);
  const filter = bulkFilter(view);
  const hasFilter = Object.keys(filter).length > 0;

  const runOnSelected = (verb) => {
    const run = async () => {
      const result = await applyToEach(verb, chosen);
      setOutcome({ kind: result.failures.length ? "error" : "success", text: describe(verb, result) });
      setSelected(new Set());
      refresh();
    };
    if (verb === "retry") {
      run();
      return;
    }
    setAsk({
      title: `${ACTIONS[verb].label} ${chosen.length} selected task${chosen.length === 1 ? "" : "s"}?`,
      body: html`<p>${verb === "delete" ? "Deleted tasks are gone for good, with their results and errors." : "Queued tasks will not run; running ones are asked to stop."}
        ${" "}It applies to ${ACTIONS[verb].applies.join(", ")} tasks; the others are left as they are.</p>`,
      confirm: `${ACTIONS[verb].label} ${chosen.length}`,
      danger: true,
      run,
    });
  };

  const runOnFilter = (verb, total = 0) => {
    const run = async () => {
      const answer = await applyToFilter(verb, filter);
      const changed = total + answer.changed;
      setOutcome({
        kind: "success",
        text: `${number(changed)} matching task${changed === 1 ? "" : "s"} ${ACTIONS[verb].done}.${answer.more ? " More match the filter: they are done 1,000 at a time." : ""}`,
        more: answer.more ? () => runOnFilter(verb, changed) : null,
      });
      refresh();
    };
    setAsk({
      title: `${ACTIONS[verb].label} every task matching the filter?`,
      body: html`<p>All ${ACTIONS[verb].applies.join(", ")} tasks matching
        <code class="filter-code">${JSON.stringify(filter)}</code>, not only this page, up to 1,000 per call.
        ${verb === "delete" ? " Deleted tasks are gone for good." : ""}</p>`,
      confirm: `${ACTIONS[verb].label} all matching`,
      danger: verb !== "retry",
      run,
    });
  };

  const first = !view.cursor;
  const nothingAtAll = first && !hasFilter && data && !tasks.length;
  return html`<div class="page tasks">
    <${Tabs} view=${view} />
    <${Filters} view=${view} queues=${queues.data ? queues.data.queues.map((q) => q.name) : []} />
    ${outcome
      ? html`<${Note} kind=${outcome.kind}>${outcome.text}
          ${outcome.more ? html` <button type="button" class="button small" onClick=${outcome.more}>Continue</button>` : null}
          <button type="button" class="link-button" onClick=${() => setOutcome(null)}>Dismiss</button></${Note}>`
      : null}
    <${Card} className="table-card">
      <div class="toolbar">
        ${mayChange && chosen.length
          ? html`<div class="toolbar-group selection" role="group" aria-label="Selected tasks">
              <strong>${chosen.length} selected</strong>
              ${["retry", "cancel", "delete"].map(
                (verb) => html`<button key=${verb} type="button" data-action=${`selected-${verb}`}
                  class=${`button small ${verb === "retry" ? "" : "danger-outline"}`} onClick=${() => runOnSelected(verb)}>${ACTIONS[verb].label}</button>`,
              )}
              <button type="button" class="link-button" onClick=${() => setSelected(new Set())}>Clear</button>
            </div>`
          : html`<div class="toolbar-group muted">
              ${data ? html`${first ? "Newest" : "Older"} ${number(data.count)} task${data.count === 1 ? "" : "s"}${data.next_cursor ? "; more below" : ""}` : null}
            </div>`}
        <div class="toolbar-group">
          ${mayChange
            ? html`<details class="menu">
                <summary class="button small" title=${hasFilter ? "" : "Pick a status tab or a filter first"}>All matching…</summary>
                <div class="menu-items">
                  ${hasFilter
                    ? ["retry", "cancel", "delete"].map(
                        (verb) => html`<button key=${verb} type="button" data-action=${`filter-${verb}`} onClick=${(e) => {
                          e.currentTarget.closest("details").open = false;
                          runOnFilter(verb);
                        }}>${ACTIONS[verb].label} all matching</button>`,
                      )
                    : html`<p class="muted small">Pick a status tab or a filter first: an action on every task is not offered here.</p>`}
                </div>
              </details>`
            : null}
          <button type="button" class="button small" onClick=${refresh} title="Fetch this page again">${loading ? "Refreshing…" : "Refresh"}</button>
        </div>
      </div>
      <${ErrorNote} error=${error} />
      ${!data && !error ? html`<${Loading} />` : null}
      ${nothingAtAll
        ? html`<${Empty} title="No tasks yet">
            <p>Submit one and it shows up here at once:</p>
            <pre class="code">${firstTaskCurl()}</pre>
            <${CopyButton} text=${firstTaskCurl()} label="Copy the command" />
          </${Empty}>`
        : null}
      ${data && !tasks.length && !nothingAtAll
        ? html`<${Empty} title=${first ? "No task matches" : "No older tasks"}>
            <p>${first ? "Try another status or fewer filters." : "This was the last page."}</p>
            ${first
              ? html`<a class="button" href=${hashOf({ status: view.status, cursor: "" })}>Clear the filters</a>`
              : html`<a class="button" href=${hashOf({ ...view, cursor: "" })}>Back to the newest</a>`}
          </${Empty}>`
        : null}
      ${tasks.length
        ? html`<div class="table-wrap"><table class="table tasks-table">
            <thead><tr>
              ${mayChange
                ? html`<th class="check"><input type="checkbox" checked=${allSelected} onChange=${selectPage} aria-label="Select this page" /></th>`
                : null}
              <th>status</th><th>id</th><th>action</th><th>queue</th><th class="num">attempts</th>
              <th>created</th><th class="num">ran</th><th>result / error</th>
            </tr></thead>
            <tbody>${tasks.map(
              (t) => html`<${Row} key=${t.id} task=${t} selected=${selected.has(t.id)} toggle=${toggle} selectable=${mayChange} />`,
            )}</tbody>
          </table></div>`
        : null}
      ${data && (data.next_cursor || !first)
        ? html`<div class="pager">
            <button type="button" class="button small" disabled=${first} onClick=${() => {
              const previous = back[back.length - 1] || "";
              setBack(back.slice(0, -1));
              go({ ...view, cursor: previous });
            }}>← Newer</button>
            ${!first ? html`<a href=${hashOf({ ...view, cursor: "" })} onClick=${() => setBack([])}>Newest</a>` : null}
            <button type="button" class="button small" disabled=${!data.next_cursor} onClick=${() => {
              setBack([...back, view.cursor]);
              go({ ...view, cursor: data.next_cursor });
            }}>Older →</button>
          </div>`
        : null}
    </${Card}>
    <${Confirm} ask=${ask} close=${() => setAsk(null)} />
  </div>`;
}
