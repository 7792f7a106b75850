"""Signing in to the dashboard with API keys, on a service whose store holds keys (so every
request needs one): the sign-in screen, what a read-only key sees, the CSRF token on
changes, sign-out, and a revoked key sending the page back to the sign-in screen."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from tests.dashboard.conftest import Dashboard, need_browser, open_tab, start_service, submit
from tests.dashboard.conftest import wait_status as wait_for_status
from tests.system.procs import Processes, TaskqProcess

pytestmark = pytest.mark.system


@dataclass
class KeyedService:
    """A service with keys: ``keys`` by name (admin, viewer, spare)."""

    process: TaskqProcess
    procs: Processes
    database: Path
    keys: dict[str, str]

    def revoke(self, name: str) -> None:
        done = self.procs.run("keys", "revoke", name, "--database", str(self.database))
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedService]:
    need_browser()
    workdir = tmp_path_factory.mktemp("dashboard-keys")
    database = workdir / "tasks.db"
    procs = Processes(workdir)
    try:
        migrated = procs.run("migrate", "--database", str(database))
        assert migrated.returncode == 0, migrated.stderr
        keys = {}
        for name, scope in [("admin", "admin"), ("viewer", "read"), ("spare", "admin")]:
            made = procs.run(
                "keys", "create", "--name", name, "--scope", scope, "--database", str(database)
            )
            assert made.returncode == 0, made.stderr
            keys[name] = made.stdout.strip().splitlines()[-1]
        yield KeyedService(start_service(procs, workdir, "keyed"), procs, database, keys)
    finally:
        procs.kill_all()


@pytest.fixture
def admin_http(keyed: KeyedService) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {keyed.keys['admin']}"}
    with httpx.Client(base_url=keyed.process.url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def tab(browser: Browser, keyed: KeyedService) -> Iterator[Dashboard]:
    yield from open_tab(browser, keyed.process.url)


def failed_charge(http: httpx.Client) -> str:
    task_id = submit(http, "charge", {"key": uuid.uuid4().hex[:8], "amount": 7})
    wait_for_status(http, task_id, "failed")
    return task_id


def sign_in(page: Page, key: str) -> None:
    password = page.locator(".signin input[type=password]")
    expect(password).to_be_visible()
    password.fill(key)
    page.click(".signin button[type=submit]")


def test_a_wrong_key_is_refused_on_the_sign_in_screen(tab: Dashboard) -> None:
    page = tab.open("/")
    sign_in(page, "tq_not-a-key")
    expect(page.locator(".signin .note-error")).to_contain_text("not valid")
    expect(page.locator(".sidebar")).to_have_count(0)


def test_a_read_only_key_sees_no_action_buttons(
    tab: Dashboard, keyed: KeyedService, admin_http: httpx.Client
) -> None:
    task_id = failed_charge(admin_http)
    submit(admin_http, "uppercase", {"text": "later"}, delay=3600)
    page = tab.open(f"/tasks/{task_id}")
    sign_in(page, keyed.keys["viewer"])
    expect(page.locator(".task-head .badge")).to_have_text("failed")
    expect(page.locator(".topbar")).to_contain_text("read-only")
    expect(page.locator(".traceback").first).to_contain_text("ConnectionError")
    expect(page.locator("[data-action]")).to_have_count(0)
    expect(page.get_by_text("Copy as curl")).to_be_visible()  # reading stays possible
    page.goto(f"{tab.url}/dashboard#/tasks")
    expect(page.locator("tbody tr").first).to_be_visible()
    expect(page.locator("input[type=checkbox]")).to_have_count(0)
    expect(page.locator("summary:has-text('All matching')")).to_have_count(0)
    page.goto(f"{tab.url}/dashboard#/queues")
    expect(page.locator(".queues-table tbody tr").first).to_be_visible()
    expect(page.locator(".queues-table")).to_contain_text("unlimited")  # the state, no controls
    expect(page.locator("[data-action]")).to_have_count(0)


def test_an_admin_session_retries_with_the_csrf_token_then_signs_out(
    tab: Dashboard, keyed: KeyedService, admin_http: httpx.Client
) -> None:
    task_id = failed_charge(admin_http)
    retries: list[dict[str, str]] = []
    tab.page.on(
        "request",
        lambda r: retries.append(r.headers) if r.url.endswith(f"/tasks/{task_id}/retry") else None,
    )
    page = tab.open(f"/tasks/{task_id}")
    sign_in(page, keyed.keys["admin"])
    expect(page.locator(".task-head .badge")).to_have_text("failed")
    token = page.evaluate("fetch('/session').then((r) => r.json()).then((s) => s.csrf_token)")
    page.click("button[data-action=retry]")
    expect(page.locator(".task-head .badge")).to_have_text("completed", timeout=10000)
    assert retries, "no retry request was seen"
    assert token
    assert retries[0].get("x-csrf-token") == token
    page.click(".topbar button:has-text('Sign out')")
    expect(page.locator(".signin input[type=password]")).to_be_visible()


def test_a_revoked_key_sends_the_page_back_to_sign_in(tab: Dashboard, keyed: KeyedService) -> None:
    page = tab.open("/queues")
    sign_in(page, keyed.keys["spare"])
    expect(page.locator(".queues .card")).to_be_visible()
    keyed.revoke("spare")
    # the next call answers 401 (the service notices a revocation within 2 s)
    expect(page.locator(".signin input[type=password]")).to_be_visible(timeout=10000)
