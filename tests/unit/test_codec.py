"""The JSON codec's checks."""

from __future__ import annotations

import pytest

from taskq import codec


@pytest.mark.parametrize(
    ("value", "has_nul"),
    [
        ("a\x00b", True),
        ({"k": ["x", "\x00"]}, True),
        ("\\\x00", True),
        ("\\u0000", False),  # a backslash, then the text u0000
        ("\\\\u0000", False),
        ("plain", False),
    ],
)
def test_holds_nul_tells_a_nul_from_its_spelling(value: object, has_nul: bool) -> None:
    assert codec.holds_nul(codec.encode(value)) is has_nul


def test_fingerprint_ignores_key_order() -> None:
    assert codec.fingerprint({"a": 1, "b": [1, 2]}) == codec.fingerprint({"b": [1, 2], "a": 1})
    assert codec.fingerprint({"a": 1}) != codec.fingerprint({"a": 2})


def test_encode_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(codec.NotJSON):
        codec.encode(object())
