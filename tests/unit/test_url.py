"""Database URLs: which forms are accepted, and what the refusals say."""

from __future__ import annotations

import pytest

from jobq.store.url import DatabaseURL, parse_database_url, redact


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///rel.db", "rel.db"),
        ("sqlite:///jobq.db", "jobq.db"),
        ("sqlite:///data/sub/jobs.sqlite", "data/sub/jobs.sqlite"),
        ("sqlite:////abs/x.db", "/abs/x.db"),
        ("sqlite:////var/lib/jobq/jobq.db", "/var/lib/jobq/jobq.db"),
        ("sqlite:///rel.db?mode=ro", "rel.db"),
        ("sqlite:////abs/x.db?timeout=5&cache=shared", "/abs/x.db"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    assert parse_database_url(url) == DatabaseURL("sqlite", path)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("jobq.db", ["sqlite:///"]),
        ("", ["sqlite:///"]),
        ("/abs/jobq.db", ["sqlite:///"]),
        ("sqlite://relative.db", ["three slashes", "sqlite:///jobq.db"]),
        ("sqlite:/x.db", ["sqlite:///"]),
        ("sqlite:///", ["no file path", "sqlite:///jobq.db"]),
        ("sqlite:///?mode=ro", ["no file path"]),
        ("sqlite:///:memory:", ["in-memory", "name a file"]),
        ("sqlite:///:memory:?cache=shared", ["in-memory"]),
        ("sqlite:///file::memory:?cache=shared", ["in-memory"]),
        ("postgresql://", ["postgresql://user@host:5432/dbname"]),
        ("postgres://?sslmode=require", ["names at least a host or a database"]),
        ("mysql://x", ["unknown database scheme", "'mysql'", "sqlite:///", "postgresql://"]),
        ("http://example.com/db", ["unknown database scheme", "'http'"]),
    ],
)
def test_refused_urls(url: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011 - the words are checked below
        parse_database_url(url)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize(
    ("url", "conninfo"),
    [
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgres://u:p@h:5432/db", "postgresql://u:p@h:5432/db"),
        ("postgresql+psycopg://h/db?sslmode=require", "postgresql://h/db?sslmode=require"),
        ("postgresql:///db", "postgresql:///db"),  # a local socket
    ],
)
def test_postgres_urls_become_libpq_urls(url: str, conninfo: str) -> None:
    assert parse_database_url(url) == DatabaseURL("postgresql", conninfo)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:se:cr@et@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://h/db?user=u&password=s3cret", "postgresql://h/db?user=u&password=***"),
        (
            "postgresql://h/db?PASSWORD=s3&sslmode=require",
            "postgresql://h/db?PASSWORD=***&sslmode=require",
        ),
        ("postgresql://u:a@h?password=b", "postgresql://u:***@h?password=***"),
        ("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:pa?ss@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://h/db?user=u&application_name=a@b",
            "postgresql://h/db?user=u&application_name=a@b",
        ),
        ("postgresql://u:p@/x@h:5432/db", "postgresql://u:***@h:5432/db"),
        (
            "postgresql://h/db?sslpassword=k3y&sslmode=verify-full",
            "postgresql://h/db?sslpassword=***&sslmode=verify-full",
        ),
        ("sqlite:///jobq.db", "sqlite:///jobq.db"),
        ("not a url", "not a url"),
    ],
)
def test_redact_hides_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_url_is_frozen_value() -> None:
    parsed = parse_database_url("sqlite:///a.db")
    assert parsed.scheme == "sqlite"
    assert parsed.path == "a.db"
    with pytest.raises(AttributeError):
        parsed.path = "b.db"  # type: ignore[misc]
