"""The dashboard end to end: the real service, the real page in headless Chromium, tasks
submitted over HTTP as any client does. Every test fails on a console error (a CSP
violation among them)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from tests.dashboard.conftest import Dashboard, open_tab, submit, wait_status
from tests.support.waiting import wait_until
from tests.system.procs import TaskqProcess

from taskq.dashboard.routes import CONTENT_SECURITY_POLICY as DASHBOARD_POLICY

pytestmark = pytest.mark.system

PAGES = {
    "/": ".stat-cards",
    "/tasks": ".tabs",
    "/queues": ".queues-table",
    "/workers": ".workers-table",
    "/schedules": ".schedules .card",
}


def failed_charge(http: httpx.Client) -> str:
    """A task that failed its one attempt with a traceback (and will complete if retried)."""
    task_id = submit(http, "charge", {"key": uuid.uuid4().hex[:8], "amount": 42})
    wait_status(http, task_id, "failed")
    return task_id


def open_limits(page: Page, row: Locator, queue: str) -> Locator:
    """Open ``queue``'s limit editor, once it has focused its first field: a field filled
    before that moment loses the focus, and what is typed goes to the first field."""
    row.locator("button[data-action=edit-limit]").click()
    editor = page.locator(f"tr.flow-edit[data-queue-edit='{queue}']")
    expect(editor.locator("input[name=concurrency]")).to_be_focused()
    return editor


def delayed(http: httpx.Client, queue: str, n: int) -> list[str]:
    """``n`` tasks in ``queue`` that stay queued (due in an hour)."""
    return [
        submit(http, "uppercase", {"text": f"later {i}"}, queue=queue, delay=3600) for i in range(n)
    ]


def test_every_page_loads_without_console_errors(dashboard: Dashboard, http: httpx.Client) -> None:
    task_id = failed_charge(http)
    page = dashboard.open("/")
    for route, selector in PAGES.items():
        page.goto(f"{dashboard.url}/dashboard#{route}")
        page.wait_for_selector(selector)
        expect(page.locator(".nav a.active")).to_have_count(1)
    page.goto(f"{dashboard.url}/dashboard#/tasks/{task_id}")
    expect(page.locator(".task-head .badge")).to_have_text("failed")
    # the page's own answer carries the strict policy the scripts run under
    answer = http.get("/dashboard")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "style-src 'self'" in answer.headers["content-security-policy"]
    # its own, stricter than the docs page's, sent once; the rest of every page's added
    assert answer.headers.get_list("content-security-policy") == [DASHBOARD_POLICY]
    assert answer.headers.get_list("x-frame-options") == ["DENY"]
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"]


def test_submitted_task_appears_in_the_list_without_reload(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    queue = f"fresh-{uuid.uuid4().hex[:8]}"
    page = dashboard.open(f"/tasks?queue={queue}")
    expect(page.locator(".empty-title")).to_have_text("No task matches")
    expect(page.locator(".live")).to_have_attribute("data-state", "live")
    page.evaluate("window.stillTheSamePage = true")
    task_id = submit(http, "uppercase", {"text": "hello"}, queue=queue)
    expect(page.locator(f"tr[data-id='{task_id}']")).to_be_visible(timeout=3000)
    assert page.evaluate("window.stillTheSamePage") is True


def test_failed_task_shows_its_traceback(dashboard: Dashboard, http: httpx.Client) -> None:
    task_id = failed_charge(http)
    page = dashboard.open(f"/tasks/{task_id}")
    expect(page.locator(".task-head .badge")).to_have_text("failed")
    traceback = page.locator(".traceback").first
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("ConnectionError: payment gateway timed out")
    expect(page.locator(".timeline")).to_contain_text("Attempt 1 failed")


def test_retry_on_the_detail_page_runs_the_task_again_to_completion(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    task_id = failed_charge(http)
    page = dashboard.open(f"/tasks/{task_id}")
    expect(page.locator("button[data-action=cancel]")).to_have_count(0)  # a finished task
    page.click("button[data-action=retry]")
    expect(page.locator(".task-head .badge")).to_have_text("completed", timeout=10000)
    expect(page.locator(".card.result")).to_contain_text('"charged": 42')
    assert http.get(f"/tasks/{task_id}").json()["status"] == "completed"


def test_tasks_submitted_together_show_ids_that_tell_them_apart(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    # a task id begins with its creation time: the shown part must be its random end
    queue = f"apart-{uuid.uuid4().hex[:8]}"
    ids = delayed(http, queue, 5)
    page = dashboard.open(f"/tasks?queue={queue}")
    shown = page.locator("tbody tr .id .mono")
    expect(shown).to_have_count(5)
    texts = shown.all_inner_texts()
    assert sorted(texts) == sorted(task_id[-8:] for task_id in ids)


def test_cancel_every_task_matching_a_filter(dashboard: Dashboard, http: httpx.Client) -> None:
    queue = f"hold-{uuid.uuid4().hex[:8]}"
    ids = delayed(http, queue, 6)
    page = dashboard.open(f"/tasks?queue={queue}")
    expect(page.locator("tbody tr")).to_have_count(6)
    page.click("summary:has-text('All matching')")
    page.click("button[data-action=filter-cancel]")
    dialog = page.locator(".dialog")
    expect(dialog).to_contain_text(f'"queue":["{queue}"]')
    dialog.locator("button.danger").click()
    expect(page.locator(".note-success")).to_contain_text("6 matching tasks cancelled")
    expect(page.locator("tbody .badge-cancelled")).to_have_count(6)
    assert {http.get(f"/tasks/{i}").json()["status"] for i in ids} == {"cancelled"}


def test_cancel_the_selected_rows_only(dashboard: Dashboard, http: httpx.Client) -> None:
    queue = f"pick-{uuid.uuid4().hex[:8]}"
    ids = delayed(http, queue, 4)
    chosen = ids[:2]
    page = dashboard.open(f"/tasks?queue={queue}&status=queued")
    expect(page.locator("tbody tr")).to_have_count(4)
    for task_id in chosen:
        page.check(f"tr[data-id='{task_id}'] input[type=checkbox]")
    expect(page.locator(".selection")).to_contain_text("2 selected")
    page.click("button[data-action=selected-cancel]")
    page.locator(".dialog button.danger").click()
    expect(page.locator(".note-success")).to_contain_text("2 tasks cancelled")
    # the queued tab no longer lists them
    expect(page.locator("tbody tr")).to_have_count(2)
    statuses = {i: http.get(f"/tasks/{i}").json()["status"] for i in ids}
    assert statuses == {
        ids[0]: "cancelled",
        ids[1]: "cancelled",
        ids[2]: "queued",
        ids[3]: "queued",
    }


@pytest.fixture
def narrow(browser: Browser, service: TaskqProcess) -> Iterator[Dashboard]:
    yield from open_tab(browser, service.url, viewport={"width": 400, "height": 800})


def test_narrow_window_puts_the_sidebar_on_top_and_never_scrolls_sideways(
    narrow: Dashboard, http: httpx.Client
) -> None:
    task_id = failed_charge(http)
    page = narrow.open("/")
    for route in [*PAGES, f"/tasks/{task_id}"]:
        page.goto(f"{narrow.url}/dashboard#{route}")
        page.wait_for_selector(".content .page")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"#{route} is {width} px wide in a 400 px window"
        sidebar = page.locator(".sidebar").bounding_box()
        assert sidebar is not None
        assert sidebar["y"] == 0
        assert sidebar["width"] >= 390
        assert sidebar["height"] < 80


def test_paging_follows_next_cursor_and_comes_back(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    queue = f"pages-{uuid.uuid4().hex[:8]}"
    ids = delayed(http, queue, 55)
    page = dashboard.open(f"/tasks?queue={queue}")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-id", ids[-1])  # newest first
    page.click("button:has-text('Older')")
    expect(rows).to_have_count(5)
    expect(rows.last).to_have_attribute("data-id", ids[0])
    assert "cursor=" in page.evaluate("location.hash")
    page.click("button:has-text('Newer')")
    expect(rows).to_have_count(50)
    assert "cursor=" not in page.evaluate("location.hash")


def test_filters_go_into_the_link_and_a_refused_one_is_shown_inline(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    failed_charge(http)
    page = dashboard.open("/tasks?status=failed")
    page.fill("input[name=action]", "charge")
    page.fill("input[name=q]", "gateway timed out")
    page.click("button:has-text('Apply')")
    expect(page.locator("tbody tr").first).to_be_visible()
    expect(page.locator("tbody .badge-failed")).to_have_count(page.locator("tbody tr").count())
    link = page.evaluate("decodeURIComponent(location.hash)")
    assert "status=failed" in link
    assert "action=charge" in link
    assert "q=gateway+timed+out" in link or "q=gateway timed out" in link
    dashboard.refusals.append(400)
    page.fill("input[name=q]", "x" * 201)  # longer than the API takes
    page.click("button:has-text('Apply')")
    expect(page.locator(".note-error")).to_contain_text("q")


def test_without_an_event_stream_the_page_says_not_live_and_still_refreshes(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    """A service from before GET /events (404, played by the browser here): the indicator
    says so, and the list refreshes on its own every few seconds."""
    dashboard.page.route("**/events", lambda route: route.fulfill(status=404, json={"error": "nf"}))
    queue = f"polled-{uuid.uuid4().hex[:8]}"
    page = dashboard.open(f"/tasks?queue={queue}")
    expect(page.locator(".live")).to_have_text("not live")
    task_id = submit(http, "uppercase", {"text": "polled"}, queue=queue)
    expect(page.locator(f"tr[data-id='{task_id}']")).to_be_visible(timeout=8000)


def test_copy_as_curl_reproduces_the_submission(dashboard: Dashboard, http: httpx.Client) -> None:
    key = f"curl-{uuid.uuid4().hex[:8]}"
    task_id = submit(
        http,
        "uppercase",
        {"text": "it's here"},
        queue="curl-q",
        priority=3,
        max_attempts=2,
        unique_key=key,
    )
    dashboard.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = dashboard.open(f"/tasks/{task_id}")
    page.click("button:has-text('Copy as curl')")
    expect(page.locator("button:has-text('Copied')")).to_be_visible()
    expect(page.locator("dd", has_text=key)).to_be_visible()
    command = page.evaluate("navigator.clipboard.readText()")
    assert command.startswith(
        f"curl -X POST {dashboard.url}/tasks -H 'Content-Type: application/json' -d '"
    )
    body = json.loads(command.split(" -d ", 1)[1][1:-1].replace("'\\''", "'"))
    assert body == {
        "action": "uppercase",
        "data": {"text": "it's here"},
        "queue": "curl-q",
        "priority": 3,
        "max_attempts": 2,
        "unique_key": key,
    }


def test_pause_resume_and_limit_a_queue_from_the_queues_page(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    queue = f"q1-{uuid.uuid4().hex[:8]}"
    delayed(http, queue, 3)

    def settings() -> tuple[bool, int | None]:
        found = [q for q in http.get("/queues").json()["queues"] if q["name"] == queue]
        assert len(found) == 1, found
        return found[0]["paused"], found[0]["concurrency"]

    def soon(expected: tuple[bool, int | None]) -> None:
        """GET /queues says so (its answer is computed at most once a second)."""
        wait_until(lambda: settings() == expected, 5, what=f"GET /queues to say {expected}")

    page = dashboard.open("/queues")
    row = page.locator(f".queues-table tr[data-queue='{queue}']")
    expect(row).to_contain_text("unlimited")
    expect(row.locator(".badge-paused")).to_have_count(0)

    row.locator("button[data-action=pause]").click()
    expect(row.locator(".badge-paused")).to_have_text("paused")
    expect(row.locator("button[data-action=resume]")).to_be_visible()
    soon((True, None))

    row.locator("button[data-action=resume]").click()
    expect(row.locator(".badge-paused")).to_have_count(0)
    expect(row.locator("button[data-action=pause]")).to_be_visible()
    soon((False, None))

    editor = open_limits(page, row, queue)
    editor.locator("input[name=concurrency]").fill("2")
    editor.locator("button[data-action=set-limit]").click()
    expect(row).to_contain_text("≤ 2 at once")
    expect(editor).to_have_count(0)  # closed once set
    soon((False, 2))

    # refusals are said under the row: one the page sees itself, one from the API
    open_limits(page, row, queue)
    editor.locator("input[name=concurrency]").fill("0")
    editor.locator("button[data-action=set-limit]").click()
    expect(editor.locator(".note-error")).to_contain_text("whole number")
    dashboard.refusals.append(422)
    editor.locator("input[name=concurrency]").fill(str(2**31))
    editor.locator("button[data-action=set-limit]").click()
    expect(editor.locator(".note-error")).to_contain_text("concurrency")
    assert settings() == (False, 2)

    editor.locator("button[data-action=clear-limit]").click()
    expect(row).to_contain_text("unlimited")
    expect(editor).to_have_count(0)
    soon((False, None))
    # the page keeps showing what the list says once its cached answer has caught up
    page.wait_for_timeout(1500)
    expect(row).to_contain_text("unlimited")
    expect(row.locator(".badge-paused")).to_have_count(0)


def test_set_and_clear_a_rate_limit_from_the_queues_page(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    queue = f"q2-{uuid.uuid4().hex[:8]}"
    delayed(http, queue, 1)

    def rate_limit() -> str | None:
        found = [q for q in http.get("/queues").json()["queues"] if q["name"] == queue]
        return found[0]["rate_limit"] if found else "missing"

    page = dashboard.open("/queues")
    row = page.locator(f".queues-table tr[data-queue='{queue}']")
    editor = open_limits(page, row, queue)
    editor.locator("input[name=rate_limit]").fill("60 / 60s")
    editor.locator("button[data-action=set-rate]").click()
    expect(row.locator("[data-rate]")).to_have_text("≤ 60/min starts")  # as the service keeps it
    wait_until(lambda: rate_limit() == "60/min", 5, what="GET /queues to show the rate")

    open_limits(page, row, queue)
    dashboard.refusals.append(422)
    editor.locator("input[name=rate_limit]").fill("often")
    editor.locator("button[data-action=set-rate]").click()
    expect(editor.locator(".note-error")).to_contain_text("N/UNIT")
    editor.locator("button[data-action=clear-rate]").click()
    expect(row).to_contain_text("unlimited")
    wait_until(lambda: rate_limit() is None, 5, what="GET /queues to show no rate")


def test_set_and_clear_the_concurrency_per_key_from_the_queues_page(
    dashboard: Dashboard, http: httpx.Client
) -> None:
    queue = f"q3-{uuid.uuid4().hex[:8]}"
    delayed(http, queue, 1)

    def per_key() -> object:
        found = [q for q in http.get("/queues").json()["queues"] if q["name"] == queue]
        return found[0]["key_concurrency"] if found else "missing"

    page = dashboard.open("/queues")
    row = page.locator(f".queues-table tr[data-queue='{queue}']")
    editor = open_limits(page, row, queue)
    editor.locator("input[name=key_concurrency]").fill("3")
    editor.locator("button[data-action=set-per-key]").click()
    expect(row.locator("[data-per-key]")).to_have_text("≤ 3 per key")
    wait_until(lambda: per_key() == 3, 5, what="GET /queues to show 3 per key")

    open_limits(page, row, queue)
    editor.locator("input[name=key_concurrency]").fill("0")
    editor.locator("button[data-action=set-per-key]").click()
    expect(editor.locator(".note-error")).to_contain_text("whole number")
    editor.locator("button[data-action=clear-per-key]").click()
    expect(row.locator("[data-per-key]")).to_have_count(0)
    wait_until(lambda: per_key() is None, 5, what="GET /queues to show the default per key")
