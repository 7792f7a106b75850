"""Ceiling: a FastAPI POST /tasks that validates the body with pydantic and answers 202."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class TaskIn(BaseModel):
    action: str
    data: dict[str, Any] = {}


@app.post("/tasks", status_code=202)
async def create_task(body: TaskIn) -> dict[str, str]:
    return {"id": "noop", "status": "queued"}
