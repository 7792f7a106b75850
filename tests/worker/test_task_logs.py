"""Every log line about a task carries its fields, and a failed attempt's traceback is
logged once, by the worker, in text and in JSON."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from tests.support.waiting import until_terminal
from tests.support.worker import actions, running

from taskq.actions import Action
from taskq.logs import JsonFormatter, TextFormatter
from taskq.queue import Queue
from taskq.task import Status


async def test_a_failed_attempt_logs_its_fields_and_traceback_once(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(data: dict[str, Any]) -> None:
        raise ValueError("no such thing")

    caplog.set_level(logging.INFO, logger="taskq")
    async with running(queue, actions(Action("broken", broken)), max_attempts=2):
        task = await until_terminal(queue, (await queue.enqueue("broken", queue="mail")).id)
    assert task.status is Status.FAILED
    failed = [r for r in caplog.records if getattr(r, "task_id", None) == task.id]
    attempts = [r for r in failed if getattr(r, "traceback", None)]
    assert [r.attempt for r in attempts] == [1, 2], "one line with a traceback per attempt"
    for record in attempts:
        assert (record.action, record.queue) == ("broken", "mail")
        assert "ValueError: no such thing" in record.traceback
        text = TextFormatter().format(record)
        assert f"task_id={task.id} action=broken queue=mail attempt={record.attempt}" in text
        assert text.count("Traceback (most recent call last)") == 1
        entry = json.loads(JsonFormatter().format(record))
        assert entry["task_id"] == task.id
        assert (entry["action"], entry["queue"], entry["attempt"]) == (
            "broken",
            "mail",
            record.attempt,
        )
        assert "ValueError: no such thing" in entry["traceback"]


def test_a_line_about_no_task_has_no_task_fields() -> None:
    record = logging.LogRecord("taskq.worker", logging.INFO, __file__, 1, "idle", None, None)
    assert "task_id" not in TextFormatter().format(record)
    assert "task_id" not in json.loads(JsonFormatter().format(record))
