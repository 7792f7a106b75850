"""How database URLs are read and shown."""

from __future__ import annotations

import pytest

from taskq.drivers import check_url, display_url, sqlite_path


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://taskq:s3cret@db.example:5432/q", "postgresql://taskq:***@db.example:5432/q"),
        (
            "postgresql://taskq:s3cret@db/q?sslmode=require",
            "postgresql://taskq:***@db/q?sslmode=require",
        ),
        ("postgresql://taskq@db/q", "postgresql://taskq@db/q"),
        (
            "postgresql://taskq@db/q?password=s3cret&sslmode=require",
            "postgresql://taskq@db/q?password=***&sslmode=require",
        ),
        ("postgresql://t:a@db/q?sslpassword=s3cret", "postgresql://t:***@db/q?sslpassword=***"),
        ("mysql://u:s3cret@db/q", "mysql://u:***@db/q"),
        ("./data/tasks.db", "./data/tasks.db"),
    ],
)
def test_a_database_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert display_url(url) == shown


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("./data/tasks.db", "./data/tasks.db"),
        ("sqlite:///rel.db", "rel.db"),
        ("sqlite:////abs/t.db", "/abs/t.db"),
    ],
)
def test_sqlite_paths_and_urls(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["mysql://x/y", "redis://h", "sqlite://rel.db", "http://x", ""])
def test_an_unsupported_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported database URL|no database"):
        check_url(url)
    with pytest.raises(ValueError, match=r"unsupported database URL|no database"):
        sqlite_path(url)
