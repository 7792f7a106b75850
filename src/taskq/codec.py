"""JSON encoding and decoding for stored payloads, results and errors (msgspec: fast, strict)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec

from taskq.task import AttemptError

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()
_errors_decoder = msgspec.json.Decoder(list[AttemptError])


class NotJSON(TypeError):
    """A value JSON cannot hold."""


def encode(value: Any) -> str:
    """JSON text for a value; raises NotJSON for anything JSON cannot hold."""
    try:
        return _encoder.encode(value).decode()
    except (TypeError, msgspec.EncodeError) as exc:
        raise NotJSON(f"not JSON-serialisable: {exc}") from exc


# \u0000 as an escape, not as the text after an escaped backslash ("\\u0000")
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def holds_nul(json_text: str) -> bool:
    """Whether JSON text encodes a NUL character somewhere (which PostgreSQL rejects)."""
    return "\\u0000" in json_text and _NUL_ESCAPE.search(json_text) is not None


def fingerprint(value: Any) -> str:
    """A stable digest of a JSON value (keys sorted), to tell two requests apart."""
    canonical = msgspec.json.encode(value, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def decode(text: str | bytes) -> Any:
    return _decoder.decode(text)


def decode_errors(text: str | bytes) -> list[AttemptError]:
    return _errors_decoder.decode(text)
