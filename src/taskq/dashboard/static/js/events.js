// The one EventSource of the page (GET /events): every view subscribes here instead of
// opening its own stream, so a browser tab holds one connection to taskq whatever it shows.

const TYPES = ["task", "worker", "stats", "resync"];
const RETRY_REFUSED_MS = 15000;

const listeners = Object.fromEntries(TYPES.map((type) => [type, new Set()]));
const stateListeners = new Set();
let state = "connecting"; // "live" | "reconnecting" | "offline"
let source = null;
let retryTimer = null;
let wasOpen = false;

function setState(next) {
  if (next === state) return;
  state = next;
  for (const listener of stateListeners) listener(state);
}

function dispatch(type, data) {
  for (const listener of listeners[type]) {
    try {
      listener(data);
    } catch (error) {
      console.warn(`a ${type} listener failed`, error);
    }
  }
}

function open() {
  retryTimer = null;
  source = new EventSource("/events");
  source.onopen = () => {
    // Whatever happened while the stream was down was not sent: the views refetch.
    if (wasOpen) dispatch("resync", { reason: "reconnected" });
    wasOpen = true;
    setState("live");
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused (no /events on this service, or not allowed): the browser gives up for
      // good, so try again now and then; the views poll meanwhile.
      source.close();
      source = null;
      setState("offline");
      retryTimer = setTimeout(open, RETRY_REFUSED_MS);
    } else {
      setState(wasOpen ? "reconnecting" : "connecting");
    }
  };
  for (const type of TYPES) {
    source.addEventListener(type, (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      dispatch(type, data);
    });
  }
}

/** Open the stream (once). */
export function connect() {
  if (!source && !retryTimer) open();
}

/** Close the stream (on sign-out). */
export function disconnect() {
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
  wasOpen = false;
  setState("connecting");
}

/** Call `listener(data)` for each message of `type`; returns the unsubscribe function. */
export function subscribe(type, listener) {
  listeners[type].add(listener);
  return () => listeners[type].delete(listener);
}

export function connectionState() {
  return state;
}

export function watchConnection(listener) {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}
