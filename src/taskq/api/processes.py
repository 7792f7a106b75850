"""Several server processes on one port (``--processes N``): the parent binds the socket,
forks N children that each serve it (the kernel hands each connection to one of them), and
supervises them.

Each child is a whole service: its own event loop, app, connections to the store and (with
``taskq run``) its own worker. Nothing is shared but the listening socket and the store, so
a 202 still means what it means with one process: the task is committed once, by the child
that answered.

Signals: SIGTERM or SIGINT to the parent is passed on to every child as SIGTERM (a child
already told by the terminal's Ctrl-C gets a SIGTERM on top, which uvicorn takes as the same
request, not as "force"); each shuts down gracefully, and the parent exits 0 when all of
them did. A child that dies on its own is started again (at most once a second), so one
crash does not take the port's capacity down for good.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

log = logging.getLogger(__name__)

# a child that dies sooner than this after its start is not restarted at once
RESTART_AFTER_S = 1.0


def serve_processes(n: int, serve_one: Callable[[], None]) -> int:
    """Run ``serve_one`` in ``n`` forked children until a signal asks them to stop; the exit
    status for the parent (0 when every child stopped cleanly)."""
    return _Supervisor(serve_one).run(n)


class _Supervisor:
    def __init__(self, serve_one: Callable[[], None]) -> None:
        self.serve_one = serve_one
        self.children: dict[int, float] = {}  # pid -> when it started
        self.stopping = False
        self.failed = False

    def run(self, n: int) -> int:
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self._stop) for sig in signals}
        try:
            for _ in range(n):
                self._start()
            log.info("serving with %d processes: %s", n, ", ".join(map(str, self.children)))
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                self._ended(pid, os.waitstatus_to_exitcode(status))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0

    def _start(self) -> None:
        pid = os.fork()
        if pid == 0:
            _child(self.serve_one)
        self.children[pid] = time.monotonic()
        if self.stopping:  # the signal came while it was being forked: tell it too
            _terminate(pid)

    def _ended(self, pid: int, code: int) -> None:
        started = self.children.pop(pid, None)
        if started is None:
            return
        if self.stopping:
            self.failed |= code != 0
            return
        log.error("API process %d exited (%d) on its own; starting another", pid, code)
        time.sleep(max(0.0, RESTART_AFTER_S - (time.monotonic() - started)))
        if not self.stopping:
            self._start()

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            _terminate(pid)


def _child(serve_one: Callable[[], None]) -> NoReturn:
    """Serve, then leave without running what the parent registered to run at its exit."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    code = 1
    try:
        serve_one()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("API process %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(code)


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
