// What a user can do to tasks, one place for the rules: which statuses each action applies
// to (as the API decides them) and the calls, one task at a time or by filter.

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

const AT_ONCE = 4;

/**
 * Apply `verb` to each task (objects with id and status) it applies to, a few at a time.
 * Resolves to {done, skipped, failures: [{id, message}]}.
 */
export async function applyToEach(verb, tasks) {
  const action = ACTIONS[verb];
  const todo = tasks.filter((t) => action.applies.includes(t.status));
  const result = { done: 0, skipped: tasks.length - todo.length, failures: [] };
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const task = todo[next++];
      try {
        await action.one(task.id);
        result.done++;
      } catch (error) {
        result.failures.push({ id: task.id, message: error.message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, todo.length) }, worker));
  return result;
}

/** POST /tasks/bulk/{verb} with the list view's filter; resolves to {changed, more}. */
export function applyToFilter(verb, filter, limit = 1000) {
  return post(`/tasks/bulk/${verb}`, { filter, limit });
}
