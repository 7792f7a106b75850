"""The memory driver's workers table (taskq/roster.py): each verb a function of the store,
run without awaiting, so atomic on the event loop as the driver's other verbs are."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from taskq.drivers import rows
from taskq.drivers.memory.store import Store
from taskq.roster import WorkerInfo
from taskq.task import Status


def announce(store: Store, worker: WorkerInfo) -> None:
    stored = store.workers.get(worker.id)
    if stored is not None:
        worker = msgspec.structs.replace(stored, last_seen=worker.last_seen)
    store.workers[worker.id] = msgspec.structs.replace(worker, running=[])


def beat(store: Store, worker_id: str, now: float) -> bool:
    """Forget the workers no longer live, then move this one's ``last_seen``."""
    for gone in [w.id for w in store.workers.values() if not w.is_live(now) and w.id != worker_id]:
        del store.workers[gone]
    worker = store.workers.get(worker_id)
    if worker is None:
        return False
    store.workers[worker_id] = msgspec.structs.replace(worker, last_seen=now)
    return True


def retire(store: Store, worker_id: str) -> None:
    store.workers.pop(worker_id, None)


def live_workers(store: Store, now: float) -> list[WorkerInfo]:
    """The live workers, oldest first, and what each runs."""
    live = sorted(
        (w for w in store.workers.values() if w.is_live(now)), key=lambda w: (w.started_at, w.id)
    )
    running = sorted(
        (row.task.seq, row.worker_id, row.task.id)
        for row in store.rows.values()
        if row.worker_id is not None and row.task.status is Status.RUNNING
    )
    return [
        msgspec.structs.replace(w, running=[task for _, held, task in running if held == w.id])
        for w in live
    ]


def last_ticks(store: Store, actions: Sequence[str]) -> dict[str, float]:
    """Each action's newest task whose key is one of its ticks."""
    newest: dict[str, tuple[int, str]] = {}
    prefixes = {action: rows.tick_args(action)["prefix"] for action in actions}
    for row in store.rows.values():
        task, prefix = row.task, prefixes.get(row.task.action)
        key = task.idempotency_key
        if prefix is None or key is None or not key.startswith(prefix):
            continue
        if task.action not in newest or newest[task.action][0] < task.seq:
            newest[task.action] = (task.seq, key)
    return rows.last_ticks((action, key) for action, (_, key) in newest.items())
