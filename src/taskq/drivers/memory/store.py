"""The memory driver's store: the rows of each ``memory://`` URL, shared by the drivers
opened on it in one process."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import msgspec

from taskq import codec
from taskq.events import Deliver
from taskq.flow import QueueSettings
from taskq.keys import StoredKey
from taskq.roster import WorkerInfo
from taskq.task import Task


@dataclass
class Row:
    """One stored task: the Task's fields (JSON ones as text) and who holds it."""

    task: Task
    payload_json: str
    result_json: str | None = None
    worker_id: str | None = None
    lease_expires_at: float | None = None

    def read(self) -> Task:
        return msgspec.structs.replace(
            self.task,
            payload=codec.decode(self.payload_json),
            result=None if self.result_json is None else codec.decode(self.result_json),
            errors=list(self.task.errors),
        )

    def let_go(self) -> None:
        self.worker_id = self.lease_expires_at = None


@dataclass
class Store:
    """The tasks of one ``memory://`` URL, the workers that announced themselves, and the
    API keys."""

    rows: dict[str, Row] = field(default_factory=dict)
    workers: dict[str, WorkerInfo] = field(default_factory=dict)
    keys: dict[str, StoredKey] = field(default_factory=dict)  # name -> key (frozen)
    queues: dict[str, QueueSettings] = field(default_factory=dict)  # name -> (frozen)
    starts: dict[str, list[float]] = field(default_factory=dict)  # rated queue -> its starts
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key -> task id
    # unique key -> the newest task holding it: the only one that can be active (a task
    # is made or retried only while none holding its key is)
    by_unique: dict[str, str] = field(default_factory=dict)
    seqs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    woken: set[asyncio.Event] = field(default_factory=set)
    event_listeners: list[Deliver] = field(default_factory=list)

    def wake(self) -> None:
        for event in self.woken:
            event.set()

    def publish_events(self, message: bytes) -> None:
        for deliver in list(self.event_listeners):
            deliver(message)


stores: dict[str, Store] = {}


def forget(url: str) -> None:
    """Drop the store of ``url`` (its tasks are gone; drivers open on it keep theirs)."""
    stores.pop(url, None)
