// The page's frame: who is signed in, the sidebar and header, and which page the hash
// names (#/tasks?status=failed…), so any view can be shared as a link.

import { html, render, useEffect, useState } from "../vendor/preact-htm.module.js";
import { request, setCsrfToken, whenUnauthorized } from "./api.js";
import { connect, disconnect } from "./events.js";
import { useConnection } from "./live.js";
import { Overview } from "./overview.js";
import { Queues } from "./queues.js";
import { Schedules } from "./schedules.js";
import { SignIn, signOut } from "./signin.js";
import { Task } from "./task.js";
import { Tasks } from "./tasks.js";
import * as throughput from "./throughput.js";
import { ErrorNote, Loading, Logo } from "./widgets.js";
import { Workers } from "./workers.js";

// What GET /session means while the service has no keys (it answers 404): anyone who can
// reach the port may do anything.
const WITHOUT_KEYS = { scope: "admin", via: "anonymous", csrf_token: null };

const PAGES = [
  { path: "/", title: "Overview", icon: "M3 13h8V3H3zm0 8h8v-6H3zm10 0h8V11h-8zm0-18v6h8V3z" },
  { path: "/tasks", title: "Tasks", icon: "M4 6h16M4 12h16M4 18h10" },
  { path: "/queues", title: "Queues", icon: "M4 5h16v4H4zM4 10h16v4H4zM4 15h16v4H4z" },
  { path: "/workers", title: "Workers", icon: "M5 4h14v10H5zM9 18h6M12 14v4" },
  { path: "/schedules", title: "Schedules", icon: "M12 7v5l3 3M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z" },
];

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const at = raw.indexOf("?");
  const path = (at < 0 ? raw : raw.slice(0, at)) || "/";
  const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  return { path, params };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const onChange = () => setRoute(parseHash());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

function Icon({ d }) {
  return html`<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d=${d} /></svg>`;
}

const CONNECTION_TEXT = {
  live: ["live", "Updates arrive as they happen (GET /events)."],
  connecting: ["connecting", "Opening the event stream…"],
  reconnecting: ["reconnecting", "The event stream dropped; reconnecting. Pages refresh every 5 s meanwhile."],
  offline: ["not live", "This service has no event stream (GET /events): pages refresh every 5 s, or with their Refresh button."],
};

function LiveIndicator() {
  const state = useConnection();
  const [text, title] = CONNECTION_TEXT[state];
  return html`<span class=${`live live-${state}`} title=${title} data-state=${state}><i></i>${text}</span>`;
}

function Page({ route, session }) {
  const { path, params } = route;
  if (path === "/") return html`<${Overview} session=${session} />`;
  if (path === "/tasks" || path === "/tasks/") return html`<${Tasks} session=${session} params=${params} />`;
  if (path.startsWith("/tasks/")) return html`<${Task} session=${session} id=${path.slice(7)} />`;
  if (path === "/queues") return html`<${Queues} session=${session} />`;
  if (path === "/workers") return html`<${Workers} />`;
  if (path === "/schedules") return html`<${Schedules} />`;
  return html`<div class="empty"><p class="empty-title">No page at ${path}</p><a href="#/">Go to the overview</a></div>`;
}

function Shell({ session, onSignOut }) {
  const route = useRoute();
  const section = PAGES.find((p) => p.path !== "/" && route.path.startsWith(p.path)) || PAGES[0];
  const title = route.path.startsWith("/tasks/") ? "Task" : section.title;
  useEffect(() => {
    document.title = `${title} · taskq`;
  }, [title]);
  return html`<div class="shell">
    <aside class="sidebar">
      <a class="brand" href="#/"><${Logo} /><span>taskq</span></a>
      <nav class="nav" aria-label="Pages">
        ${PAGES.map(
          (p) => html`<a key=${p.path} href=${`#${p.path}`} class=${p === section ? "active" : ""}
                        aria-current=${p === section ? "page" : undefined}><${Icon} d=${p.icon} /><span>${p.title}</span></a>`,
        )}
      </nav>
      <div class="sidebar-foot"><a href="/docs" target="_blank" rel="noopener">API docs ↗</a></div>
    </aside>
    <div class="main">
      <header class="topbar">
        <h1>${title}</h1>
        <div class="topbar-right">
          ${session.scope === "read" ? html`<span class="pill" title="This key can read, not change">read-only</span>` : null}
          <${LiveIndicator} />
          ${session.via === "session"
            ? html`<button type="button" class="button small" onClick=${onSignOut}>Sign out</button>`
            : null}
        </div>
      </header>
      <main class="content"><${Page} route=${route} session=${session} /></main>
    </div>
  </div>`;
}

function App() {
  // undefined: asking; null: a key is needed; else GET /session's answer
  const [session, setSession] = useState(undefined);
  const [error, setError] = useState(null);

  const load = async () => {
    setError(null);
    try {
      const { status, body } = await request("GET", "/session", { expect: [200, 401, 404] });
      setSession(status === 404 ? WITHOUT_KEYS : status === 401 ? null : body);
    } catch (caught) {
      setError(caught);
    }
  };

  useEffect(() => {
    whenUnauthorized(() => setSession(null));
    throughput.start();
    load();
  }, []);

  useEffect(() => {
    setCsrfToken(session ? session.csrf_token : null);
    if (session) connect();
    else if (session === null) disconnect();
  }, [session]);

  if (error) {
    return html`<div class="center"><div class="card narrow-card">
      <h2>taskq is not answering</h2><${ErrorNote} error=${error} />
      <button type="button" class="button primary" onClick=${load}>Try again</button>
    </div></div>`;
  }
  if (session === undefined) return html`<div class="center"><${Loading} /></div>`;
  if (session === null) return html`<${SignIn} onSignedIn=${setSession} />`;
  return html`<${Shell} session=${session} onSignOut=${async () => {
    await signOut();
    setSession(undefined);
    load();
  }} />`;
}

render(html`<${App} />`, document.getElementById("app"));
