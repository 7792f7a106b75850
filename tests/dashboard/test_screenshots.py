"""Screenshots of the dashboard with realistic data on screen: a few hundred tasks in three
queues, some failures, a worker busy. Saved to TASKQ_SCREENSHOT_DIR when set (the README's
images: ``TASKQ_SCREENSHOT_DIR=docs/screenshots``), else to a tmp dir; set, the throughput
chart is given longer to fill."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from tests.dashboard.conftest import Dashboard, need_browser, open_tab, start_service, submit
from tests.support.waiting import wait_until
from tests.system.procs import Processes, TaskqProcess

pytestmark = pytest.mark.system

TASKS = 320


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskqProcess]:
    """A service of its own, so the pictures hold only the data made for them."""
    need_browser()
    workdir = tmp_path_factory.mktemp("dashboard-screens")
    procs = Processes(workdir)
    try:
        yield start_service(procs, workdir, "screens")
    finally:
        procs.kill_all()


def the_kind_of_day(i: int) -> tuple[str, dict[str, object], dict[str, object]]:
    """The ``i``-th task of a plausible mix: mails, reports, payments; a few fail."""
    kind = i % 20
    if kind < 9:
        return "uppercase", {"text": f"welcome mail #{i}"}, {"queue": "emails"}
    if kind < 14:
        return "sum", {"numbers": [i, i % 7, 3]}, {"queue": "reports", "priority": 5}
    if kind < 17:
        return "charge", {"key": uuid.uuid4().hex[:8], "amount": 10 + i}, {"queue": "billing"}
    if kind < 19:
        return "sum", {"numbers": ["n/a"]}, {"queue": "reports"}
    return "uppercase", {"text": "weekly digest"}, {"queue": "emails", "delay": 3600}


def submit_over(url: str, seconds: float) -> None:
    """TASKS tasks spread over ``seconds``, so the throughput chart has a shape."""
    with httpx.Client(base_url=url, timeout=5) as http:
        start = time.monotonic()
        for i in range(TASKS):
            action, data, options = the_kind_of_day(i)
            submit(http, action, data, **options)
            # a slow rise, then a burst
            ahead = start + seconds * (i / TASKS) ** 0.7 - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


@pytest.fixture
def wide(browser: Browser, fresh: TaskqProcess) -> Iterator[Dashboard]:
    yield from open_tab(browser, fresh.url)


@pytest.fixture
def narrow(browser: Browser, fresh: TaskqProcess) -> Iterator[Dashboard]:
    yield from open_tab(browser, fresh.url, viewport={"width": 400, "height": 800})


def test_screenshots_of_every_page(
    wide: Dashboard, narrow: Dashboard, fresh: TaskqProcess, screenshot_dir: Path
) -> None:
    seconds = 40.0 if os.environ.get("TASKQ_SCREENSHOT_DIR") else 5.0
    with httpx.Client(base_url=fresh.url, timeout=5) as http:
        for _ in range(2):  # a busy worker on the workers page
            submit(http, "slow", {"sleep_s": 300}, queue="reports")
        page = wide.open("/")
        expect(page.locator(".live")).to_have_attribute("data-state", "live")
        feeder = threading.Thread(target=submit_over, args=(fresh.url, seconds))
        feeder.start()
        feeder.join(seconds + 60)
        wait_until(
            lambda: http.get("/stats").json()["counts"]["queued"] <= TASKS // 20 + 2,
            30,
            what="the seeded tasks to be run",
        )
        page.wait_for_timeout(2500)  # the chart's last seconds, the failures list
        page.screenshot(path=screenshot_dir / "overview.png")

        page.goto(f"{wide.url}/dashboard#/tasks")
        expect(page.locator("tbody tr")).to_have_count(50)
        page.screenshot(path=screenshot_dir / "tasks.png")

        failed = http.get("/tasks", params={"status": "failed", "action": "charge", "limit": 1})
        task_id = failed.json()["tasks"][0]["id"]
        page.goto(f"{wide.url}/dashboard#/tasks/{task_id}")
        expect(page.locator(".traceback").first).to_be_visible()
        page.screenshot(path=screenshot_dir / "task-failed.png")

        # flow control on show: one queue limited and rated
        limited = http.patch("/queues/reports", json={"concurrency": 2, "rate_limit": "100/min"})
        assert limited.status_code == 200, limited.text
        page.goto(f"{wide.url}/dashboard#/queues")
        expect(page.locator(".queues-table tbody tr")).to_have_count(3)
        expect(page.locator("[data-rate='100/min']")).to_be_visible()
        page.screenshot(path=screenshot_dir / "queues.png")

        page.goto(f"{wide.url}/dashboard#/workers")
        expect(page.locator(".workers-table .running-ids .id").first).to_be_visible()
        page.screenshot(path=screenshot_dir / "workers.png")

        small = narrow.open("/tasks")
        expect(small.locator("tbody tr")).to_have_count(50)
        small.screenshot(path=screenshot_dir / "narrow.png")

    names = ["overview", "tasks", "task-failed", "queues", "workers", "narrow"]
    for name in names:
        assert (screenshot_dir / f"{name}.png").stat().st_size > 10_000, name
