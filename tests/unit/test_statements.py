"""SQL lives in the drivers' statement files, loaded by name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from taskq.drivers.statements import load, parse

SRC = Path(__file__).parents[2] / "src" / "taskq"
# "DELETE FROM", not "DELETE": that is also an HTTP method the API routes
SQL_START = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE\s+FROM|WITH|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE"
    r"|CREATE|ALTER|DROP|TRUNCATE|(LISTEN|NOTIFY) taskq)\b"
)


def test_a_file_is_named_statements_without_their_comments() -> None:
    text = "-- a header\n\n-- name: one\n-- what it does, 50% of it\nSELECT 1\n"
    text += "\n-- name: two\nCOMMIT\n"
    assert parse(text) == {"one": "SELECT 1", "two": "COMMIT"}


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n")


@pytest.mark.parametrize("package", ["taskq.drivers.sqlite", "taskq.drivers.postgres"])
def test_every_statement_file_loads(package: str) -> None:
    statements = load(package)
    assert {"claim", "get", "list", "counts"} <= set(statements)
    assert all(sql and not sql.startswith("--") for sql in statements.values())


def test_no_sql_text_outside_the_statement_files() -> None:
    """A string in the package's code that reads as a SQL statement is a drift."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and SQL_START.match(node.value):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value[:40]!r}")
    assert not found, "\n".join(found)
