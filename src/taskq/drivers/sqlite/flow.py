"""The SQLite driver's flow control (taskq/flow.py): the claim under the queues' settings,
and the verbs on the queues table, each one function on a connection run by the writer
(or the reader), in one transaction.

The claim reads the settings in its own write transaction. SQLite has one writer, so
neither the settings nor the running counts can change before the claim commits: the
limit holds exactly, across every worker process on the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Literal

from taskq import codec, flow
from taskq.drivers import rows
from taskq.drivers.rows import COLUMNS, QUEUE_COLUMNS
from taskq.drivers.statements import load
from taskq.flow import Keep, QueueSettings, Rate

SQL = load("taskq.drivers.sqlite")
NOT_HELD_BACK = SQL["not_held_back"].strip()
CLAIM_CONTROLLED = {
    ready: SQL["claim_controlled"].format(
        ready=SQL[ready].strip().replace("\nORDER BY", f"\n    {NOT_HELD_BACK}\nORDER BY", 1),
        columns=COLUMNS,
    )
    for ready in ("ready_any_queue", "ready_in_queue", "ready_in_queues")
}
QUEUE_SETTINGS = SQL["queue_settings"].format(queue_columns=QUEUE_COLUMNS)
FLOW_CONTROLS = SQL["flow_controls"].format(queue_columns=QUEUE_COLUMNS)
# where a claimed row (COLUMNS) holds its queue and its status
QUEUE, STATUS = 4, 6
ONE_QUEUE_SETTINGS = SQL["one_queue_settings"].format(queue_columns=QUEUE_COLUMNS)


def claim(
    conn: sqlite3.Connection, query: str, args: dict[str, Any], queues: Sequence[str] | None
) -> list[Any]:
    """Run the claim ``query`` with ``args`` (rows.claim_statement's), or, when some queue is
    paused or limited or a keyed task waits, its flow-controlled form: the held-back queues'
    tasks left out, and each limited queue (of ``queues``, all if None) and each key given
    up to its room, among the tasks to start; the starts of rated queues are recorded."""
    held_back, keyed = conn.execute(SQL["held_back"]).fetchone()
    if not held_back and not keyed:
        return conn.execute(query, args).fetchall()
    controls = conn.execute(FLOW_CONTROLS, {"now": args["now"]}).fetchall() if held_back else []
    settings: dict[str, QueueSettings] = {}
    rooms: dict[str, int] = {}  # the limited queues this claim may start tasks of
    for *columns, running, starts in controls:
        found = settings[columns[0]] = rows.row_to_queue(columns)
        if found.is_limited and not found.paused and (not queues or found.name in queues):
            rooms[found.name] = flow.room(found, running=running, starts=starts)
    start = args["start"]
    limited = _keyed(conn, args, queues, settings, rooms) if keyed and start > 0 else []
    for name, left in rooms.items():
        room = min(left, start - len(limited))
        if room > 0:
            found_seqs = conn.execute(
                SQL["ready_in_limited_queue"], {"now": args["now"], "queue": name, "room": room}
            )
            limited.extend(seq for (seq,) in found_seqs)
    held_back = codec.encode([name for name, *_ in controls])
    claimed = conn.execute(
        CLAIM_CONTROLLED[rows.ready_variant(queues)],
        {**args, "held_back": held_back, "limited": codec.encode(limited)},
    ).fetchall()
    rated = [s for s in settings.values() if s.rate is not None]
    if rated:
        _record_starts(conn, rated, claimed, now=args["now"])
    return claimed


def _keyed(
    conn: sqlite3.Connection,
    args: dict[str, Any],
    queues: Sequence[str] | None,
    settings: dict[str, QueueSettings],
    rooms: dict[str, int],
) -> list[int]:
    """The keyed tasks this claim may start, in claim order: up to each key's room, and, in
    a limited queue, within its room (taken from ``rooms``)."""
    running = {(q, k): n for q, k, n in conn.execute(SQL["keyed_running"])}
    set_per_key = dict(conn.execute(SQL["key_concurrencies"]).fetchall())

    def per_key(queue: str) -> int:
        return int(set_per_key.get(queue, 1))

    full = [f"{q}\x1f{k}" for (q, k), n in running.items() if n >= per_key(q)]
    window = {
        "now": args["now"],
        "queues": None if not queues else codec.encode(list(queues)),
        "paused": codec.encode([name for name, s in settings.items() if s.paused]),
        "full": codec.encode(full),
        "window": args["start"] * 4,
    }
    picked: list[int] = []
    for seq, queue, key in conn.execute(SQL["keyed_ready"], window).fetchall():
        if len(picked) >= args["start"]:
            break
        if running.get((queue, key), 0) >= per_key(queue) or rooms.get(queue, 1) <= 0:
            continue
        running[queue, key] = running.get((queue, key), 0) + 1
        if queue in rooms:
            rooms[queue] -= 1
        picked.append(seq)
    return picked


def _record_starts(
    conn: sqlite3.Connection, rated: list[QueueSettings], claimed: list[Any], *, now: float
) -> None:
    """Record the starts of the rated queues' tasks among ``claimed`` (rows as COLUMNS),
    and forget those of their starts no claim will count."""
    names = {settings.name for settings in rated}
    started = [row[QUEUE] for row in claimed if row[STATUS] == "running" and row[QUEUE] in names]
    if started:
        conn.execute(SQL["record_starts"], {"queues": codec.encode(started), "now": now})
    for settings in rated:
        assert settings.rate is not None
        before = now - settings.rate.per_s - flow.STARTS_KEPT_EXTRA_S
        conn.execute(SQL["forget_starts"], {"queue": settings.name, "before": before})


def update(
    conn: sqlite3.Connection,
    name: str,
    *,
    paused: bool | None,
    concurrency: int | Literal[Keep.KEEP] | None,
    rate: Rate | Literal[Keep.KEEP] | None,
    key_concurrency: int | Literal[Keep.KEEP] | None,
    now: float,
) -> QueueSettings:
    row = conn.execute(ONE_QUEUE_SETTINGS, (name,)).fetchone()
    current = QueueSettings(name) if row is None else rows.row_to_queue(row)
    new = flow.updated(
        current,
        paused=paused,
        concurrency=concurrency,
        rate=rate,
        key_concurrency=key_concurrency,
        now=now,
    )
    conn.execute(
        SQL["update_queue"],
        {
            "name": name,
            "paused": int(new.paused),
            "concurrency": new.concurrency,
            "updated_at": now,
            "rate_limit": None if new.rate is None else new.rate.limit,
            "rate_period_s": None if new.rate is None else new.rate.per_s,
            "key_concurrency": new.key_concurrency,
        },
    )
    if new.rate is None:  # its starts count for nothing now
        conn.execute(SQL["forget_starts"], {"queue": name, "before": float("inf")})
    return new


def settings(conn: sqlite3.Connection) -> dict[str, QueueSettings]:
    return {row[0]: rows.row_to_queue(row) for row in conn.execute(QUEUE_SETTINGS).fetchall()}
