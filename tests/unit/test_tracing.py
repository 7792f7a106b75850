"""The tracing seam: when tracing is asked for, and what the no-op default does."""

from __future__ import annotations

import pytest

from taskq.config import Settings
from taskq.task import NewTask, Task
from taskq.tracing import NO_TRACING, is_wanted, trace_id


@pytest.fixture(autouse=True)
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "flag", "wanted"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, False, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, False, True),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"},
            True,
            False,
        ),
        ({"OTEL_SERVICE_NAME": "shop"}, False, False),
    ],
)
def test_tracing_is_on_when_the_flag_or_the_standard_environment_asks(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], flag: bool, wanted: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_wanted(Settings(otel=flag)) is wanted


def test_untraced_hooks_change_nothing() -> None:
    assert not NO_TRACING.is_enabled
    tasks = [NewTask(action="a")]
    with NO_TRACING.sending(tasks, {"traceparent": "00-ab-cd-01"}) as sending:
        assert sending.tasks is tasks
        sending.stored([])
    task = Task(id="x", action="a", payload={}, status="queued")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="passes through"), NO_TRACING.processing(task):
        raise ValueError("passes through")


def test_trace_id_is_read_from_the_stored_traceparent() -> None:
    stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\nvendor=x"
    assert trace_id(stored) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id(None) is None
    assert trace_id("ff-unknown-version") is None
