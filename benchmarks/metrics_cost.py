"""What the HTTP metrics cost: CPU time per request with the middleware on and off, in one
process, and the CPU time of one ``GET /metrics`` render.

    .venv/bin/python -m benchmarks.metrics_cost [--requests 20000] [--reps 5] [--block 250]
        [--database memory://|PATH] [--renders 50]

The app is ``create_app``'s on the settings ``taskq api`` would read (``load_settings``:
flags, env, TOML), driven through its ASGI interface with prepared scopes: no client, no
socket, no server, so what is left is the app's own work. Each run opens two apps on one
fresh store, the two modes:

* ``on``: the app as shipped, ``MeasureRequests`` outermost: a Histogram observation
  labelled method, route and status per request;
* ``off``: the same app with ``MeasureRequests`` taken out of ``app.user_middleware`` before
  its first request (Starlette builds the middleware stack then). Each run checks the stacks
  built, and that the histogram counted every request (on) or none (off).

After 100 untimed requests of each kind to each app, ``--requests`` of each kind go to each,
one at a time: ``POST /tasks`` (a small JSON body, 202), ``GET /tasks/{id}`` (200) and
``GET /healthz`` (200, the cheapest route, where the middleware's share is largest). The
modes alternate every ``--block`` requests, the order swapped each block, so the machine's
drift (and the other processes on it) hit each alike; the CPU time of the process
(``time.process_time``) is read around each block. ``MeasureRequests alone`` is the same
difference around an ASGI app that answers at once (as if routed to ``/healthz``): the
middleware's own cost, without the app's.

The default store is ``memory://``, where taskq's own work is smallest, so the share the
middleware takes is the largest it can be; ``--database PATH`` runs on SQLite instead (a
fresh file per run in a temporary directory, ``synchronous=NORMAL``). About a minute on
``memory://`` and three on SQLite on a 2-core machine; ``--requests 5000`` is a quarter.

The second table is the render: the HTTP histogram holding 0, 30 and 150 label sets (30
route templates of the app x 5 statuses, observed directly, as that many requests would;
the table counts the warm-up scrapes' own label set too), then ``--renders`` renders of the
app's registry alone (``generate_latest``) and of the whole ``GET /metrics`` on an empty
``memory://`` store (which adds the store's figures: gauges, counters, histograms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from prometheus_client.exposition import generate_latest
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskq import migrations
from taskq.api import create_app
from taskq.api.metrics import MeasureRequests, Metrics
from taskq.config import load_settings
from taskq.drivers import is_memory_url, is_postgres_url

MODES = ("on", "off")
WARM_UP = 100
BODY = b'{"action": "uppercase", "data": {"text": "hello"}}'
STATUSES = ("200", "202", "400", "404", "500")
LABEL_SETS = (0, 30, 150)


def template(method: str, path: str, body: bytes = b"") -> Scope:
    """The scope of one request as uvicorn would pass it, from loopback."""
    headers = [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench")]
    if body:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def call(app: ASGIApp, scope: Scope, body: bytes = b"") -> tuple[int, bytes]:
    """One request through the app's ASGI interface: its status and body."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    # a copy: Starlette writes the route, the app and the path parameters into the scope
    await app({**scope, "state": {}}, receive, send)
    return status, b"".join(chunks)


def without_metrics(app: Starlette) -> None:
    """Takes ``MeasureRequests`` out of the app before its middleware stack is built."""
    assert app.middleware_stack is None, "the stack is built: removing the middleware is moot"
    before = len(app.user_middleware)
    measure: object = MeasureRequests
    app.user_middleware = [m for m in app.user_middleware if m.cls is not measure]
    assert len(app.user_middleware) == before - 1


def measures(app: Starlette) -> bool:
    """Whether the app's built middleware stack holds ``MeasureRequests``."""
    layer: object = app.middleware_stack
    while layer is not None:
        if isinstance(layer, MeasureRequests):
            return True
        layer = getattr(layer, "app", None)
    return False


def observed(metrics: Metrics) -> int:
    """Requests the app's HTTP histogram counted, over every label set."""
    return int(
        sum(
            sample.value
            for family in metrics.http.collect()
            for sample in family.samples
            if sample.name.endswith("_count")
        )
    )


async def one_run(database: str, n: int, block: int) -> dict[str, dict[str, float]]:
    """CPU µs per request of each kind with the middleware on and off: two apps on the same
    store, ``block`` requests to one then to the other, the order swapped every block."""
    settings = load_settings(database=database, sqlite_synchronous="NORMAL")
    apps = {mode: create_app(settings) for mode in MODES}
    without_metrics(apps["off"])
    sent = dict.fromkeys(MODES, 0)
    post = template("POST", "/tasks", BODY)
    healthz = template("GET", "/healthz")
    cpu: dict[str, dict[str, float]] = {mode: {} for mode in MODES}
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))

        async def expect(mode: str, scope: Scope, status: int, body: bytes = b"") -> bytes:
            sent[mode] += 1
            got, answer = await call(apps[mode], scope, body)
            assert got == status, (mode, scope["method"], scope["path"], got, answer)
            return answer

        ids = []
        for mode in MODES:
            for _ in range(WARM_UP):
                answer = await expect(mode, post, 202, BODY)
                ids.append(answer.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode())
        gets = [template("GET", f"/tasks/{task_id}") for task_id in ids]
        kinds = {
            "POST /tasks": ([post], 202, BODY),
            "GET /tasks/{id}": (gets, 200, b""),
            "GET /healthz": ([healthz], 200, b""),
        }
        for mode in MODES:
            for scopes, status, body in kinds.values():
                for i in range(WARM_UP):
                    await expect(mode, scopes[i % len(scopes)], status, body)

        for kind, (scopes, status, body) in kinds.items():
            spent = dict.fromkeys(MODES, 0.0)
            for b in range(0, n, block):
                for mode in MODES if b // block % 2 == 0 else MODES[::-1]:
                    started = time.process_time()
                    for i in range(b, min(b + block, n)):
                        await expect(mode, scopes[i % len(scopes)], status, body)
                    spent[mode] += time.process_time() - started
            for mode in MODES:
                cpu[mode][kind] = spent[mode] / n * 1e6

    assert measures(apps["on"]), "on: MeasureRequests is not in the middleware stack"
    assert not measures(apps["off"]), "off: MeasureRequests is still in the middleware stack"
    for mode, app in apps.items():
        counted = observed(app.state.metrics)
        expected = sent[mode] if mode == "on" else 0
        assert counted == expected, f"{mode}: the histogram counted {counted} of {sent[mode]}"
    return cpu


async def middleware_alone(n: int) -> float:
    """CPU µs ``MeasureRequests`` adds around an app that answers at once, as if routed to
    ``/healthz`` (its observation into a real app's histogram, without the app's work)."""
    app = create_app(load_settings(database="memory://metrics-cost-alone"))
    route = next(r for r in app.routes if getattr(r, "path", None) == "/healthz")

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    measured = MeasureRequests(answer)
    scope = {**template("GET", "/healthz"), "app": app}
    targets: list[tuple[str, ASGIApp]] = [("bare", answer), ("measured", measured)]
    spent = {"bare": 0.0, "measured": 0.0}
    blocks = max(1, n // 500)
    for b in range(blocks):
        for name, target in targets if b % 2 == 0 else targets[::-1]:
            started = time.process_time()
            for _ in range(500):
                await call(target, scope)
            spent[name] += time.process_time() - started
    assert observed(app.state.metrics) == blocks * 500
    return (spent["measured"] - spent["bare"]) / (blocks * 500) * 1e6


async def one_render(label_sets: int, renders: int) -> tuple[int, float, float, int]:
    """The label sets the HTTP histogram holds (``label_sets`` and the scrapes' own), the CPU
    µs of one render of the registry, of one whole GET /metrics, and its bytes."""
    from taskq.drivers import memory

    database = "memory://metrics-cost-render"
    memory.forget(database)
    app = create_app(load_settings(database=database))
    metrics: Metrics = app.state.metrics
    # each route's method (not HEAD) and template, as MeasureRequests labels them: 30
    pairs = [
        (sorted(r.methods - {"HEAD"})[0], r.path)
        if isinstance(r, Route) and r.methods
        else ("GET", f"{r.path}/{{path}}")
        for r in app.routes
        if isinstance(r, Route | Mount)
    ]
    assert len(pairs) * len(STATUSES) >= label_sets, f"{len(pairs)} routes only"
    labels = [(m, p, s) for m, p in pairs for s in STATUSES][:label_sets]
    for k, (method, path, code) in enumerate(labels):
        child = metrics.http.labels(method, path, code)
        for j in range(10):  # durations across the buckets
            child.observe((k + j) % 12 * 0.003)
    scrape = template("GET", "/metrics")
    async with app.router.lifespan_context(app):
        for _ in range(10):
            await call(app, scrape)
        cpu = time.process_time()
        for _ in range(renders):
            generate_latest(metrics.registry)
        registry = (time.process_time() - cpu) / renders * 1e6
        cpu = time.process_time()
        for _ in range(renders):
            status, body = await call(app, scrape)
        whole = (time.process_time() - cpu) / renders * 1e6
        assert status == 200, status
    held = sum(1 for f in metrics.http.collect() for s in f.samples if s.name.endswith("_count"))
    return held, registry, whole, len(body)


def fresh(database: str, workdir: Path, k: int) -> str:
    if is_memory_url(database):
        from taskq.drivers import memory

        memory.forget(database)
        return database
    path = str(workdir / f"run{k}.db")
    migrations.migrate(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="timed, of each kind and mode")
    parser.add_argument("--block", type=int, default=250, help="requests before the mode swaps")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--database", default="memory://metrics-cost")
    parser.add_argument("--renders", type=int, default=50, help="timed renders per size")
    args = parser.parse_args()
    if is_postgres_url(args.database):
        parser.error("--database: memory:// or a SQLite file")
    runs: list[dict[str, dict[str, float]]] = []
    alone: list[float] = []
    renders: dict[int, list[tuple[int, float, float, int]]] = {n: [] for n in LABEL_SETS}
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(one_run(fresh(args.database, Path(tmp), 0), 500, args.block))  # warm up
        for k in range(1, args.reps + 1):
            database = fresh(args.database, Path(tmp), k)
            runs.append(asyncio.run(one_run(database, args.requests, args.block)))
            alone.append(asyncio.run(middleware_alone(args.requests)))
            for n in LABEL_SETS:
                renders[n].append(asyncio.run(one_render(n, args.renders)))

    print(
        f"{args.requests} requests of each kind and mode per run, modes swapped every "
        f"{args.block}, {args.reps} runs, store {args.database}"
    )
    print("CPU µs per request, median [min-max] over the runs")
    print(f"{'request':<20} {'on':>20} {'off':>20} {'on - off':>18} {'on / off':>9}")
    for kind in runs[0]["on"]:
        on = [run["on"][kind] for run in runs]
        off = [run["off"][kind] for run in runs]
        extra = [run["on"][kind] - run["off"][kind] for run in runs]
        ratio = statistics.median(on) / statistics.median(off)
        print(f"{kind:<20} {_cell(on):>20} {_cell(off):>20} {_cell(extra):>18} {ratio:9.3f}")
    print(f"{'MeasureRequests alone':<62} {_cell(alone):>18}")

    print()
    print(f"GET /metrics, {args.renders} renders per run, CPU µs per render, median [min-max]")
    print(f"{'label sets':>10} {'registry only':>24} {'whole request':>24} {'bytes':>8}")
    for found in renders.values():
        registry = [r for _, r, _, _ in found]
        whole = [w for _, _, w, _ in found]
        held, size = found[0][0], found[0][3]
        print(f"{held:>10} {_cell(registry):>24} {_cell(whole):>24} {size:>8}")


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


if __name__ == "__main__":
    main()
