// The one way the page talks to taskq: JSON in and out, the API's {"error"} bodies turned
// into exceptions a page shows inline, the CSRF header on every change, and a 401 from any
// call taking the user back to the sign-in screen.

let csrfToken = null;
let onUnauthorized = () => {};

/** An answer that was not 2xx; `message` is the API's own `error` text. */
export class ApiError extends Error {
  constructor(status, message, field = null) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export function setCsrfToken(token) {
  csrfToken = token;
}

/** What to do when the service says the session is gone (expired, key revoked). */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

/** Query string from an object; arrays repeat the parameter, empty values are left out. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== null && one !== undefined && one !== "") search.append(name, String(one));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/**
 * Call the API. `expect` lists statuses that are answers rather than errors for this
 * call (GET /session's 401 and 404), returned as {status, body} instead of thrown.
 */
export async function request(method, path, { body, expect = [] } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "The service did not answer. Is taskq running?");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (expect.includes(response.status)) return { status: response.status, body: data };
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `HTTP ${response.status}`;
    if (response.status === 401) onUnauthorized(message);
    throw new ApiError(response.status, message, data && data.field);
  }
  return data;
}

export const get = (path, params = {}) => request("GET", path + query(params));
export const post = (path, body) => request("POST", path, { body });
export const del = (path) => request("DELETE", path);
