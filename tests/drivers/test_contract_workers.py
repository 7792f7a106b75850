"""The driver contract for the workers table (GET /workers, GET /schedules): announce,
beat, retire, staleness, the tasks each worker runs, and each scheduled action's last tick.
Times are chosen ``now`` values, so staleness is exact. Every driver must pass it."""

from __future__ import annotations

import msgspec
import pytest

from taskq.drivers.base import Driver
from taskq.queue import Queue
from taskq.roster import WorkerInfo, tick_key
from taskq.task import NewTask

NOW = 10_000.0
LEASE_S = 30.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


def worker(worker_id: str = "w1", *, at: float = NOW, **fields: object) -> WorkerInfo:
    given: dict[str, object] = {
        "host": "box",
        "pid": 42,
        "queues": None,
        "concurrency": 4,
        "lease_s": LEASE_S,
        "schedules": {},
        **fields,
    }
    return msgspec.convert(
        {"id": worker_id, "started_at": at, "last_seen": at, **given}, WorkerInfo
    )


async def test_an_announced_worker_is_listed_as_it_announced_itself(driver: Driver) -> None:
    me = worker(queues=["emails", "reports"], schedules={"report": "*/5 * * * *"})
    await driver.announce(me)
    assert await driver.workers(now=NOW + 1) == [me]
    await driver.announce(worker("w2", at=NOW + 5, queues=None))
    assert [w.id for w in await driver.workers(now=NOW + 6)] == ["w1", "w2"], "oldest first"
    assert (await driver.workers(now=NOW + 6))[1].queues is None


async def test_announcing_again_only_moves_last_seen_on(driver: Driver) -> None:
    await driver.announce(worker(concurrency=4))
    await driver.announce(worker(at=NOW + 20, concurrency=9))
    (found,) = await driver.workers(now=NOW + 20)
    assert (found.started_at, found.last_seen, found.concurrency) == (NOW, NOW + 20, 4)


async def test_a_beat_keeps_a_worker_live_and_one_that_stops_beating_drops_off(
    driver: Driver,
) -> None:
    await driver.announce(worker())
    assert [w.id for w in await driver.workers(now=NOW + LEASE_S)] == ["w1"], "lease_s: live"
    assert await driver.workers(now=NOW + LEASE_S + 1) == [], "past its lease: not listed"
    assert await driver.beat("w1", now=NOW + 25)
    (found,) = await driver.workers(now=NOW + LEASE_S + 1)
    assert found.last_seen == NOW + 25
    assert found.started_at == NOW


async def test_any_beat_deletes_the_workers_that_stopped_beating(driver: Driver) -> None:
    await driver.announce(worker("gone", lease_s=10))
    await driver.announce(worker("slow", lease_s=100))
    await driver.announce(worker("me"))
    assert await driver.beat("me", now=NOW + 11)
    # read as of NOW: a row still stored would be listed
    assert [w.id for w in await driver.workers(now=NOW)] == ["me", "slow"]


async def test_a_worker_is_never_deleted_by_its_own_beat(driver: Driver) -> None:
    await driver.announce(worker())
    assert await driver.beat("w1", now=NOW + 1000), "late, but alive: kept and moved on"
    assert [w.id for w in await driver.workers(now=NOW + 1000)] == ["w1"]


async def test_a_beat_of_a_forgotten_worker_says_so(driver: Driver) -> None:
    assert not await driver.beat("nobody", now=NOW)
    assert await driver.workers(now=NOW) == []


async def test_a_retired_worker_is_gone_at_once(driver: Driver) -> None:
    await driver.announce(worker("w1"))
    await driver.announce(worker("w2"))
    await driver.retire("w1")
    await driver.retire("never-announced")
    assert [w.id for w in await driver.workers(now=NOW)] == ["w2"]


async def test_each_worker_lists_the_tasks_it_runs_not_those_it_prefetched(
    driver: Driver,
) -> None:
    await driver.announce(worker("w1"))
    await driver.announce(worker("w2"))
    tasks = await driver.enqueue([NewTask(action="x") for _ in range(5)], now=NOW)
    one = await driver.claim("w1", 3, queues=None, lease_s=LEASE_S, now=NOW, start=2)
    two = await driver.claim("w2", 1, queues=None, lease_s=LEASE_S, now=NOW, start=1)
    assert len(one.prefetched) == 1
    await driver.claim("ghost", 1, queues=None, lease_s=LEASE_S, now=NOW, start=1)
    w1, w2 = await driver.workers(now=NOW)
    assert w1.running == [t.id for t in one.started] == [tasks[0].id, tasks[1].id]
    assert w2.running == [t.id for t in two.started] == [tasks[3].id]
    assert await driver.complete(tasks[0].id, "w1", "null", now=NOW + 1)
    assert (await driver.workers(now=NOW + 1))[0].running == [tasks[1].id]


async def test_an_actions_last_tick_is_its_newest_tick_task(driver: Driver) -> None:
    ticks = [NOW - 600, NOW - 300]
    for tick in ticks:
        new = NewTask(action="report", idempotency_key=tick_key("report", tick))
        await driver.enqueue([new], now=tick)
    await driver.enqueue([NewTask(action="report", idempotency_key="mine")], now=NOW)
    await driver.enqueue([NewTask(action="report")], now=NOW)
    # a key of another action's ticks on a task of this one is not a tick of it
    await driver.enqueue(
        [NewTask(action="report", idempotency_key=tick_key("other", NOW))], now=NOW
    )
    await driver.enqueue(
        [NewTask(action="rep", idempotency_key=tick_key("rep", NOW - 60))], now=NOW
    )
    found = await driver.last_ticks(["report", "rep", "never", "report"])
    assert found == {"report": NOW - 300, "rep": NOW - 60}
    assert await driver.last_ticks([]) == {}
