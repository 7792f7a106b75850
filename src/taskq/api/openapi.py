"""The OpenAPI document and the interactive docs page (Swagger UI, shipped in a package)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from taskq import __version__
from taskq.api.responses import json_response
from taskq.api.schema import DEFAULT_LIMIT, MAX_LIMIT
from taskq.task import Status

_ERROR = {"$ref": "#/components/schemas/Error"}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "taskq",
        "version": __version__,
        "description": "Submit tasks; workers run them in the background; every task is stored.",
    },
    "paths": {
        "/tasks": {
            "post": {
                "summary": "Submit a task",
                "description": "202 once the task is committed to the store.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Submission"}}
                    },
                },
                "responses": {
                    "202": {
                        **_json({"$ref": "#/components/schemas/Accepted"}, "Accepted and stored"),
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "400": _error("Invalid JSON, not an object, or no action"),
                    "413": _error("Body over the size limit"),
                    "422": _error("A field has the wrong type or value (named in `field`)"),
                    "503": _error("The store is unavailable"),
                },
            },
            "get": {
                "summary": "List tasks, newest first",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": [s.value for s in Status]},
                    },
                    {"name": "action", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIMIT,
                            "default": DEFAULT_LIMIT,
                        },
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "description": "`next_cursor` of the previous page",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/TaskList"}, "One page of tasks"),
                    "400": _error("Unknown status or bad limit/cursor"),
                },
            },
        },
        "/tasks/{task_id}": {
            "get": {
                "summary": "One task",
                "parameters": [
                    {
                        "name": "task_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Task"}, "The task"),
                    "404": _error("No such task"),
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "Up"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness (the store answers)",
                "responses": {"200": {"description": "Ready"}, "503": _error("Store unavailable")},
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
            },
            "Submission": {
                "type": "object",
                "required": ["action"],
                "additionalProperties": False,
                "properties": {
                    "action": {"type": "string", "minLength": 1, "maxLength": 200},
                    "data": {"type": "object", "default": {}},
                    "queue": {"type": "string", "default": "default"},
                    "priority": {"type": "integer", "default": 0, "description": "higher first"},
                    "max_attempts": {"type": "integer", "minimum": 1},
                    "timeout": {"type": "number", "description": "seconds per attempt"},
                    "delay": {"type": "number", "minimum": 0, "description": "seconds"},
                    "run_at": {"type": ["string", "number"], "description": "ISO 8601 or epoch s"},
                },
            },
            "Accepted": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "status": {"const": "queued"},
                },
            },
            "Task": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "action": {"type": "string"},
                    "payload": {"type": "object", "description": "the submitted `data`"},
                    "status": {"type": "string", "enum": [s.value for s in Status]},
                    "result": {"description": "the action's JSON result once completed"},
                    "error": {
                        "type": ["string", "null"],
                        "description": "the last attempt's error",
                    },
                    "errors": {"type": "array", "items": {"type": "object"}},
                    "attempts": {"type": "integer"},
                    "max_attempts": {"type": ["integer", "null"]},
                    "queue": {"type": "string"},
                    "priority": {"type": "integer"},
                    "timeout": {"type": ["number", "null"]},
                    "run_at": _TIME,
                    "created_at": _TIME,
                    "started_at": _TIME,
                    "processed_at": _TIME,
                },
            },
            "TaskList": {
                "type": "object",
                "properties": {
                    "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
                    "count": {"type": "integer"},
                    "next_cursor": {"type": ["string", "null"]},
                },
            },
        }
    },
}

DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>taskq API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


async def openapi_json(_: Request) -> Response:
    return json_response(SPEC)


async def docs(_: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)
