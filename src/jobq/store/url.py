"""Database URLs, spelled as SQLAlchemy spells them."""

from __future__ import annotations

from dataclasses import dataclass

SQLITE_PREFIX = "sqlite:///"
_PLANNED = {"postgresql", "postgres", "postgresql+psycopg"}


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    scheme: str
    path: str  # for sqlite: the file path


def parse_database_url(url: str) -> DatabaseURL:
    """Parse ``url`` or raise ``ValueError`` saying what is allowed.

    ``sqlite:///relative.db`` names a file relative to the working directory and
    ``sqlite:////absolute/path.db`` an absolute one (the fourth slash starts the path).
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError("must look like sqlite:///path/to/jobq.db")
    if scheme == "sqlite":
        if not url.startswith(SQLITE_PREFIX):
            raise ValueError("a SQLite URL has three slashes then the path: sqlite:///jobq.db")
        path = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
        if not path:
            raise ValueError("the SQLite URL has no file path: use sqlite:///jobq.db")
        if path == ":memory:" or path.startswith("file::memory:"):
            raise ValueError("an in-memory database would lose every job; name a file")
        return DatabaseURL("sqlite", path)
    if scheme in _PLANNED:
        raise ValueError(
            f"the {scheme} store is not available in this version of jobq yet; use sqlite:///"
        )
    raise ValueError(f"unknown database scheme {scheme!r}; use sqlite:///path/to/jobq.db")
