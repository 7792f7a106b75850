"""The OpenAPI document, generated from the route table and the wire types; and the
interactive docs page (Swagger UI, shipped in a package).

Each route of the app must have an ``Operation`` here: ``build`` refuses a route without
one, so the document lists exactly what the service answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from taskq import __version__
from taskq.api.responses import json_response
from taskq.api.waiting import MAX_WAIT_S
from taskq.api.wire import (
    CANONICAL_UUID,
    DEFAULT_LIMIT,
    MAX_BATCH,
    MAX_IDEMPOTENCY_KEY,
    MAX_LIMIT,
    Accepted,
    BatchOut,
    BatchSubmission,
    BulkOut,
    BulkRequest,
    Deleted,
    Error,
    Health,
    QueuePatch,
    QueueSettingsOut,
    QueuesOut,
    SchedulesOut,
    SessionOut,
    SignIn,
    StatsOut,
    Submission,
    TaskOut,
    TaskPage,
    WorkersOut,
)
from taskq.filters import MAX_ERROR_SEARCH, MAX_FILTER_VALUES
from taskq.keys import Scope
from taskq.stats import MAX_QUEUES, SAMPLE_SIZE, WINDOWS_S
from taskq.task import MAX_QUEUE_LENGTH, Status


@dataclass(frozen=True)
class Media:
    """A body that is not one of the wire types: its media type and schema."""

    media_type: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


# the body (a wire type, JSON; a Media; None: no body), what it means
Answer = tuple[type[Any] | Media | None, str]


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers, for the document."""

    summary: str
    responses: dict[int, Answer]
    # who may call it (taskq/keys.py): the most a key can do unless said otherwise; None
    # for what anyone may call (probes, this document)
    scope: Scope | None = Scope.ADMIN
    description: str | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    body: type[Any] | None = None
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)


_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
_LOCATION = {"Location": {"description": "the task's URL", "schema": {"type": "string"}}}
_UNAVAILABLE: dict[int, Answer] = {503: (Error, "The store is unavailable")}
_NOT_FOUND: dict[int, Answer] = {404: (Error, "No such task")}
_CROSS_SITE: dict[int, Answer] = {403: (Error, "A browser's request from another site")}

_QUEUE_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": f"a queue's name, 1 to {MAX_QUEUE_LENGTH} characters, no NUL; it need not "
    "have tasks",
    "schema": {"type": "string"},
}
_BAD_QUEUE: dict[int, Answer] = {422: (Error, "A bad queue name (`field` is `name`)")}
_FLOW = (
    "Workers obey at their next claim (the claim reads the settings), so within "
    "`--poll-interval-s` on every worker."
)


def _flow(summary: str, what: str) -> Operation:
    return Operation(
        summary,
        description=f"{what} {_FLOW}",
        parameters=[_QUEUE_NAME],
        responses={
            200: (QueueSettingsOut, "The queue's settings now"),
            **_BAD_QUEUE,
            **_CROSS_SITE,
            **_UNAVAILABLE,
        },
    )


_STATUSES = [s.value for s in Status]
_WINDOWS = ", ".join(f"{w // 60}" for w in WINDOWS_S) + " minutes"


def _bulk(summary: str, what: str) -> Operation:
    return Operation(
        summary,
        description=f"{what} At most `limit` tasks (newest first) in one write; `more` "
        "tells whether others are left: call again. An empty filter is refused unless the "
        'body says `"all": true`.',
        body=BulkRequest,
        responses={
            200: (BulkOut, "What it did"),
            400: (Error, "Invalid JSON, or not an object"),
            408: (Error, "The body did not arrive in time"),
            413: (Error, "Body over the size limit"),
            422: (
                Error,
                "A field has the wrong type or value, or neither a filter nor `all` was given "
                "(named in `field`)",
            ),
            **_CROSS_SITE,
            **_UNAVAILABLE,
        },
    )


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/tasks"): Operation(
        "Submit a task",
        description="202 once the task is committed to the store. With an `Idempotency-Key` "
        "already used for the same body: 200 and the original task; for another body: 409.",
        body=Submission,
        parameters=[
            {
                "name": "Idempotency-Key",
                "in": "header",
                "description": "makes a submission safe to repeat: one task per key, ever",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            }
        ],
        scope=Scope.SUBMIT,
        responses={
            202: (Accepted, "Accepted and stored"),
            200: (Accepted, "The task an earlier request with this Idempotency-Key stored"),
            400: (Error, "Invalid JSON, not an object, nested too deep, or no action"),
            408: (Error, "The body did not arrive in time"),
            409: (Error, "The Idempotency-Key was used for another body"),
            413: (Error, "Body over the size limit"),
            422: (Error, "A field has the wrong type or value (named in `field`)"),
            **_CROSS_SITE,
            **_UNAVAILABLE,
        },
        headers={202: _LOCATION, 200: _LOCATION},
    ),
    ("POST", "/tasks/batch"): Operation(
        "Submit tasks together: all or none",
        description=f"1 to {MAX_BATCH:,} tasks, each what `POST /tasks` takes plus its own "
        "optional `idempotency_key` (as that endpoint's header), committed in one "
        "transaction: 202 once all are stored; nothing is stored if one is refused. The "
        "answer lists them in order; `created` is false for a task whose key returned the "
        "task stored before. The body limit applies to the whole batch.",
        body=BatchSubmission,
        scope=Scope.SUBMIT,
        responses={
            202: (BatchOut, "All stored (or found by their keys), in order"),
            400: (Error, "Invalid JSON, not an object, or nested too deep"),
            408: (Error, "The body did not arrive in time"),
            409: (Error, "A task's key was used for another body (`field`: `tasks[i]...`)"),
            413: (Error, "Body over the size limit"),
            422: (
                Error,
                "No tasks or too many (`field`: `tasks`), or a task's field has the wrong "
                "type or value (`field`: `tasks[i].name`)",
            ),
            **_CROSS_SITE,
            **_UNAVAILABLE,
        },
    ),
    ("GET", "/tasks"): Operation(
        "List tasks, newest first",
        parameters=[
            {
                "name": "id",
                "in": "query",
                "description": "any of these tasks (repeat the parameter; at most "
                f"{MAX_FILTER_VALUES})",
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "format": "uuid", "pattern": CANONICAL_UUID},
                },
                "explode": True,
            },
            {
                "name": "status",
                "in": "query",
                "description": "any of these statuses (repeat the parameter)",
                "schema": {"type": "array", "items": {"type": "string", "enum": _STATUSES}},
                "explode": True,
            },
            {
                "name": "queue",
                "in": "query",
                "description": "any of these queues (repeat the parameter)",
                "schema": {"type": "array", "items": {"type": "string"}},
                "explode": True,
            },
            {
                "name": "action",
                "in": "query",
                "description": "any of these actions (repeat the parameter)",
                "schema": {"type": "array", "items": {"type": "string"}},
                "explode": True,
            },
            {
                "name": "created_after",
                "in": "query",
                "description": "created at or after: ISO 8601 (no offset: UTC) or epoch seconds",
                "schema": {"type": "string"},
            },
            {
                "name": "created_before",
                "in": "query",
                "description": "created before: ISO 8601 (no offset: UTC) or epoch seconds",
                "schema": {"type": "string"},
            },
            {
                "name": "q",
                "in": "query",
                "description": "text the task's `error` contains (ASCII case ignored); empty: any",
                "schema": {"type": "string", "maxLength": MAX_ERROR_SEARCH},
            },
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
                "description": "`next_cursor` of the previous page; empty: the first page",
                "schema": {"type": "string", "pattern": "^[0-9]*$"},
            },
        ],
        scope=Scope.READ,
        responses={
            200: (TaskPage, "One page of tasks"),
            400: (Error, "A bad filter value, limit or cursor (named in `field`)"),
            **_UNAVAILABLE,
        },
    ),
    ("GET", "/tasks/{task_id}"): Operation(
        "One task",
        description="With `wait`: answers as soon as the task is finished (completed, "
        "failed or cancelled), or after that many seconds with the task as it is then; a "
        "finished task, or an unknown one, answers at once. Woken by the changes every "
        "process publishes: a waiting request costs the store no query.",
        parameters=[
            _TASK_ID,
            {
                "name": "wait",
                "in": "query",
                "description": "seconds to wait for the task to finish, above 0, at most "
                f"{MAX_WAIT_S:.0f}",
                "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WAIT_S},
            },
        ],
        scope=Scope.READ,
        responses={
            200: (TaskOut, "The task (finished, or as it is once `wait` ran out)"),
            400: (Error, "A bad `wait`"),
            **_NOT_FOUND,
            **_UNAVAILABLE,
        },
    ),
    ("POST", "/tasks/{task_id}/cancel"): Operation(
        "Cancel a task",
        description="A queued task is cancelled at once (200); a running one is asked to stop "
        "(202, `cancel_requested` true) and ends `cancelled`.",
        parameters=[_TASK_ID],
        responses={
            200: (TaskOut, "Cancelled"),
            202: (TaskOut, "Running: its worker is stopping it"),
            409: (Error, "The task already finished"),
            **_CROSS_SITE,
            **_NOT_FOUND,
            **_UNAVAILABLE,
        },
    ),
    ("POST", "/tasks/{task_id}/retry"): Operation(
        "Retry a failed or cancelled task",
        description="Queued again, with a fresh attempt budget.",
        parameters=[_TASK_ID],
        responses={
            202: (Accepted, "Queued again"),
            409: (Error, "The task is neither failed nor cancelled"),
            **_CROSS_SITE,
            **_NOT_FOUND,
            **_UNAVAILABLE,
        },
        headers={202: _LOCATION},
    ),
    ("DELETE", "/tasks/{task_id}"): Operation(
        "Delete a finished task",
        description="Only a completed, failed or cancelled task; cancel a queued or running "
        "one first.",
        parameters=[_TASK_ID],
        responses={
            200: (Deleted, "Deleted"),
            409: (Error, "The task is queued or running"),
            **_CROSS_SITE,
            **_NOT_FOUND,
            **_UNAVAILABLE,
        },
    ),
    ("POST", "/tasks/bulk/retry"): _bulk(
        "Retry the failed and cancelled tasks a filter matches",
        "Each is queued again with a fresh attempt budget, as `POST /tasks/{task_id}/retry` "
        "does one.",
    ),
    ("POST", "/tasks/bulk/cancel"): _bulk(
        "Cancel the queued and running tasks a filter matches",
        "Queued ones are cancelled at once; running ones are asked to stop (counted once: a "
        "task already asked is not changed again).",
    ),
    ("POST", "/tasks/bulk/delete"): _bulk(
        "Delete the finished tasks a filter matches",
        "Completed, failed and cancelled tasks only.",
    ),
    ("GET", "/queues"): Operation(
        "Each queue's counts, oldest ready task and throughput",
        description="The queues that have tasks or flow control settings, by name, at most "
        f"{MAX_QUEUES:,} (`more` tells whether others exist). Throughput over the last "
        f"{_WINDOWS}. Computed at most once per second per API process: polling clients "
        "share one answer.",
        scope=Scope.READ,
        responses={200: (QueuesOut, "The queues"), **_UNAVAILABLE},
    ),
    ("POST", "/queues/{name}/pause"): _flow(
        "Pause a queue",
        "Its tasks are still accepted but none is started (nor prefetched); running ones finish.",
    ),
    ("POST", "/queues/{name}/resume"): _flow(
        "Resume a paused queue",
        "Its tasks are started again; idle workers are woken at once.",
    ),
    ("PATCH", "/queues/{name}"): Operation(
        "Change a queue's flow control",
        description="`paused` (as pause and resume do) and `concurrency`: at most that many "
        "of the queue's tasks `running` at once across every worker (null: no limit). A "
        "field left out is kept. A limited queue's tasks are only claimed by idle runners, "
        f"never prefetched. {_FLOW}",
        parameters=[_QUEUE_NAME],
        body=QueuePatch,
        responses={
            200: (QueueSettingsOut, "The queue's settings now"),
            400: (Error, "Invalid JSON, or not an object"),
            408: (Error, "The body did not arrive in time"),
            413: (Error, "Body over the size limit"),
            422: (
                Error,
                "A bad queue name, a field with the wrong type or value, or no field (named "
                "in `field`)",
            ),
            **_CROSS_SITE,
            **_UNAVAILABLE,
        },
    ),
    ("GET", "/stats"): Operation(
        "Counts by status; throughput, wait and run times over recent windows",
        description=f"Over the last {_WINDOWS}: tasks completed and failed, and the p50 "
        f"and p95 of their wait (`started_at - run_at`) and run time (`processed_at - "
        f"started_at`), over the {SAMPLE_SIZE:,} that finished last at most (`sampled`). "
        "Computed at most once per second per API process: polling clients share one "
        "answer.",
        scope=Scope.READ,
        responses={200: (StatsOut, "The figures"), **_UNAVAILABLE},
    ),
    ("GET", "/workers"): Operation(
        "The live workers and the tasks each runs",
        description="Each worker announces itself when it starts, beats every `lease_s/3` "
        "and leaves at once on a clean stop; one that has not beaten for its `lease_s` "
        "(three beats: the moment its tasks' leases lapse too) is not listed, and the next "
        "heartbeat of any worker deletes it. Read from the store on every call.",
        scope=Scope.READ,
        responses={200: (WorkersOut, "The workers, oldest first"), **_UNAVAILABLE},
    ),
    ("GET", "/schedules"): Operation(
        "Each cron schedule of the live workers: next run and last enqueued tick",
        description="Once per action and expression, sorted by them. `next_run` is the "
        "schedule's next tick after now (UTC); `last_tick` the newest tick task stored for "
        "the action (its idempotency key `cron:<action>:<tick>`), null once none is: "
        "finished tick tasks are pruned with the others.",
        scope=Scope.READ,
        responses={200: (SchedulesOut, "The schedules"), **_UNAVAILABLE},
    ),
    ("GET", "/metrics"): Operation(
        "Every figure, in Prometheus' text format",
        description="`text/plain; version=0.0.4`. The task figures come from the store "
        "(the same in every API process): gauges of the tasks by queue and status and of "
        "the live workers, and counters and histograms of the tasks submitted and finished "
        "since this process started, read a few seconds behind now (writes in flight). "
        "The HTTP request figures are this process's own. See the README's Metrics section.",
        scope=Scope.READ,
        responses={
            200: (Media("text/plain"), "The metrics, in Prometheus' text format 0.0.4"),
            **_UNAVAILABLE,
        },
    ),
    ("GET", "/healthz"): Operation(
        "Liveness", responses={200: (Health, "The process runs")}, scope=None
    ),
    ("GET", "/readyz"): Operation(
        "Readiness: the store answers and can take writes",
        scope=None,
        responses={200: (Health, "Ready"), **_UNAVAILABLE},
    ),
    ("GET", "/events"): Operation(
        "Task and worker changes, live (Server-Sent Events)",
        description="A `text/event-stream` that stays open. Each message has an `event:` "
        "line and one `data:` line of JSON:\n\n"
        "- `task`: a task changed (TaskEventOut): `kind` is submitted, started, completed, "
        "failed, retried, cancelled, deleted or released; `status` is the task's status "
        "after it.\n"
        "- `worker`: a worker joined or left (WorkerEventOut).\n"
        "- `stats`: once a second (StatsEventOut): the changes of the last second across "
        "every process, and the `GET /stats` answer.\n"
        '- `resync`: `{"reason"}`: more changed than was sent one by one (a burst, a '
        "bulk action, a slow client): read afresh what you show.\n\n"
        "Changes made by any process of the store are sent, within about 0.1 s. Delivery is "
        "best effort: the store holds the truth.",
        scope=Scope.READ,
        responses={
            200: (Media("text/event-stream"), "The stream"),
            **_UNAVAILABLE,
        },
    ),
    ("GET", "/session"): Operation(
        "Who the caller is",
        description="The scope the caller's key (or session) has, and the CSRF token a "
        "signed-in page sends with each change. 401 when a key is needed.",
        responses={
            200: (SessionOut, "The caller"),
            401: (Error, "A key is needed"),
            **_UNAVAILABLE,  # asking whether any key exists reads the store
        },
        scope=None,
    ),
    ("POST", "/session"): Operation(
        "Sign in with an API key (the dashboard)",
        description="Sets an HttpOnly, SameSite=Strict session cookie holding the key "
        "(Secure over TLS), good for 12 hours or until the key is revoked. Requests it "
        "authenticates that change anything must send the answer's `csrf_token` as "
        "`X-CSRF-Token`.",
        body=SignIn,
        responses={
            200: (SessionOut, "Signed in"),
            400: (Error, "Invalid JSON"),
            401: (Error, "Not a valid key"),
            408: (Error, "The body did not arrive in time"),
            413: (Error, "Body over the size limit"),
            422: (Error, "Not a sign-in"),
            **_CROSS_SITE,
            **_UNAVAILABLE,
        },
        scope=None,
    ),
    ("DELETE", "/session"): Operation(
        "Sign out (forget the session cookie)",
        responses={204: (None, "Signed out"), **_CROSS_SITE},
        scope=None,
    ),
    ("GET", "/openapi.json"): Operation(
        "This document",
        responses={200: (Media("application/json", {"type": "object"}), "This document")},
        scope=None,
    ),
    ("GET", "/docs"): Operation(
        "Interactive API docs (Swagger UI)",
        responses={200: (Media("text/html"), "An HTML page")},
        scope=None,
    ),
    ("GET", "/docs/start.js"): Operation(
        "The docs page's start-up script",
        responses={200: (Media("text/javascript"), "JavaScript")},
        scope=None,
    ),
}
REF = "#/components/schemas/{name}"


def _operations(routes: Iterable[BaseRoute]) -> list[tuple[str, str, Operation]]:
    found = []
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue  # mounts (static files) and pages (the dashboard)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = OPERATIONS.get((method, route.path))
            if operation is None:
                raise LookupError(f"{method} {route.path} has no OpenAPI operation")
            found.append((method, route.path, operation))
    return found


def _answers(op: Operation) -> dict[int, Answer]:
    """What ``op`` may answer, with the refusals of a route that needs a key."""
    if op.scope is None:
        return op.responses
    forbidden = f"The key's scope is below {op.scope.name.lower()}"
    if op.scope is not Scope.READ:
        forbidden += ", or a signed-in page's change came without its X-CSRF-Token"
    if 403 in op.responses:
        forbidden = f"{op.responses[403][1]}; or: {forbidden[0].lower()}{forbidden[1:]}"
    return {
        **op.responses,
        401: (Error, "No valid API key (none is needed while none exists, on loopback)"),
        403: (Error, forbidden),
    }


SECURITY_SCHEMES = {
    "key": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`taskq keys create`): `Authorization: Bearer <key>`",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "taskq_session",
        "description": "The dashboard's session (`POST /session`)",
    },
}


def build(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes``."""
    operations = [
        (method, path, replace(op, responses=_answers(op)))
        for method, path, op in _operations(routes)
    ]
    types = {
        t
        for _, _, op in operations
        for t in [op.body, *(answer for answer, _ in op.responses.values())]
        if t is not None and not isinstance(t, Media)
    }
    refs, components = msgspec.json.schema_components(sorted(types, key=str), ref_template=REF)
    # what the types cannot say: a bulk action needs a filter (not empty) or all, not both
    components["FilterIn"]["minProperties"] = 1
    components["BulkRequest"]["oneOf"] = [
        {
            "required": ["filter"],
            "properties": {"filter": {"type": "object"}, "all": {"const": False}},
        },
        {"required": ["all"], "properties": {"filter": {"type": "null"}, "all": {"const": True}}},
    ]
    ref_of = dict(zip(sorted(types, key=str), refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op in operations:
        doc: dict[str, Any] = {"summary": op.summary, "responses": {}}
        description = op.description or ""
        if op.scope is not None:
            needs = f"Needs an API key of scope `{op.scope.name.lower()}` or above."
            description = f"{description}\n\n{needs}" if description else needs
            doc["security"] = [{"key": []}, {"session": []}]
        if description:
            doc["description"] = description
        if op.parameters:
            doc["parameters"] = op.parameters
        if op.body is not None:
            doc["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of[op.body]}},
            }
        for status, (answer, meaning) in sorted(op.responses.items()):
            response: dict[str, Any] = {"description": meaning}
            if isinstance(answer, Media):
                response["content"] = {answer.media_type: {"schema": answer.schema}}
            elif answer is not None:
                response["content"] = {"application/json": {"schema": ref_of[answer]}}
            if status in op.headers:
                response["headers"] = op.headers[status]
            doc["responses"][str(status)] = response
        paths.setdefault(path, {})[method.lower()] = doc
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "taskq",
            "version": __version__,
            "description": "Submit tasks; workers run them in the background; every task "
            "is stored.",
        },
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>taskq API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body></html>"""
# a file of its own, not inline: the pages' Content-Security-Policy runs no inline script
DOCS_SCRIPT = 'SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});\n'


async def openapi_json(request: Request) -> Response:
    spec: dict[str, Any] = request.app.state.openapi
    return json_response(spec)


async def docs(_: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)


async def docs_script(_: Request) -> Response:
    return Response(DOCS_SCRIPT, media_type="text/javascript")
