// The small pieces every page is made of, so a status, an id or a time looks the same
// wherever it appears.

import { html, useEffect, useState } from "../vendor/preact-htm.module.js";
import { absolute, clock, parseTime, relative, shortId } from "./format.js";

export const STATUSES = ["queued", "running", "completed", "failed", "cancelled"];

// One clock for every relative time on the page, rather than a timer per cell.
const ticking = new Set();
setInterval(() => {
  for (const tick of ticking) tick(Date.now());
}, 1000);

export function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    ticking.add(setNow);
    return () => ticking.delete(setNow);
  }, []);
  return now;
}

export function Badge({ status }) {
  return html`<span class=${`badge badge-${status}`}>${status}</span>`;
}

/** "3 s ago", with the exact time on hover. */
export function Time({ at, exact = false }) {
  const now = useNow();
  const ms = parseTime(at);
  if (ms === null) return html`<span class="muted">—</span>`;
  return html`<time datetime=${at} title=${absolute(ms)}>${exact ? clock(ms) : relative(ms, now)}</time>`;
}

/** Copy `text` to the clipboard; resolves to whether it worked. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through: some browsers refuse without a permission prompt
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch {
    done = false;
  }
  area.remove();
  return done;
}

export function CopyButton({ text, label = "Copy", className = "" }) {
  const [state, setState] = useState(null);
  const click = async (event) => {
    event.preventDefault();
    event.stopPropagation();
    setState((await copyText(text)) ? "Copied" : "Copy failed");
    setTimeout(() => setState(null), 1500);
  };
  return html`<button type="button" class=${`button small ${className}`} onClick=${click}>
    ${state || label}
  </button>`;
}

/** A task id: its first block in monospace, the full id on hover, a click copies it. */
export function Id({ id, href }) {
  const [copied, setCopied] = useState(false);
  const copy = async (event) => {
    event.preventDefault();
    event.stopPropagation();
    if (await copyText(id)) {
      setCopied(true);
      setTimeout(() => setCopied(false), 1200);
    }
  };
  const text = html`<span class="mono">${shortId(id)}</span>`;
  return html`<span class="id" title=${id}>
    ${href ? html`<a href=${href}>${text}</a>` : text}
    <button type="button" class="copy" title="Copy the full id" aria-label="Copy the full id" onClick=${copy}>
      ${copied ? html`<svg viewBox="0 0 24 24"><path d="M5 12l5 5 9-10" /></svg>` : html`<svg viewBox="0 0 24 24"><rect x="9" y="9" width="11" height="11" rx="2" /><path d="M5 15V5a1 1 0 0 1 1-1h9" /></svg>`}
    </button>
  </span>`;
}

export function Card({ title, actions, children, className = "" }) {
  return html`<section class=${`card ${className}`}>
    ${title || actions
      ? html`<header class="card-head"><h2>${title}</h2>${actions ? html`<div class="card-actions">${actions}</div>` : null}</header>`
      : null}
    ${children}
  </section>`;
}

/** An error the user should read, in place (never a pop-up). */
export function ErrorNote({ error, children }) {
  if (!error && !children) return null;
  return html`<div class="note note-error" role="alert">${error ? error.message || String(error) : children}</div>`;
}

export function Note({ kind = "info", children }) {
  return html`<div class=${`note note-${kind}`} role="status">${children}</div>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty"><p class="empty-title">${title}</p>${children}</div>`;
}

export function Loading() {
  return html`<div class="loading" aria-busy="true">Loading…</div>`;
}

/** The curl that submits a first task to this very service. */
export function firstTaskCurl() {
  return [
    `curl -X POST ${location.origin}/tasks \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d '{"action": "uppercase", "data": {"text": "hello"}}'`,
  ].join("\n");
}

/**
 * A question before something that cannot be undone. `ask` is null (closed) or
 * {title, body, confirm, danger, run}; `run` is awaited and its error shown in the dialog.
 */
export function Confirm({ ask, close }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    setBusy(false);
    setError(null);
    if (!ask) return undefined;
    const onKey = (event) => event.key === "Escape" && close();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [ask]);
  if (!ask) return null;
  const go = async () => {
    setBusy(true);
    try {
      await ask.run();
      close();
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };
  return html`<div class="overlay" onClick=${(e) => e.target === e.currentTarget && !busy && close()}>
    <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title">
      <h2 id="dialog-title">${ask.title}</h2>
      <div class="dialog-body">${ask.body}</div>
      <${ErrorNote} error=${error} />
      <div class="dialog-actions">
        <button type="button" class="button" onClick=${close} disabled=${busy}>Go back</button>
        <button type="button" class=${`button ${ask.danger ? "danger" : "primary"}`} onClick=${go} disabled=${busy} autofocus>
          ${busy ? "Working…" : ask.confirm}
        </button>
      </div>
    </div>
  </div>`;
}

/** taskq's mark: three tasks in a queue. */
export function Logo() {
  return html`<svg class="logo" viewBox="0 0 24 24" aria-hidden="true">
    <rect x="2" y="4" width="14" height="4" rx="2" class="logo-a" />
    <rect x="5" y="10" width="17" height="4" rx="2" class="logo-b" />
    <rect x="2" y="16" width="10" height="4" rx="2" class="logo-c" />
  </svg>`;
}
