"""`import taskq` in a handler module costs no database driver, web or CLI library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "yoyo",
    "sqlparse",
    "pydantic",
    "croniter",
    "starlette",
    "uvicorn",
    "click",
    "psycopg",
    "opentelemetry",
)

# Runs in a fresh interpreter: this test process has long imported all of them.
PROBE = f"""
import json, sys

def heavy():
    loaded = {{name.split(".")[0] for name in sys.modules}}
    return sorted(loaded & set({HEAVY!r}))

import taskq
after_import = heavy()
from taskq import action, Fail, Retry, is_cancelled

@action("resize")
def resize(data):
    return data

after_handler_module = heavy()
from taskq.queue import Queue
print(json.dumps({{
    "after_import": after_import,
    "after_handler_module": after_handler_module,
    "queue_resolves": taskq.Queue is Queue,
    "all_resolve": all(getattr(taskq, name) is not None for name in taskq.__all__),
    "dir_lists_all": set(taskq.__all__) <= set(dir(taskq)),
}}))
"""


def test_import_taskq_loads_no_heavy_dependency_until_used() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["after_import"] == []
    assert seen["after_handler_module"] == []
    assert seen["queue_resolves"]
    assert seen["all_resolve"]
    assert seen["dir_lists_all"]


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import taskq

    with pytest.raises(AttributeError, match="Nope"):
        taskq.Nope  # type: ignore[attr-defined]  # noqa: B018


# An API and a worker made from settings, as `taskq api`/`worker`/`run` make them, with
# tracing not asked for: OpenTelemetry (installed here, as the test extra has it) stays out.
UNTRACED = """
import json, os, sys
from taskq.api import create_app
from taskq.config import Settings
from taskq.queue import Queue
from taskq.worker import Worker

settings = Settings(database=sys.argv[1])
app = create_app(settings)
worker = Worker.from_settings(Queue.from_settings(settings), settings)
print(json.dumps({
    "loaded": sorted(n for n in sys.modules if n.split(".")[0] == "opentelemetry"),
    "app": type(app.state.tracing).__name__,
    "worker": type(worker.tracing).__name__,
}))
"""


def test_an_api_and_a_worker_without_tracing_load_no_opentelemetry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TASKQ_"))}
    done = subprocess.run(
        [sys.executable, "-c", UNTRACED, str(tmp_path / "tasks.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"loaded": [], "app": "Tracing", "worker": "Tracing"}
