"""Task ids."""

from __future__ import annotations

import uuid

from taskq.task import new_task_id


def test_new_task_ids_are_random_uuid4_strings() -> None:
    ids = {new_task_id() for _ in range(1000)}
    assert len(ids) == 1000
    for task_id in ids:
        parsed = uuid.UUID(task_id)
        assert (str(parsed), parsed.version, parsed.variant) == (task_id, 4, uuid.RFC_4122)
