// Data a view shows, kept fresh: fetched once, then again when the event stream says
// something it shows changed, at most every `minGapMs` (a burst of a thousand events costs
// one or two requests), and on a timer while the stream is not live.

import { useEffect, useRef, useState } from "../vendor/preact-htm.module.js";
import { connectionState, subscribe, watchConnection } from "./events.js";

const POLL_WHEN_NOT_LIVE_MS = 5000;

/** The stream's state ("live", "reconnecting", "connecting", "offline"), re-rendering on change. */
export function useConnection() {
  const [state, setState] = useState(connectionState());
  useEffect(() => watchConnection(setState), []);
  return state;
}

/**
 * `load()` 's answer for this view. `on` maps an event type to a predicate on its data
 * ("does this change concern what I show?"); a `resync` always refetches. `key` is what
 * the view asks for: a new key refetches at once.
 */
export function useLive(load, key, { on = {}, minGapMs = 500, everyMs = null } = {}) {
  const [answer, setAnswer] = useState({ data: null, error: null, loading: true, key: null });
  const latest = useRef({ load, on });
  latest.current = { load, on };
  const timing = useRef({ last: 0, timer: null, generation: 0 });

  const run = async () => {
    const t = timing.current;
    t.timer = null;
    t.last = Date.now();
    const generation = ++t.generation;
    try {
      const data = await latest.current.load();
      if (generation === t.generation) setAnswer({ data, error: null, loading: false, key });
    } catch (error) {
      if (generation === t.generation) {
        setAnswer((old) => ({ ...old, error, loading: false }));
      }
    }
  };

  const schedule = () => {
    const t = timing.current;
    if (t.timer) return;
    const wait = Math.max(0, t.last + minGapMs - Date.now());
    t.timer = setTimeout(run, wait);
  };

  useEffect(() => {
    const t = timing.current;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    setAnswer((old) => ({ ...old, loading: true }));
    run();
    const stops = [subscribe("resync", schedule)];
    for (const type of Object.keys(latest.current.on)) {
      stops.push(
        subscribe(type, (data) => {
          const concerns = latest.current.on[type];
          if (concerns && concerns(data)) schedule();
        }),
      );
    }
    let poll = null;
    const pollUnlessLive = (state) => {
      if (state === "live" && !everyMs) {
        clearInterval(poll);
        poll = null;
      } else if (!poll) {
        poll = setInterval(schedule, everyMs || POLL_WHEN_NOT_LIVE_MS);
      }
    };
    pollUnlessLive(connectionState());
    stops.push(
      watchConnection((state) => {
        if (state === "live") schedule(); // back: catch up on what was missed
        pollUnlessLive(state);
      }),
    );
    return () => {
      for (const stop of stops) stop();
      clearInterval(poll);
      if (t.timer) clearTimeout(t.timer);
      t.timer = null;
      t.generation++;
    };
  }, [key]);

  return { ...answer, refresh: run, stale: answer.key !== key };
}
