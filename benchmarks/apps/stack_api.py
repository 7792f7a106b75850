"""The "what users build today" stack, API side: FastAPI POST /tasks -> Celery `.delay`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from benchmarks.apps.stack_tasks import run_action

app = FastAPI()


class TaskIn(BaseModel):
    action: str
    data: dict[str, Any] = {}


@app.post("/tasks", status_code=202)
def create_task(body: TaskIn) -> dict[str, str]:
    # A sync endpoint (run in FastAPI's thread pool) because `.delay` blocks on the broker.
    result = run_action.delay(body.action, body.data)
    return {"id": result.id, "status": "queued"}
