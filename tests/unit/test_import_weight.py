"""`import taskq` in a handler module costs no database driver, web or CLI library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("yoyo", "sqlparse", "pydantic", "croniter", "starlette", "uvicorn", "click", "psycopg")

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
