// The sign-in screen: shown when GET /session answers 401 (the service wants a key), or
// when any call answers 401 later (the session expired, the key was revoked).

import { html, useState } from "../vendor/preact-htm.module.js";
import { request } from "./api.js";
import { ErrorNote, Logo } from "./widgets.js";

export async function signOut() {
  try {
    await request("DELETE", "/session", { expect: [401, 404] });
  } catch {
    // the cookie may already be gone; the sign-in screen follows either way
  }
}

export function SignIn({ onSignedIn }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { status, body } = await request("POST", "/session", { body: { key }, expect: [200, 401] });
      if (status === 200) onSignedIn(body);
      else setError(new Error((body && body.error) || "That key was not accepted."));
    } catch (caught) {
      setError(caught);
    }
    setBusy(false);
  };
  return html`<div class="center">
    <form class="card signin" onSubmit=${submit}>
      <div class="brand brand-large"><${Logo} /><span>taskq</span></div>
      <h2>Sign in</h2>
      <p class="muted">This service asks for an API key. It is kept in an HttpOnly cookie for this browser.</p>
      <label class="field">
        <span>API key</span>
        <input type="password" name="key" autocomplete="current-password" required value=${key}
               onInput=${(e) => setKey(e.target.value)} autofocus />
      </label>
      <${ErrorNote} error=${error} />
      <button type="submit" class="button primary wide" disabled=${busy || !key}>${busy ? "Signing in…" : "Sign in"}</button>
    </form>
  </div>`;
}
