"""Fixtures of the dashboard's end-to-end tests: a real ``taskq run`` and a real headless
Chromium driving the page, one of each per module.

Chromium is Debian's (``/usr/bin/chromium``) and Playwright only drives it: nothing here
downloads a browser. Without either, the tests are skipped with the reason, or fail when
TASKQ_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.conftest import services_required
from tests.support.waiting import wait_until
from tests.system.procs import Processes, TaskqProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 800}
# Chromium logs every failed load as a console error. Two are part of the page's contract
# and let through: a 401 (no key yet, or a revoked one: the page shows the sign-in screen),
# and a 404 from the endpoints an older service lacks (no /session: no keys; no /events:
# not live). Any other error fails the test.
NOT_YET_THERE = ("/session", "/events")
UNAUTHORIZED = "status of 401"

ACTIONS_MODULE = "dashboard_actions"
ACTIONS_SOURCE = """\
import os
import time

import taskq

MARKS = {marks!r}


@taskq.action("charge")
def charge(data):
    # Fails its first attempt with a traceback, succeeds when retried.
    mark = os.path.join(MARKS, "charged-" + str(data["key"]))
    if not os.path.exists(mark):
        open(mark, "w").close()
        raise ConnectionError(f"payment gateway timed out for order {{data['key']}}")
    return {{"charged": data.get("amount", 0)}}


@taskq.action("slow")
def slow(data):
    deadline = time.monotonic() + float(data.get("sleep_s", 5))
    while time.monotonic() < deadline and not taskq.is_cancelled():
        time.sleep(0.05)
    return {{"slept": data.get("sleep_s", 5)}}
"""


def need_browser() -> None:
    """Skip (or fail, when services are required) without Chromium or Playwright."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} is missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright is not installed")
    if not missing:
        return
    reason = "; ".join(missing) + " (the dashboard tests drive a real Chromium)"
    if services_required():
        pytest.fail(f"TASKQ_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def start_service(procs: Processes, workdir: Path, name: str) -> TaskqProcess:
    """``taskq run`` on a fresh SQLite file with the test actions, one attempt per task."""
    (workdir / f"{ACTIONS_MODULE}.py").write_text(ACTIONS_SOURCE.format(marks=str(workdir)))
    service = procs.start(
        "run",
        "--database",
        str(workdir / "tasks.db"),
        "--actions",
        ACTIONS_MODULE,
        "--max-attempts",
        "1",
        "--demo-delay-ms",
        "20",
        "--concurrency",
        "4",
        "--poll-interval-s",
        "0.1",
        name=name,
    )
    service.wait_ready()
    return service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskqProcess]:
    """One ``taskq run`` for the module's tests; killed (by pid) at the end."""
    need_browser()  # no service to start when no test can run
    workdir = tmp_path_factory.mktemp("dashboard")
    procs = Processes(workdir)
    try:
        yield start_service(procs, workdir, "run")
    finally:
        procs.kill_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def http(service: TaskqProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=5) as client:
        yield client


@dataclass
class Dashboard:
    """A browser tab on the dashboard; every console error or page error is kept."""

    page: Page
    url: str
    problems: list[str] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)  # statuses a test provokes on purpose

    def open(self, route: str = "/") -> Page:
        """Load the dashboard at ``#<route>`` and wait for the page to be drawn."""
        self.page.goto(f"{self.url}/dashboard#{route}")
        self.page.wait_for_selector(".content .page, .content .empty, .signin")
        return self.page

    def watch(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        path = urlsplit(message.location.get("url", "")).path
        if message.text.startswith("Failed to load resource") and (
            UNAUTHORIZED in message.text
            or (path in NOT_YET_THERE and "status of 404" in message.text)
            or any(f"status of {status}" in message.text for status in self.refusals)
        ):
            return
        self.problems.append(f"console {message.type}: {message.text} ({path})")


def open_tab(browser: Browser, url: str, **context: Any) -> Iterator[Dashboard]:
    """A fresh browser context (no cookies shared between tests); fails the test on any
    console error, a CSP violation among them."""
    ctx = browser.new_context(viewport=context.pop("viewport", LAPTOP), **context)
    try:
        dashboard = Dashboard(ctx.new_page(), url)
        dashboard.watch()
        yield dashboard
        assert not dashboard.problems, "the page logged errors:\n" + "\n".join(dashboard.problems)
    finally:
        ctx.close()


@pytest.fixture
def dashboard(browser: Browser, service: TaskqProcess) -> Iterator[Dashboard]:
    yield from open_tab(browser, service.url)


@pytest.fixture
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TASKQ_SCREENSHOT_DIR when set (e.g. docs/screenshots), else a tmp dir."""
    given = os.environ.get("TASKQ_SCREENSHOT_DIR")
    if not given:
        return tmp_path_factory.mktemp("screenshots")
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    return path


def submit(http: httpx.Client, action: str, data: dict[str, Any], **options: Any) -> str:
    """POST /tasks; the new task's id."""
    response = http.post("/tasks", json={"action": action, "data": data, **options})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_status(http: httpx.Client, task_id: str, status: str, timeout_s: float = 10) -> None:
    def has_status() -> bool:
        return bool(http.get(f"/tasks/{task_id}").json()["status"] == status)

    wait_until(has_status, timeout_s, what=f"task {task_id} to be {status}")
