"""``unique_key`` and ``concurrency_key`` through the client, against a real `taskq run`: a
held unique key answers its holder, with ``created`` False; a concurrency key is kept."""

from __future__ import annotations

import pytest

import taskq

pytestmark = pytest.mark.system


def test_submit_with_a_held_unique_key_answers_the_holder(client: taskq.Client) -> None:
    first = client.submit("noop", {"n": 1}, unique_key="report:42", delay=3600)
    assert first.created
    again = client.submit("noop", {"n": 2}, unique_key="report:42")
    assert (again.id, again.created) == (first.id, False)
    assert client.get(first.id).unique_key == "report:42"


def test_submit_many_answers_each_held_key_with_its_holder(client: taskq.Client) -> None:
    held = client.submit("noop", unique_key="a", delay=3600)
    answered = client.submit_many(
        [
            {"action": "noop", "unique_key": "a"},
            {"action": "noop", "unique_key": "b", "delay": 3600},
            {"action": "noop", "unique_key": "b"},
            {"action": "noop"},
        ]
    )
    assert [a.created for a in answered] == [False, True, False, True]
    assert answered[0].id == held.id
    assert answered[2].id == answered[1].id


def test_submit_with_a_concurrency_key_keeps_it(client: taskq.Client) -> None:
    accepted = client.submit("noop", concurrency_key="customer:7", delay=3600)
    assert client.get(accepted.id).concurrency_key == "customer:7"
    (many,) = client.submit_many([{"action": "noop", "concurrency_key": "c", "delay": 3600}])
    assert client.get(many.id).concurrency_key == "c"
