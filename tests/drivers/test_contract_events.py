"""The driver contract for events (taskq/events.py): ``publish_events`` sends a message to
every listener of the store, in this process and others (a second driver opened on the
same store stands in for another process), whole and in order; ``listen_events`` returns
how to stop, after which nothing more is delivered. Every driver must pass it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.support.waiting import until

from taskq.drivers.base import Driver
from taskq.events import Batch, Events
from taskq.queue import Queue

# PostgreSQL's NOTIFY takes payloads under 8,000 bytes; an events batch stays below it
LARGE = 7_900
# messages published back to back, as by as many processes flushing at once
BURST = 20


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


@pytest.fixture(params=["same driver", "another driver"])
async def publisher(
    request: pytest.FixtureRequest, driver: Driver, database_url: str
) -> AsyncIterator[Driver]:
    """Who publishes what ``driver``'s listeners must hear: ``driver`` itself, or a driver
    opened separately on the same store (another process, as far as the store knows)."""
    if request.param == "same driver":
        yield driver
        return
    async with Queue.connect(database_url) as other:
        yield other.driver


class Heard:
    """What one listener was delivered, in order."""

    def __init__(self) -> None:
        self.messages: list[bytes | None] = []

    def __call__(self, message: bytes | None) -> None:
        self.messages.append(message)

    def got(self, *expected: bytes) -> bool:
        return [m for m in self.messages if m is not None] == list(expected)


async def heard_exactly(heard: Heard, *expected: bytes) -> None:
    await until(
        lambda: heard.got(*expected),
        5,
        what=f"{len(expected)} message(s) delivered",
        details=lambda: f"delivered: {[m[:60] if m else m for m in heard.messages]}",
    )


async def test_a_published_message_reaches_a_listener(driver: Driver, publisher: Driver) -> None:
    heard = Heard()
    stop = await driver.listen_events(heard)
    try:
        await publisher.publish_events(b'{"hello":"world"}')
        await heard_exactly(heard, b'{"hello":"world"}')
    finally:
        await stop()


async def test_every_listener_hears_every_message(driver: Driver, publisher: Driver) -> None:
    first, second = Heard(), Heard()
    stops = [await driver.listen_events(first), await publisher.listen_events(second)]
    try:
        await publisher.publish_events(b"one")
        await driver.publish_events(b"two")
        await heard_exactly(first, b"one", b"two")
        await heard_exactly(second, b"one", b"two")
    finally:
        for stop in stops:
            await stop()


async def test_messages_arrive_in_the_order_they_were_published(
    driver: Driver, publisher: Driver
) -> None:
    heard = Heard()
    stop = await driver.listen_events(heard)
    sent = [b'{"n":%d}' % n for n in range(5)]
    try:
        for message in sent:
            await publisher.publish_events(message)
        await heard_exactly(heard, *sent)
    finally:
        await stop()


async def test_a_burst_is_heard_whole_or_the_listener_is_told_some_were_missed(
    driver: Driver, publisher: Driver
) -> None:
    """Many processes may flush their batches in the same moment (each worker process
    sends one every ``FLUSH_S``), and a driver may drop a message (a full socket buffer,
    a full notification queue): the listener hears every batch, or None among them (the
    senders number their batches) so that it reads afresh; never a silent gap."""
    sender, listener = Events(publisher), Events(driver)
    heard: list[Batch | None] = []
    unsubscribe = await listener.subscribe(heard.append)
    try:
        for n in range(BURST):
            sender.resync(f"burst {n}")
            await sender.flush()
        counted: list[int] = []

        def settled() -> bool:  # nothing arrived since the last look
            counted.append(len(heard))
            return len(counted) > 1 and counted[-2] == counted[-1]

        await until(settled, 5, what="the burst delivered")
        sender.resync("after")  # a later batch shows a gap at the burst's end too
        await sender.flush()
        await until(
            lambda: any(b is not None and b.resync == "after" for b in heard),
            5,
            what="the batch after the burst",
        )
        reasons = [b.resync for b in heard if b is not None]
        if None not in heard:
            assert reasons == [f"burst {n}" for n in range(BURST)] + ["after"]
    finally:
        await unsubscribe()


async def test_a_message_of_nearly_8000_bytes_arrives_whole(
    driver: Driver, publisher: Driver
) -> None:
    heard = Heard()
    stop = await driver.listen_events(heard)
    large = b'{"x":"' + bytes(ord("a") + i % 26 for i in range(LARGE - 8)) + b'"}'
    assert len(large) == LARGE
    try:
        await publisher.publish_events(large)
        await heard_exactly(heard, large)
    finally:
        await stop()


async def test_a_stopped_listener_hears_nothing_more(driver: Driver, publisher: Driver) -> None:
    stopped, still = Heard(), Heard()
    stop = await driver.listen_events(stopped)
    keep = await driver.listen_events(still)
    try:
        await publisher.publish_events(b"before")
        await heard_exactly(stopped, b"before")
        await stop()
        await publisher.publish_events(b"after")
        # the listener still on hears "after": had the stopped one been delivered it, it
        # would have been by then (one channel, in order)
        await heard_exactly(still, b"before", b"after")
        assert stopped.got(b"before"), f"delivered after stop: {stopped.messages}"
    finally:
        await keep()


async def test_nothing_is_heard_without_a_listener_and_listening_again_works(
    driver: Driver, publisher: Driver
) -> None:
    await publisher.publish_events(b"nobody hears this")  # no listener: no error either
    heard = Heard()
    stop = await driver.listen_events(heard)
    try:
        await publisher.publish_events(b"now")
        await heard_exactly(heard, b"now")
    finally:
        await stop()
    again = Heard()
    stop = await driver.listen_events(again)
    try:
        await publisher.publish_events(b"again")
        await heard_exactly(again, b"again")
        assert heard.got(b"now")
    finally:
        await stop()
