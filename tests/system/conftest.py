"""Fixtures of the process-level tests: a process manager that always kills."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from tests.conftest import DATABASES
from tests.system.procs import Processes


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Starts taskq processes with cwd = tmp_path; kills every one of them (by pid) at the end."""
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.kill_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, add every taskq process's log to the report."""
    report = yield
    processes = getattr(item, "funcargs", {}).get("procs")
    if report.failed and isinstance(processes, Processes) and processes.started:
        report.sections.append((f"taskq process logs ({call.when})", processes.describe()))
    return report


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database that separate processes can share: the in-memory store
    lives in one process, so process-level tests run on SQLite and PostgreSQL."""
    url: str = request.getfixturevalue(f"migrated_{request.param}_url")
    return url
