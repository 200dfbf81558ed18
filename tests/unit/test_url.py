"""Database URLs: which forms are accepted, and what the refusals say."""

from __future__ import annotations

import pytest

from jobq.store.url import DatabaseURL, parse_database_url


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
        ("postgresql://h/db", ["postgresql", "not available", "yet", "sqlite:///"]),
        ("postgres://u:p@h:5432/db", ["postgres", "not available", "yet"]),
        ("postgresql+psycopg://h/db", ["postgresql+psycopg", "not available", "yet"]),
        ("mysql://x", ["unknown database scheme", "'mysql'", "sqlite:///"]),
        ("http://example.com/db", ["unknown database scheme", "'http'"]),
    ],
)
def test_refused_urls(url: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011 - the words are checked below
        parse_database_url(url)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


def test_postgres_message_says_not_available_yet() -> None:
    with pytest.raises(ValueError, match=r"postgresql store is not available .*yet"):
        parse_database_url("postgresql://h/db")


def test_url_is_frozen_value() -> None:
    parsed = parse_database_url("sqlite:///a.db")
    assert parsed.scheme == "sqlite"
    assert parsed.path == "a.db"
    with pytest.raises(AttributeError):
        parsed.path = "b.db"  # type: ignore[misc]
