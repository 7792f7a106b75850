"""Procrastinate worker side: `procrastinate --app benchmarks.systems.procrastinate_tasks.app`."""

from __future__ import annotations

import procrastinate

from benchmarks import probe
from benchmarks.config import PG_DSN

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=PG_DSN))


@app.task(name="uppercase", queue="bench")
async def uppercase(data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)
