"""API keys across real processes: `taskq keys` on the command line, two `taskq api`
processes on one database, and the refusal to serve anyone beyond loopback without a key.

A key made or revoked by the CLI is seen by every API process within ``CACHE_S``; the key
itself is printed once, by `taskq keys create`, and never appears in a listing or a log.
"""

from __future__ import annotations

import time

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system.procs import TASKQ, Processes, TaskqProcess, free_port

from taskq.keys import CACHE_S, PREFIX

pytestmark = pytest.mark.system

TASK = {"action": "uppercase", "data": {"text": "hi"}}
CHALLENGE = 'Bearer realm="taskq"'
# how long another process may keep serving a revoked key: its cache, and a margin
SEEN_WITHIN_S = CACHE_S + 1.5


def create_key(procs: Processes, database_url: str, name: str, scope: str) -> str:
    done = procs.run("keys", "create", "--name", name, "--scope", scope, "--database", database_url)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert done.stdout == key + "\n", f"stdout is not the key alone: {done.stdout!r}"
    assert key.startswith(PREFIX), key
    assert key not in done.stderr
    assert name in done.stderr, done.stderr
    return key


def status(api: TaskqProcess, path: str = "/tasks", key: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{api.url}{path}", headers=headers, timeout=5).status_code


def wait_status(
    apis: list[TaskqProcess], expected: int, timeout_s: float, key: str | None = None
) -> float:
    """Wait until every API answers GET /tasks with ``expected``; the seconds it took."""
    started = time.monotonic()
    for api in apis:
        wait_until(
            lambda api=api: status(api, key=key) == expected,  # type: ignore[misc]
            timeout_s,
            what=f"{api.name} to answer {expected}",
            details=api.describe,
        )
    return time.monotonic() - started


def start_api(procs: Processes, database_url: str, name: str, *args: str) -> TaskqProcess:
    api = procs.start("api", "--database", database_url, "--log-level", "debug", *args, name=name)
    api.wait_ready()
    return api


def test_keys_made_and_revoked_by_the_cli_hold_on_every_api_process(
    procs: Processes, database_url: str
) -> None:
    apis = [start_api(procs, database_url, f"api-{k}") for k in (1, 2)]
    # no key yet: loopback serves anyone
    assert [status(api) for api in apis] == [200, 200]

    key = create_key(procs, database_url, "ops", "admin")
    reader = create_key(procs, database_url, "dashboard", "read")
    # a key never seen before is looked up at once
    assert [status(api, key=key) for api in apis] == [200, 200]
    # and requests without one are refused once each process has seen that keys exist
    wait_status(apis, 401, SEEN_WITHIN_S)
    answer = httpx.get(f"{apis[0].url}/tasks", timeout=5)
    assert answer.headers["www-authenticate"] == CHALLENGE
    assert key not in answer.text
    assert reader not in answer.text

    # a wrong key, then the right ones, on both: every scope holds on each process
    wrong = PREFIX + "B" * 43
    for api in apis:
        assert status(api, key=wrong) == 401
        assert status(api, key=reader) == 200
        with httpx.Client(base_url=api.url, timeout=5) as http:
            r = http.post("/tasks", json=TASK, headers={"Authorization": f"Bearer {reader}"})
            assert r.status_code == 403, r.text
            r = http.post("/tasks", json=TASK, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 202, r.text

    listed = procs.run("keys", "list", "--database", database_url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SCOPE", "CREATED", "LAST", "USED"], lines
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"ops", "dashboard"}, lines
    assert rows["ops"].split()[1] == "admin"
    assert rows["dashboard"].split()[1] == "read"
    assert not rows["ops"].endswith("never"), "a used key shows no last use"
    for secret in (key, reader):
        assert secret not in listed.stdout
        assert secret not in listed.stderr
    assert PREFIX not in listed.stdout

    # revoked: refused by both within the cache's time, though both remember it as good
    revoked = procs.run("keys", "revoke", "ops", "--database", database_url)
    assert revoked.returncode == 0, revoked.stderr
    assert key not in revoked.stdout + revoked.stderr
    took = wait_status(apis, 401, SEEN_WITHIN_S, key=key)
    assert took <= SEEN_WITHIN_S
    assert [status(api, key=reader) for api in apis] == [200, 200], "the other key stopped"
    listed = procs.run("keys", "list", "--database", database_url)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["dashboard"]

    # no log line of either process holds a key, after wrong, right and revoked keys
    for api in apis:
        log = api.log()
        for secret in (key, reader, wrong):
            assert secret not in log, f"{api.name} logged a key\n{api.describe()}"
        assert PREFIX not in log, f"{api.name} logged something key-like\n{api.describe()}"
    for api in apis:
        assert api.is_running(), api.describe()


def test_the_cli_refuses_a_taken_name_an_unknown_key_and_a_bad_scope(
    procs: Processes, database_url: str
) -> None:
    key = create_key(procs, database_url, "ops", "submit")
    again = procs.run(
        "keys", "create", "--name", "ops", "--scope", "read", "--database", database_url
    )
    assert again.returncode == 1
    assert again.stdout == ""
    (line,) = again.stderr.strip().splitlines()
    assert line.startswith("taskq:"), again.stderr
    assert "ops" in line, again.stderr
    assert "Traceback" not in again.stderr

    unknown = procs.run("keys", "revoke", "nobody", "--database", database_url)
    assert unknown.returncode == 1
    (line,) = unknown.stderr.strip().splitlines()
    assert line.startswith("taskq:"), unknown.stderr
    assert "nobody" in line, unknown.stderr

    bad_name = procs.run(
        "keys", "create", "--name", "bad name", "--scope", "read", "--database", database_url
    )
    assert bad_name.returncode == 1, bad_name.stderr
    assert bad_name.stdout == ""
    assert "Traceback" not in bad_name.stderr
    bad_scope = procs.run(
        "keys", "create", "--name", "x", "--scope", "root", "--database", database_url
    )
    assert bad_scope.returncode != 0
    assert bad_scope.stdout == ""

    listed = procs.run("keys", "list", "--database", database_url)
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:]] == [["ops", "submit"]]
    assert key not in listed.stdout


def start_exposed(
    procs: Processes, database_url: str, name: str, *args: str, command: str = "api"
) -> tuple[TaskqProcess, int]:
    """`taskq api` (or ``command``) listening on every address (reached here through
    loopback)."""
    port = free_port()
    argv = [TASKQ, command, "--database", database_url, "--host", "0.0.0.0", "--port", str(port)]
    return procs.spawn([*argv, *args], name=name, port=port), port


@pytest.mark.parametrize("command", ["api", "run"])
def test_a_service_beyond_loopback_with_no_key_refuses_to_start(
    procs: Processes, database_url: str, command: str
) -> None:
    api, _ = start_exposed(procs, database_url, "exposed", command=command)
    assert api.wait_exit(20) == 1, api.describe()
    log = api.log()
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if line.startswith("taskq:")]
    assert len(lines) == 1, log
    assert "taskq keys create" in lines[0], log
    assert "--allow-anonymous" in lines[0], log
    assert "0.0.0.0" in lines[0], log


def test_allow_anonymous_starts_it_with_a_warning(procs: Processes, database_url: str) -> None:
    api, _ = start_exposed(procs, database_url, "anonymous", "--allow-anonymous")
    api.wait_ready()
    api.wait_log("--allow-anonymous")
    assert "WARNING" in api.log(), api.describe()
    assert status(api) == 200
    with httpx.Client(base_url=api.url, timeout=5) as http:
        assert http.post("/tasks", json=TASK).status_code == 202
    # once a key exists, it is needed here too
    key = create_key(procs, database_url, "ops", "admin")
    wait_status([api], 401, SEEN_WITHIN_S)
    assert status(api, key=key) == 200


def test_once_a_key_exists_an_api_beyond_loopback_starts_and_needs_it(
    procs: Processes, database_url: str
) -> None:
    key = create_key(procs, database_url, "ops", "read")
    api, _ = start_exposed(procs, database_url, "exposed")
    api.wait_ready()
    assert "WARNING" not in api.log(), api.describe()
    assert status(api) == 401
    assert status(api, key=key) == 200
    assert status(api, "/healthz") == 200
    assert key not in api.log()
