"""Actions: the seed's demo actions and loading user modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from taskq.actions import Actions, ActionsError, Fail, action, demo_actions


@pytest.fixture
def demo() -> Actions:
    return Actions.load(demo_delay_ms=0)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("uppercase", {"text": "hello world"}, {"output": "HELLO WORLD"}),
        ("uppercase", {}, {"output": ""}),
        ("uppercase", {"text": None}, {"output": ""}),
        ("sum", {"numbers": [1, 2, 3]}, {"output": 6}),
        ("sum", {"numbers": [0.5, 1]}, {"output": 1.5}),
        ("sum", {}, {"output": 0}),
        ("anything-else", {"x": 1}, {"output": "processed"}),
    ],
)
async def test_demo_actions_match_the_seed(
    demo: Actions, name: str, data: dict[str, object], expected: object
) -> None:
    assert await demo.resolve(name).handler(data) == expected


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("sum", {"numbers": ["a", 1]}),
        ("sum", {"numbers": [True]}),
        ("sum", {"numbers": 5}),
        ("uppercase", {"text": 42}),
    ],
)
async def test_bad_demo_data_fails_without_retry(demo: Actions, name: str, data: object) -> None:
    with pytest.raises(Fail):
        await demo.resolve(name).handler(data)


def test_decorator_marks_without_registering_globally() -> None:
    @action("resize", max_attempts=5, timeout=30)
    def resize(data: dict[str, object]) -> None:
        return None

    assert resize({}) is None, "the function is returned unchanged"
    assert Actions.load(demo_delay_ms=0).resolve("resize").name == "*"


def test_user_modules_are_loaded_and_may_replace_a_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_actions.py").write_text(
        "import taskq\n"
        "@taskq.action('resize', max_attempts=5)\n"
        "def resize(data): return {'w': data['w'] // 2}\n"
        "@taskq.action('uppercase')\n"
        "async def shout(data): return data['text'].upper() + '!'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = Actions.load(["my_actions"], demo_delay_ms=0)
    assert loaded.names == ["resize", "sum", "uppercase"]
    assert loaded.resolve("resize").max_attempts == 5
    assert not loaded.resolve("resize").is_async
    assert loaded.resolve("uppercase").is_async
    sys.modules.pop("my_actions", None)


def test_a_module_that_cannot_load_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty_actions.py").write_text("x = 1\n")
    (tmp_path / "broken_actions.py").write_text("raise RuntimeError('oops')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ActionsError, match=r"has no @taskq\.action functions"):
        Actions.load(["empty_actions"])
    with pytest.raises(ActionsError, match=r"cannot import actions module 'broken_actions': oops"):
        Actions.load(["broken_actions"])
    with pytest.raises(ActionsError, match="cannot import actions module 'nope_not_here'"):
        Actions.load(["nope_not_here"])


@pytest.mark.parametrize(
    "bad", [{"name": ""}, {"name": "x" * 201}, {"name": "x", "max_attempts": 0}]
)
def test_decorator_refuses_bad_arguments(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must be|characters"):
        action(**bad)  # type: ignore[arg-type]


async def test_demo_delay_applies_to_every_demo_action() -> None:
    import time

    demo, fallback = demo_actions(0.05)
    for act in [*demo, fallback]:
        t0 = time.monotonic()
        await act.handler({})
        assert time.monotonic() - t0 >= 0.05
