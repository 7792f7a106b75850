"""What the commands draw: rich tables, panels and the colour of each status.

Every value that comes from the service (an action name, an error, a payload) is given to
rich as ``Text``, never as markup, so that a ``[`` in it is shown as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from taskq.client import Queues, Stats, Task
from taskq.task import Status

STATUS_STYLES = {
    Status.QUEUED: "cyan",
    Status.RUNNING: "yellow",
    Status.COMPLETED: "green",
    Status.FAILED: "bold red",
    Status.CANCELLED: "magenta",
}
NONE = "-"  # a figure that does not exist (no task in the window)
_INSTANT = timedelta(milliseconds=1)
WINDOW_NAMES = {60: "1 min", 300: "5 min", 900: "15 min"}


def consoles() -> tuple[Console, Console]:
    """The consoles of stdout and stderr. Rich leaves colour and animation out when the
    stream is not a terminal, and colour when ``NO_COLOR`` is set; it draws to the
    terminal's width (``COLUMNS`` elsewhere, else 80)."""
    return Console(highlight=False), Console(stderr=True, highlight=False)


def status_text(status: Status) -> Text:
    return Text(status.value, style=STATUS_STYLES[status])


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago ``moment`` was, in the largest unit that fits: 4s, 12m, 3h, 2d."""
    if moment is None:
        return ""
    seconds = max(0.0, (now - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def duration(seconds: float | None) -> str:
    """A duration for people: 12 ms, 1.25 s, 3.5 min, 2.1 h; a dash for none."""
    if seconds is None:
        return NONE
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def moment(value: datetime | None) -> str:
    if value is None:
        return NONE
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def task_table(tasks: Iterable[Task], *, caption: str | None = None) -> Table:
    """``ls``: one row per task; the error is cut to the width left, never wrapped."""
    now = datetime.now(UTC)
    table = _table(caption=caption, caption_justify="left")
    # Only the action, queue and error columns may narrow (their text is cut, never
    # wrapped: one line per task): rich narrows the widest of them first.
    table.add_column("ID", no_wrap=True)
    table.add_column("ACTION", max_width=24)
    table.add_column("QUEUE", max_width=16)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("ATT", justify="right", no_wrap=True)
    table.add_column("AGE", justify="right", no_wrap=True)
    table.add_column("ERROR", min_width=8)
    for task in tasks:
        table.add_row(
            Text(task.id),
            _cut(task.action),
            _cut(task.queue),
            status_text(task.status),
            str(task.attempts),
            age(task.created_at, now),
            _cut(one_line(task.error), style="red"),
        )
    if not table.rows:
        table.caption = "no tasks match" + (f" · {caption}" if caption else "")
    return table


def _cut(text: str, style: str = "") -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def outcome(task: Task) -> RenderableType:
    """``submit --wait``: how the task ended, and its result or its error."""
    attempts = f"{task.attempts} attempt" + ("" if task.attempts == 1 else "s")
    line = Text.assemble(status_text(task.status), f" after {attempts}")
    ran = _seconds_between(task.started_at, task.processed_at)
    if ran is not None:
        line.append(f" (the last ran {duration(ran)})")
    parts: list[RenderableType] = [line]
    if task.status is Status.COMPLETED:
        parts.append(_json(task.result))
    elif task.error:
        parts.append(Text(task.error, style="red"))
        if any(e.traceback for e in task.errors):
            parts.append(Text(f"(taskq show {task.id} for the traceback)", style="dim"))
    return Group(*parts)


def task_detail(task: Task) -> RenderableType:
    """``show``: the task's fields, payload, result, every attempt's error and traceback,
    and a timeline."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    attempts = str(task.attempts)
    if task.max_attempts is not None:
        attempts += f" (at most {task.max_attempts})"
    rows: list[tuple[str, Text | str]] = [
        ("status", status_text(task.status)),
        ("action", Text(task.action)),
        ("queue", Text(task.queue)),
        ("priority", str(task.priority)),
        ("attempts", attempts),
        ("timeout", "none" if task.timeout is None else duration(task.timeout) + " per attempt"),
    ]
    if task.unique_key is not None:
        rows.append(("unique key", Text(task.unique_key)))
    if task.concurrency_key is not None:
        rows.append(("concurrency key", Text(task.concurrency_key)))
    if task.cancel_requested and not task.is_finished:
        rows.append(("cancel", Text("requested: the running attempt is being stopped")))
    for name, value in rows:
        facts.add_row(name, value)
    parts: list[RenderableType] = [
        Panel(facts, title=Text(task.id), title_align="left", box=box.ROUNDED),
        _section("payload", _json(task.payload)),
    ]
    if task.status is Status.COMPLETED or task.result is not None:
        parts.append(_section("result", _json(task.result)))
    parts += _errors(task)
    parts.append(_section("timeline", _timeline(task)))
    return Group(*parts)


def _errors(task: Task) -> list[RenderableType]:
    if not task.errors and task.error:
        return [_section("error", Text(task.error, style="red"))]
    shown: list[RenderableType] = []
    for error in task.errors:
        body: list[RenderableType] = [Text(error.error, style="red")]
        if error.traceback:
            body.append(Text(error.traceback.rstrip("\n"), style="dim"))
        title = f"attempt {error.attempt} failed · {moment(error.at)}"
        shown.append(
            Panel(
                Group(*body), title=title, title_align="left", border_style="red", box=box.ROUNDED
            )
        )
    return shown


def _timeline(task: Task) -> Table:
    start = task.created_at
    events: list[tuple[datetime, str, str]] = []
    if task.created_at is not None:
        events.append((task.created_at, "created", ""))
    if task.run_at is not None and start is not None and task.run_at - start > _INSTANT:
        again = any(e.at is not None and e.at <= task.run_at for e in task.errors)
        events.append((task.run_at, "due again" if again else "due", ""))
    for error in task.errors:
        if error.at is not None:
            events.append((error.at, f"attempt {error.attempt} failed", one_line(error.error)))
    if task.started_at is not None:
        waited = _seconds_between(task.run_at, task.started_at)
        note = f"waited {duration(waited)}" if waited is not None else ""
        events.append((task.started_at, f"attempt {task.attempts} started", note))
    if task.processed_at is not None:
        ran = _seconds_between(task.started_at, task.processed_at)
        note = f"ran {duration(ran)}" if ran is not None else ""
        events.append((task.processed_at, task.status.value, note))
    events.sort(key=lambda event: event[0])
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True, style="dim")
    table.add_column(no_wrap=True)
    table.add_column()  # the note: the one column that narrows (cut, not wrapped)
    for at, what, note in events:
        offset = _seconds_between(start, at)
        label = Text(what, style=_event_style(what))
        shift = "" if offset is None or what == "created" else f"+{duration(offset)}"
        table.add_row(moment(at), shift, label, _cut(note))
    return table


def _event_style(what: str) -> str:
    for status, style in STATUS_STYLES.items():
        if what == status.value:
            return style
    return "red" if what.endswith("failed") else ""


def stats_view(stats: Stats, queues: Queues) -> RenderableType:
    """``stats``: tasks by status, throughput and wait/run times per window, the queues."""
    counts = _table("tasks by status")
    for status in Status:
        counts.add_column(Text(status.value, style=STATUS_STYLES[status]), justify="right")
    counts.add_column("total", justify="right")
    values = [getattr(stats.counts, status.value) for status in Status]
    counts.add_row(*[f"{v:,}" for v in values], f"{sum(values):,}")

    windows = _table("finished in the last minutes; wait and run times")
    for name in ("last", "completed", "failed", "/s", "wait p50", "p95", "run p50", "p95"):
        windows.add_column(name, justify="left" if name == "last" else "right", no_wrap=True)
    for w in stats.windows:
        windows.add_row(
            WINDOW_NAMES.get(w.window_s, f"{w.window_s} s"),
            f"{w.completed:,}",
            Text(f"{w.failed:,}", style="red" if w.failed else ""),
            f"{w.completed_per_s + w.failed_per_s:.1f}",
            duration(w.wait_s.p50),
            duration(w.wait_s.p95),
            duration(w.run_s.p50),
            duration(w.run_s.p95),
        )

    by_queue = _table("queues")
    by_queue.add_column("queue", overflow="ellipsis", no_wrap=True, max_width=30)
    for status in Status:
        by_queue.add_column(Text(status.value, style=STATUS_STYLES[status]), justify="right")
    by_queue.add_column("oldest", justify="right", no_wrap=True)  # ready task's age
    by_queue.add_column("/s", justify="right", no_wrap=True)  # over the last minute
    for queue in queues.queues:
        minute = next((w for w in queue.windows if w.window_s == 60), None)
        rate = NONE if minute is None else f"{minute.completed_per_s + minute.failed_per_s:.1f}"
        by_queue.add_row(
            Text(queue.name),
            *[f"{getattr(queue.counts, status.value):,}" for status in Status],
            duration(queue.oldest_ready_age_s),
            rate,
        )
    if queues.more:
        by_queue.caption = f"only the first {len(queues.queues):,} queues, by name"
    if not queues.queues:
        by_queue.caption = "no queue has tasks"
    return Group(counts, Text(""), windows, Text(""), by_queue)


def _section(title: str, body: RenderableType) -> RenderableType:
    return Group(Text(title, style="bold"), Padding(body, (0, 0, 1, 2)))


def _table(title: str | None = None, **options: Any) -> Table:
    """A table with a rule under its header and one space between columns, no edges: it
    keeps the most room for the values."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        **options,
    )


def _json(value: Any) -> Text:
    """``value`` as indented JSON, as plain text (rich's JSON view would colour it on its
    own terms; a payload is the user's, shown as it is)."""
    return Text(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())
