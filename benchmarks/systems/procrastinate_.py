"""Procrastinate 3 on PostgreSQL (dedicated database, schema recreated every reset)."""

from __future__ import annotations

from typing import Any

import psycopg

from benchmarks.config import PG_ADMIN_DSN, PG_DB_NAME, PG_DSN
from benchmarks.systems import venv_bin
from benchmarks.systems.base import BulkApi, System, WorkerSpec
from benchmarks.systems.procrastinate_tasks import app, uppercase


def ensure_database() -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB_NAME,)
        ).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{PG_DB_NAME}"')


def recreate_database_schema() -> None:
    ensure_database()
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


class Procrastinate(System):
    name = "procrastinate"
    bulk_api = BulkApi("task.batch_defer_async(*1,000 kwargs) - one INSERT", batched=True)
    results = "none: Procrastinate keeps no return value; job row status='succeeded' in PostgreSQL"

    async def open(self) -> None:
        ensure_database()
        await app.open_async()

    async def close(self) -> None:
        await app.close_async()

    async def reset(self) -> None:
        await app.close_async()
        recreate_database_schema()
        await app.open_async()
        await app.schema_manager.apply_schema_async()

    async def enqueue(self, data: dict[str, str]) -> None:
        await uppercase.defer_async(data=data)

    async def enqueue_many(self, items: list[dict[str, str]]) -> None:
        kwargs: list[dict[str, Any]] = [{"data": d} for d in items]
        await uppercase.batch_defer_async(*kwargs)

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [
            venv_bin("procrastinate"),
            "--app",
            "benchmarks.systems.procrastinate_tasks.app",
            "worker",
            "--queues",
            "bench",
        ]
        return [WorkerSpec(argv) for _ in range(procs)]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"{procs} x `procrastinate worker --queues bench` (no multi-process "
            "launcher)",
            "concurrency_per_process": "concurrency=1 (default)",
            "prefetch": "none; LISTEN/NOTIFY wake-up + fetch_job_polling_interval=5 s (defaults)",
            "database": f"PostgreSQL database {PG_DB_NAME}, schema dropped and re-applied per run",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        with psycopg.connect(PG_DSN) as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
        return int(row[0]) if row else 0
