"""Task ids."""

from __future__ import annotations

import uuid

import pytest

from taskq.errors import InvalidTask
from taskq.task import NewTask, new_task_id, validate


def test_new_task_ids_are_random_uuid4_strings() -> None:
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000
    for task_id in ids:
        parsed = uuid.UUID(task_id)
        assert (str(parsed), parsed.version, parsed.variant) == (task_id, 4, uuid.RFC_4122)


@pytest.mark.parametrize(
    "task_id",
    ["not-a-uuid", "6F9619FF-8B86-D011-B42D-00CF4FC964FF", "6f9619ff8b86d011b42d00cf4fc964ff"],
)
def test_a_task_id_must_be_a_canonical_uuid_for_every_store(task_id: str) -> None:
    with pytest.raises(InvalidTask, match="canonical"):
        validate(NewTask(action="x", id=task_id))
