"""SQL kept as SQL: each dialect's statements live in a ``.sql`` file, one per name.

A file is a sequence of blocks, each opened by a line ``-- name: <name>``; the comment lines
right under it say what the statement does for the reader, and are left out of the text
sent to the database (a driver's placeholder syntax, ``%(name)s``, would otherwise count
in them too). ``{braces}`` are filled by the driver: the task columns, a list of
placeholder rows as long as a batch, or another named fragment.
"""

from __future__ import annotations

import re
from importlib.resources import files

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """The named statements in the text of a ``.sql`` file."""
    parts = _NAME.split(text)
    statements: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in statements:
            raise ValueError(f"statement {name!r} is defined twice")
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        statements[name] = "\n".join(lines).strip()
    return statements


def load(package: str, filename: str = "statements.sql") -> dict[str, str]:
    """The named statements of ``filename`` in ``package`` (shipped inside the wheel)."""
    return parse(files(package).joinpath(filename).read_text(encoding="utf-8"))
