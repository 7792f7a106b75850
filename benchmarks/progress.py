"""A single live progress line on stderr (plain lines when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self._width = 0

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self.started)
        return f"{s // 60:02d}:{s % 60:02d}"

    def show(self, label: str) -> None:
        line = f"[{self.done:>3}/{self.total}] {self._elapsed()}  {label}"
        if self.tty:
            pad = max(self._width - len(line), 0)
            sys.stderr.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def advance(self, label: str = "") -> None:
        self.done += 1
        if label:
            self.show(label)

    def note(self, message: str) -> None:
        """A message that stays on screen above the progress line."""
        if self.tty:
            sys.stderr.write("\r" + " " * self._width + "\r")
            self._width = 0
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        self.note(f"done in {self._elapsed()}")
