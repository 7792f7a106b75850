"""``submit_many``: ``POST /tasks/batch`` in chunks of 1000, in order, each task under an
idempotency key."""

from __future__ import annotations

import pytest
from tests.system.procs import TaskqProcess

import taskq
from taskq.api.wire import MAX_IDEMPOTENCY_KEY
from taskq.client import calls
from taskq.task import Status

from .test_client import CountingTransport

pytestmark = pytest.mark.system


def test_submit_many_sends_chunks_of_1000_and_answers_in_order(service: TaskqProcess) -> None:
    transport = CountingTransport()
    with taskq.Client(service.url, transport=transport) as client:
        assert client.submit_many([]) == []
        assert transport.sent == []

        accepted = client.submit_many(
            [{"action": "noop", "data": {"n": n}, "delay": 3600} for n in range(1500)]
        )

        assert len(transport.sent) == 2
        assert [len(r.content) > 0 for r in transport.sent] == [True, True]
        assert len({a.id for a in accepted}) == 1500
        assert all(a.status is Status.QUEUED and a.created for a in accepted)
        listed = {t.id: t.payload["n"] for t in client.list(action="noop", page_size=1000)}
        assert [listed[a.id] for a in accepted] == list(range(1500))


def test_submit_many_keeps_a_callers_key_and_names_the_index_of_a_bad_task(
    service: TaskqProcess,
) -> None:
    with taskq.Client(service.url) as client:
        first = client.submit_many([{"action": "noop", "idempotency_key": "k1", "delay": 3600}])
        again = client.submit_many(
            [
                {"action": "noop", "idempotency_key": "k1", "delay": 3600},
                {"action": "noop", "delay": 3600},
            ]
        )
        assert again[0].id == first[0].id
        assert (first[0].created, again[0].created, again[1].created) == (True, False, True)

        items: list[taskq.client.Submission] = [{"action": "noop"} for _ in range(1003)]
        items[1001] = {"action": ""}
        with pytest.raises(taskq.InvalidRequest) as caught:
            client.submit_many(items)

    assert caught.value.status_code == 422
    assert caught.value.field == "tasks[1001].action"
    assert caught.value.error.startswith("tasks[1001]: ")


def test_batch_keys_are_unique_and_in_order_within_a_call_and_new_for_each_call() -> None:
    keys = calls.batch_keys(1500)
    assert len(set(keys)) == 1500
    assert keys == sorted(keys)  # neighbours in the store's index
    assert all(0 < len(key) <= MAX_IDEMPOTENCY_KEY for key in keys)
    assert not set(calls.batch_keys(1500)) & set(keys)
