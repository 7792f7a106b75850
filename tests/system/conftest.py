"""Fixtures of the process-level tests: a process manager that always kills, fresh databases."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from tests.conftest import DRIVERS
from tests.system.procs import Processes


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Starts taskq processes with cwd = tmp_path; kills every one of them (by pid) at the end."""
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.kill_all()


@pytest.fixture(params=DRIVERS)
def fresh_database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each driver in turn, not migrated."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


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
