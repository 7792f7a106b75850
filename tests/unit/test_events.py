"""``Events`` (taskq/events.py) over a fake channel: how changes are batched and flushed,
the cap on detailed changes and the size of a message, and how listeners come and go.
No store: what carries the messages between processes is the drivers' contract
(tests/drivers/test_contract_events.py)."""

from __future__ import annotations

import asyncio
import time
import types
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from tests.support.waiting import until

from taskq.events import FLUSH_S, MAX_DETAILED, Batch, Deliver, Events, TaskEvent, WorkerEvent
from taskq.task import MAX_ACTION_LENGTH, MAX_QUEUE_LENGTH, Status, Task
from taskq.worker.identity import new_worker_id

# PostgreSQL's NOTIFY refuses a payload of 8,000 bytes or more
NOTIFY_LIMIT = 8_000


class FakeChannel:
    """A driver's events half, in memory: what was published, and who listens."""

    def __init__(self) -> None:
        self.published: list[bytes] = []
        self.listeners: list[Deliver] = []
        self.listens = 0
        self.stops = 0

    async def publish_events(self, message: bytes) -> None:
        self.published.append(message)
        for deliver in list(self.listeners):
            deliver(message)

    async def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        self.listens += 1
        self.listeners.append(deliver)

        async def stop() -> None:
            self.stops += 1
            self.listeners.remove(deliver)

        return stop

    def batches(self) -> list[Batch]:
        return [msgspec.json.decode(m, type=Batch) for m in self.published]

    def deliver(self, message: bytes | None) -> None:
        """As if another process had sent ``message`` (None: some were missed)."""
        for deliver in list(self.listeners):
            deliver(message)


def task(
    status: Status = Status.QUEUED, *, queue: str = "default", action: str = "a", attempts: int = 0
) -> Task:
    return Task(
        id=str(uuid.uuid4()),
        action=action,
        payload={},
        status=status,
        queue=queue,
        attempts=attempts,
    )


async def published(channel: FakeChannel, n: int = 1) -> list[Batch]:
    """The batches, once ``n`` were published."""
    await until(lambda: len(channel.published) >= n, 2, what=f"{n} batch(es) published")
    return channel.batches()


async def test_the_changes_of_one_moment_go_out_as_one_batch_in_order() -> None:
    channel = FakeChannel()
    events = Events(channel)
    a, b = task(), task(Status.RUNNING, attempts=1)
    t0 = time.monotonic()
    events.task("submitted", a, at=1.0)
    events.worker("joined", "w1", at=2.0)
    events.task("started", b, at=3.0)
    events.task("completed", b, at=4.0)
    events.worker("left", "w1", at=5.0)
    assert channel.published == [], "sent at once: not batched"
    (batch,) = await published(channel)
    assert time.monotonic() - t0 >= FLUSH_S * 0.9, "flushed before FLUSH_S"
    assert [(t.kind, t.id, t.at) for t in batch.tasks] == [
        ("submitted", a.id, 1.0),
        ("started", b.id, 3.0),
        ("completed", b.id, 4.0),
    ]
    assert [(t.status, t.attempt) for t in batch.tasks] == [
        (Status.QUEUED, 0),
        (Status.RUNNING, 1),
        (Status.COMPLETED, 1),
    ]
    assert batch.workers == [WorkerEvent("joined", "w1", 2.0), WorkerEvent("left", "w1", 5.0)]
    assert batch.counts == {"submitted": 1, "started": 1, "completed": 1}
    assert (batch.dropped, batch.resync) == (0, None)
    await events.close()
    assert len(channel.published) == 1, "nothing left to send"


async def test_changes_told_out_of_order_go_out_in_the_order_they_happened() -> None:
    """A worker of the process may tell a task's start before the enqueuing coroutine,
    resumed after the same commit, tells its submission."""
    channel = FakeChannel()
    events = Events(channel)
    a = task(Status.RUNNING, attempts=1)
    events.task("started", a, at=2.0)
    events.task("submitted", a, at=1.0)
    events.task("completed", a, at=3.0)
    (batch,) = await published(channel)
    assert [(t.kind, t.at) for t in batch.tasks] == [
        ("submitted", 1.0),
        ("started", 2.0),
        ("completed", 3.0),
    ]


async def test_changes_after_a_flush_go_out_in_the_next_batch() -> None:
    channel = FakeChannel()
    events = Events(channel, flush_s=0.01)
    first, second = task(), task()
    events.task("submitted", first, at=1.0)
    await published(channel, 1)
    events.task("submitted", second, at=2.0)
    batches = await published(channel, 2)
    assert [[t.id for t in b.tasks] for b in batches] == [[first.id], [second.id]]
    await events.close()


@pytest.mark.parametrize(
    ("kind", "before", "after"),
    [
        ("submitted", Status.QUEUED, Status.QUEUED),
        ("started", Status.QUEUED, Status.RUNNING),  # a prefetched task, as claimed
        ("completed", Status.RUNNING, Status.COMPLETED),
        ("failed", Status.RUNNING, Status.FAILED),
        ("retried", Status.RUNNING, Status.QUEUED),
        ("cancelled", Status.RUNNING, Status.CANCELLED),
        ("released", Status.QUEUED, Status.QUEUED),
        ("deleted", Status.COMPLETED, Status.COMPLETED),  # keeps the status it had
    ],
)
async def test_each_change_carries_the_status_the_task_has_after_it(
    kind: str, before: Status, after: Status
) -> None:
    channel = FakeChannel()
    events = Events(channel)
    events.task(kind, task(before), at=1.0)  # type: ignore[arg-type]
    await events.close()
    (batch,) = channel.batches()
    assert batch.tasks[0].status is after


async def test_past_max_detailed_only_counts_are_kept() -> None:
    channel = FakeChannel()
    events = Events(channel)
    n = MAX_DETAILED + 25
    tasks = [task() for _ in range(n)]
    for t in tasks:
        events.task("submitted", t, at=1.0)
    for t in tasks[:5]:
        events.task("started", t, at=2.0)
    await events.close()
    (batch,) = channel.batches()
    assert [t.id for t in batch.tasks] == [t.id for t in tasks[:MAX_DETAILED]]
    assert batch.counts == {"submitted": n, "started": 5}, "counts count every change"
    assert batch.dropped == n + 5 - MAX_DETAILED
    events2 = Events(channel)
    events2.task("submitted", task(), at=3.0)
    await events2.close()
    assert channel.batches()[-1].dropped == 0, "the next batch starts afresh"


async def test_a_full_batch_stays_under_the_notify_limit_with_the_longest_names() -> None:
    """A batch must fit one NOTIFY (PostgreSQL refuses 8,000 bytes or more; the batch is
    then lost, flush only logs it at debug level) whatever the tasks' queue and action."""
    channel = FakeChannel()
    events = Events(channel)
    queue, action = "q" * MAX_QUEUE_LENGTH, "a" * MAX_ACTION_LENGTH
    for _ in range(MAX_DETAILED + 10):
        events.task("submitted", task(queue=queue, action=action), at=time.time())
    events.worker("joined", new_worker_id(), at=time.time())
    await events.close()
    (message,) = channel.published
    batch = channel.batches()[0]
    assert batch.counts == {"submitted": MAX_DETAILED + 10}
    assert len(message) < NOTIFY_LIMIT, (
        f"a batch of {len(batch.tasks)} detailed changes takes {len(message)} bytes"
    )


async def test_a_batch_of_ordinary_changes_is_under_the_limit() -> None:
    channel = FakeChannel()
    events = Events(channel)
    for _ in range(MAX_DETAILED * 3):
        events.task("completed", task(Status.RUNNING, action="send_email", attempts=3), at=1e9)
    await events.close()
    assert len(channel.published[0]) < NOTIFY_LIMIT


async def test_resync_is_carried_and_alone_is_enough_to_send_a_batch() -> None:
    channel = FakeChannel()
    events = Events(channel)
    events.resync("12 tasks cancelled")
    (batch,) = await published(channel)
    assert msgspec.structs.replace(batch, sender="", seq=0) == Batch(resync="12 tasks cancelled")
    assert (len(batch.sender), batch.seq) == (16, 1), "numbered by its sender"
    events.task("deleted", task(Status.COMPLETED), at=1.0)
    events.resync("first")
    events.resync("3 tasks recovered")
    await events.close()
    last = channel.batches()[-1]
    assert last.resync == "3 tasks recovered", "the latest reason"
    assert [t.kind for t in last.tasks] == ["deleted"]


async def test_close_sends_what_is_pending_at_once() -> None:
    channel = FakeChannel()
    events = Events(channel, flush_s=60)
    t = task()
    events.task("submitted", t, at=1.0)
    events.worker("left", "w1", at=2.0)
    t0 = time.monotonic()
    await events.close()
    assert time.monotonic() - t0 < 1, "close waited for the flush interval"
    (batch,) = channel.batches()
    assert [x.id for x in batch.tasks] == [t.id]
    assert [w.kind for w in batch.workers] == ["left"]


async def test_close_with_nothing_pending_sends_nothing() -> None:
    channel = FakeChannel()
    events = Events(channel)
    await events.close()
    assert channel.published == []


async def test_subscribers_hear_every_batch_and_the_channel_listens_while_anyone_does() -> None:
    channel = FakeChannel()
    events = Events(channel)
    first: list[Batch | None] = []
    second: list[Batch | None] = []
    unsubscribe_first = await events.subscribe(first.append)
    unsubscribe_second = await events.subscribe(second.append)
    assert (channel.listens, len(channel.listeners)) == (1, 1), "one listen per process"
    t = task()
    events.task("submitted", t, at=1.0)
    await events.flush()
    assert len(first) == len(second) == 1
    assert first[0] is not None
    assert [x.id for x in first[0].tasks] == [t.id]

    await unsubscribe_first()
    assert channel.stops == 0, "still one listener"
    channel.deliver(msgspec.json.encode(Batch(resync="elsewhere")))
    assert len(first) == 1, "heard after unsubscribing"
    assert second[-1] == Batch(resync="elsewhere")

    await unsubscribe_second()
    assert (channel.stops, channel.listeners) == (1, []), "the last one out stops listening"
    await unsubscribe_second()  # twice: harmless
    assert channel.stops == 1

    third: list[Batch | None] = []
    unsubscribe_third = await events.subscribe(third.append)
    assert channel.listens == 2, "listening again for a new subscriber"
    channel.deliver(msgspec.json.encode(Batch(resync="again")))
    assert third == [Batch(resync="again")]
    await unsubscribe_third()
    await events.close()


async def test_close_stops_listening() -> None:
    channel = FakeChannel()
    events = Events(channel)
    heard: list[Batch | None] = []
    await events.subscribe(heard.append)
    await events.close()
    assert (channel.stops, channel.listeners) == (1, [])


async def test_a_message_that_is_no_batch_is_ignored_and_none_is_passed_on() -> None:
    channel = FakeChannel()
    events = Events(channel)
    heard: list[Batch | None] = []
    unsubscribe = await events.subscribe(heard.append)
    for junk in [b"!", b"", b"not json", b'"a string"', b"[1,2]", b'{"tasks": 3}']:
        channel.deliver(junk)
    assert heard == [], "a message that is no batch reached a listener"
    channel.deliver(None)
    assert heard == [None], "missed messages are told as None"
    good = Batch(
        tasks=[TaskEvent("completed", "x", Status.COMPLETED, "q", "a", 1, 5.0)],
        counts={"completed": 1},
    )
    channel.deliver(msgspec.json.encode(good))
    assert heard == [None, good]
    await unsubscribe()


async def test_a_failure_to_publish_loses_the_batch_but_not_the_next() -> None:
    from taskq.errors import StoreUnavailable

    class Flaky(FakeChannel):
        fail = True

        async def publish_events(self, message: bytes) -> None:
            if self.fail:
                self.fail = False
                raise StoreUnavailable("down")
            await super().publish_events(message)

    channel = Flaky()
    events = Events(channel, flush_s=0.01)
    events.task("submitted", task(), at=1.0)
    await until(lambda: not channel.fail, 2, what="the failed publish")
    later = task()
    events.task("submitted", later, at=2.0)
    (batch,) = await published(channel)
    assert [t.id for t in batch.tasks] == [later.id]
    await events.close()


# GET /events (taskq/api/events.py): one subscription per process, shared by its clients


class SlowListen(FakeChannel):
    """A channel that takes a moment to start listening, as a PostgreSQL driver does
    (it opens a connection): clients may connect meanwhile."""

    async def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        await asyncio.sleep(0.01)
        return await super().listen_events(deliver)


class NoStats:
    """What EventStreams asks for a tick's stats (no tick fires in these tests)."""

    class stats:
        @staticmethod
        async def get() -> None:
            raise AssertionError("no stats were expected")


def event_streams(channel: FakeChannel) -> Any:
    from taskq.api.events import EventStreams

    queue = types.SimpleNamespace(events=Events(channel))
    return EventStreams(queue, NoStats())  # type: ignore[arg-type]


def tickers() -> list[asyncio.Task[Any]]:
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "") == "EventStreams._tick"
    ]


def one_task_batch() -> bytes:
    change = TaskEvent("submitted", str(uuid.uuid4()), Status.QUEUED, "q", "a", 0, 1.0)
    return msgspec.json.encode(Batch(tasks=[change], counts={"submitted": 1}))


@pytest.mark.parametrize("at_once", [False, True], ids=["one after the other", "at once"])
async def test_clients_of_one_process_share_one_subscription(at_once: bool) -> None:
    """However they connect, each client gets each change once, there is one stats ticker,
    and once the last one leaves, nothing listens or ticks any more."""
    channel = SlowListen()
    streams = event_streams(channel)
    try:
        if at_once:
            clients = list(await asyncio.gather(streams.connect(), streams.connect()))
        else:
            clients = [await streams.connect(), await streams.connect()]
        channel.deliver(one_task_batch())
        sizes = [c.outbox.qsize() for c in clients]
        assert sizes == [1, 1], f"messages per client for one change: {sizes}"
        assert len(tickers()) == 1, "one stats ticker per process"
        for c in clients:
            await streams.disconnect(c)
        await asyncio.sleep(0)
        assert channel.listeners == [], "still listening with no client left"
        assert tickers() == [], "still ticking with no client left"
    finally:
        await streams.close()
        for leaked in tickers():
            leaked.cancel()


async def test_a_client_that_falls_behind_is_told_to_resync() -> None:
    from taskq.api.events import OUTBOX

    channel = FakeChannel()
    streams = event_streams(channel)
    slow = await streams.connect()
    for _ in range(OUTBOX + 1):
        channel.deliver(one_task_batch())
    chunks = [slow.outbox.get_nowait() for _ in range(slow.outbox.qsize())]
    assert chunks[0] is not None
    assert chunks[0].startswith(b"event: resync\n"), chunks[:2]
    await streams.close()


async def test_closing_ends_every_stream_and_refuses_new_ones() -> None:
    from taskq.errors import TaskqError

    channel = FakeChannel()
    streams = event_streams(channel)
    client = await streams.connect()
    await streams.close()
    assert client.outbox.get_nowait() is None, "the stream's end"
    assert (channel.listeners, tickers()) == ([], [])
    with pytest.raises(TaskqError):
        await streams.connect()


async def test_a_missing_number_from_a_sender_is_told_as_none() -> None:
    """A full socket buffer or notification queue drops a message: its sender's next
    number shows the gap, and listeners are told to read afresh."""
    channel = FakeChannel()
    events = Events(channel)
    heard: list[Batch | None] = []
    unsubscribe = await events.subscribe(heard.append)
    for seq in (1, 2, 4):
        channel.deliver(msgspec.json.encode(Batch(resync=f"n{seq}", sender="s", seq=seq)))
    channel.deliver(msgspec.json.encode(Batch(resync="t1", sender="t", seq=7)))
    assert [b.resync if b else None for b in heard] == ["n1", "n2", None, "n4", "t1"]
    await unsubscribe()
