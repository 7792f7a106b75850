"""Task ids."""

from __future__ import annotations

import time
import uuid

import pytest

from taskq.errors import InvalidTask
from taskq.task import NewTask, new_task_id, validate


def test_new_task_ids_are_uuid7_strings_stamped_with_the_time() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = {new_task_id() for _ in range(1000)}
    after_ms = time.time_ns() // 1_000_000
    assert len(ids) == 1000
    for task_id in ids:
        parsed = uuid.UUID(task_id)
        assert (str(parsed), parsed.version, parsed.variant) == (task_id, 7, uuid.RFC_4122)
        assert before_ms <= parsed.int >> 80 <= after_ms


def test_task_ids_made_in_later_milliseconds_sort_after_earlier_ones() -> None:
    # what keeps the store's index on id compact: each insert lands at its end
    made = []
    for _ in range(20):
        made.append(new_task_id())
        time.sleep(0.002)
    assert sorted(made) == made


@pytest.mark.parametrize(
    "task_id",
    ["not-a-uuid", "6F9619FF-8B86-D011-B42D-00CF4FC964FF", "6f9619ff8b86d011b42d00cf4fc964ff"],
)
def test_a_task_id_must_be_a_canonical_uuid_for_every_store(task_id: str) -> None:
    with pytest.raises(InvalidTask, match="canonical"):
        validate(NewTask(action="x", id=task_id))
