"""``GET /events`` served by real processes: a worker process's changes reach the stream
of the API process (the store's channel carries them across), every open stream of a
process hears the same changes, and SIGTERM ends open streams instead of waiting on them.

Each stream is read in a background thread (``EventStream``), as a browser's EventSource
would read it; the test waits on what it has read so far."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import httpx
import msgspec
import pytest
from tests.support.waiting import wait_until
from tests.system import client
from tests.system.procs import Processes, TaskqProcess

from taskq.api.wire import StatsEventOut, TaskEventOut

pytestmark = pytest.mark.system

# a stream sends stats every second: a read that long without a byte means it is stuck
READ_TIMEOUT_S = 10.0
SEEN_WITHIN_S = 10.0


class EventStream:
    """One ``GET /events`` read in a background thread: what it sent, and whether it ended."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.status: int | None = None
        self.content_type: str | None = None
        self.events: list[tuple[str, str]] = []  # (event, data) in order
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="events-stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        timeout = httpx.Timeout(5.0, read=READ_TIMEOUT_S)
        try:
            with httpx.stream("GET", f"{self.url}/events", timeout=timeout) as response:
                self.content_type = response.headers.get("content-type")
                self.status = response.status_code
                event: str | None = None
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event is not None:
                        with self._lock:
                            self.events.append((event, line.removeprefix("data: ")))
                    elif not line:
                        event = None
        except Exception as exc:  # told in the test's failure
            self.error = exc
        finally:
            self.ended.set()

    def wait_open(self) -> None:
        """Until the answer's head came (the server subscribed before it sent it)."""
        wait_until(
            lambda: self.status is not None or self.ended.is_set(),
            10,
            what="the /events answer",
            details=self.describe,
        )
        assert self.status == 200, self.describe()

    def of(self, event: str) -> list[str]:
        with self._lock:
            return [data for name, data in self.events if name == event]

    def tasks(self, task_id: str) -> list[TaskEventOut]:
        found = [msgspec.json.decode(d, type=TaskEventOut) for d in self.of("task")]
        return [t for t in found if t.id == task_id]

    def kinds(self, task_id: str) -> list[str]:
        return [t.kind for t in self.tasks(task_id)]

    def stats(self) -> list[StatsEventOut]:
        return [msgspec.json.decode(d, type=StatsEventOut) for d in self.of("stats")]

    def describe(self) -> str:
        with self._lock:
            tail = self.events[-30:]
        return (
            f"stream {self.url}/events: status {self.status}, {self.content_type!r}, "
            f"ended {self.ended.is_set()}, error {self.error!r}; last events:\n"
            + "\n".join(f"  {name}: {data[:200]}" for name, data in tail)
        )

    def wait_kinds(
        self, task_id: str, kinds: list[str], *, in_order: bool = True, details: Any = None
    ) -> list[TaskEventOut]:
        """The task's events once they are ``kinds`` (more, or others, fail too): in the
        order they arrived, or, ``in_order`` False, in any order (each process sends its
        own changes, so those of two processes may arrive either way round)."""

        def seen() -> bool:
            got = self.kinds(task_id)
            return got == kinds if in_order else sorted(got) == sorted(kinds)

        def describe() -> str:
            return self.describe() + (f"\n{details()}" if details else "")

        wait_until(seen, SEEN_WITHIN_S, what=f"{kinds} for task {task_id}", details=describe)
        return self.tasks(task_id)


def start_api_and_worker(procs: Processes, database_url: str) -> TaskqProcess:
    api = procs.start("api", "--database", database_url, name="api")
    api.wait_ready()
    worker = procs.start(
        "worker",
        "--database",
        database_url,
        "--demo-delay-ms",
        "0",
        "--poll-interval-s",
        "0.05",
        http=False,
        name="worker",
    )
    worker.wait_log("started: concurrency=")
    return api


def test_a_worker_process_changes_reach_the_api_process_stream(
    procs: Processes, database_url: str
) -> None:
    api = start_api_and_worker(procs, database_url)
    stream = EventStream(api.url)
    stream.wait_open()
    assert stream.content_type is not None
    assert stream.content_type.startswith("text/event-stream"), stream.content_type

    with httpx.Client(base_url=api.url, timeout=5) as http:
        task_id = client.submit(http, "uppercase", {"text": "hi"})
    # submitted by the API process; started and completed by the worker process
    events = stream.wait_kinds(
        task_id, ["submitted", "started", "completed"], in_order=False, details=procs.describe
    )
    events.sort(key=lambda e: e.at or "")  # ISO 8601, all in UTC: ordered as text
    assert [(e.kind, e.status) for e in events] == [
        ("submitted", "queued"),
        ("started", "running"),
        ("completed", "completed"),
    ]
    assert {(e.queue, e.action) for e in events} == {("default", "uppercase")}
    assert [e.attempt for e in events] == [0, 1, 1]

    def counted_stats() -> list[StatsEventOut] | None:
        ticks = stream.stats()
        done = sum(s.per_second.completed for s in ticks)
        return ticks if done >= 1 else None

    ticks = wait_until(
        counted_stats,
        SEEN_WITHIN_S,
        what="a stats tick counting the completion",
        details=stream.describe,
    )
    assert sum(s.per_second.submitted for s in ticks) >= 1
    assert sum(s.per_second.started for s in ticks) >= 1
    assert ticks[-1].stats.counts.completed == 1, ticks[-1]
    raw = json.loads(stream.of("stats")[-1])
    assert set(raw["per_second"]) == {"submitted", "started", "completed", "failed"}
    assert stream.error is None, stream.describe()
    assert not stream.ended.is_set(), stream.describe()


def test_sigterm_ends_open_streams_and_the_api_exits_at_once(
    procs: Processes, database_url: str
) -> None:
    """uvicorn waits for every answer to finish, which a stream never does: the shutdown
    must end them, well before the grace (30 s by default) runs out."""
    api = procs.start("api", "--database", database_url, name="api")
    api.wait_ready()
    streams = []
    for _ in range(2):  # one after the other (clients connecting at once: the test below)
        streams.append(EventStream(api.url))
        streams[-1].wait_open()
    with httpx.Client(base_url=api.url, timeout=5) as http:
        task_id = client.submit(http, "uppercase", {"text": "hi"})
    for stream in streams:
        stream.wait_kinds(task_id, ["submitted"])
    t0 = time.monotonic()
    api.send(signal.SIGTERM)
    assert api.wait_exit(5) == 0, api.describe()
    assert time.monotonic() - t0 < 3.0, f"exited after {time.monotonic() - t0:.1f}s"
    for stream in streams:
        assert stream.ended.wait(3), f"the stream is still open\n{stream.describe()}"
        assert stream.error is None, f"the stream was cut, not ended\n{stream.describe()}"


def test_every_stream_of_a_run_process_hears_each_change_once(
    procs: Processes, database_url: str
) -> None:
    """Clients that connect at the same moment share the process's one subscription: each
    hears every change once, and one stats tick a second."""
    service = procs.start_run(database_url, delay_ms=0, lease_s=30, name="run")
    service.wait_ready()
    streams = [EventStream(service.url) for _ in range(4)]  # at once
    for stream in streams:
        stream.wait_open()
    with httpx.Client(base_url=service.url, timeout=5) as http:
        ids = [client.submit(http, "sum", {"numbers": [1, n]}) for n in range(3)]
    for task_id in ids:
        for stream in streams:
            stream.wait_kinds(task_id, ["submitted", "started", "completed"])
    first = streams[0]
    for task_id in ids:
        for other in streams[1:]:
            assert other.tasks(task_id) == first.tasks(task_id), "the same events, the same data"

    def ticks_counting_all() -> list[StatsEventOut] | None:
        ticks = first.stats()
        return ticks if sum(t.per_second.completed for t in ticks) >= len(ids) else None

    ticks = wait_until(
        ticks_counting_all,
        SEEN_WITHIN_S,
        what="ticks counting every completion",
        details=first.describe,
    )
    per_second = [(t.per_second.submitted, t.per_second.completed) for t in ticks]
    assert tuple(map(sum, zip(*per_second, strict=True))) == (3, 3), per_second
    ats = [t.at for t in ticks]
    assert len(ats) == len(set(ats)), f"two stats ticks at once: {ats}"
