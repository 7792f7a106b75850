// What a user can do to tasks, one place for the rules: which statuses each action applies
// to (as the API decides them) and the calls: one task, the chosen ones, or a filter's.

import { del, post } from "./api.js";

export const ACTIONS = {
  retry: {
    label: "Retry",
    done: "queued again",
    applies: ["failed", "cancelled"],
    one: (id) => post(`/tasks/${encodeURIComponent(id)}/retry`),
  },
  cancel: {
    label: "Cancel",
    done: "cancelled",
    applies: ["queued", "running"],
    one: (id) => post(`/tasks/${encodeURIComponent(id)}/cancel`),
  },
  delete: {
    label: "Delete",
    done: "deleted",
    applies: ["completed", "failed", "cancelled"],
    one: (id) => del(`/tasks/${encodeURIComponent(id)}`),
  },
};

/** Whether this session may change tasks: retry, cancel and delete need an `admin` key
 * (`read` only looks, `submit` may also POST /tasks). */
export function canChange(session) {
  return Boolean(session) && session.scope === "admin";
}

/**
 * Apply `verb` to the chosen tasks (objects with id and status) it applies to, in one bulk
 * call naming them by id (at most a page of them: the API takes 100 ids).
 * Resolves to {done, skipped, failures: [{id, message}]}.
 */
export async function applyToEach(verb, tasks) {
  const todo = tasks.filter((t) => ACTIONS[verb].applies.includes(t.status));
  const result = { done: 0, skipped: tasks.length - todo.length, failures: [] };
  if (todo.length === 0) return result;
  const ids = todo.map((t) => t.id);
  try {
    const { changed } = await applyToFilter(verb, { id: ids }, ids.length);
    result.done = changed;
    // the rest changed status since the page was read (another user, a worker)
    result.skipped += ids.length - changed;
  } catch (error) {
    result.failures.push({ id: ids.join(", "), message: error.message });
  }
  return result;
}

/** POST /tasks/bulk/{verb} with the list view's filter; resolves to {changed, more}. */
export function applyToFilter(verb, filter, limit = 1000) {
  return post(`/tasks/bulk/${verb}`, { filter, limit });
}
