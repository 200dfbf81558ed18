"""Database URLs, spelled as SQLAlchemy spells them."""

from __future__ import annotations

import re
from dataclasses import dataclass

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    scheme: str
    #: sqlite: the file path; postgresql: the libpq connection URL (``postgresql://...``)
    path: str


def parse_database_url(url: str) -> DatabaseURL:
    """Parse ``url`` or raise ``ValueError`` saying what is allowed.

    ``sqlite:///relative.db`` names a file relative to the working directory and
    ``sqlite:////absolute/path.db`` an absolute one (the fourth slash starts the path).
    ``postgresql://user:password@host:5432/dbname?options=-csearch_path%3Dname`` (also spelled
    ``postgres://`` or ``postgresql+psycopg://``) is passed to libpq as it is.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError(
            "must look like sqlite:///path/to/jobq.db or postgresql://user@host:5432/dbname"
        )
    if scheme == "sqlite":
        if not url.startswith(SQLITE_PREFIX):
            raise ValueError("a SQLite URL has three slashes then the path: sqlite:///jobq.db")
        path = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
        if not path:
            raise ValueError("the SQLite URL has no file path: use sqlite:///jobq.db")
        if path == ":memory:" or path.startswith("file::memory:"):
            raise ValueError("an in-memory database would lose every job; name a file")
        return DatabaseURL("sqlite", path)
    if scheme in POSTGRES_SCHEMES:
        rest = url.partition("://")[2]
        if not rest or rest.startswith("?"):
            raise ValueError(
                "a PostgreSQL URL names at least a host or a database: "
                "postgresql://user@host:5432/dbname"
            )
        return DatabaseURL("postgresql", f"postgresql://{rest}")
    raise ValueError(
        f"unknown database scheme {scheme!r}; use sqlite:///path/to/jobq.db or "
        f"postgresql://user@host:5432/dbname"
    )


_QUERY_PASSWORD = re.compile(r"(?i)((?:^|&)(?:ssl)?password=)[^&#]*")


def redact(url: str) -> str:
    """``url`` with any password (``user:password@``, ``?password=``, ``?sslpassword=``)
    replaced by ``***``, for logs and error messages. The user part ends at the last ``@``
    that has ``user:`` before it and no query (``=``), so a password holding ``/``, ``?`` or
    ``@`` is hidden whole."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    while at != -1 and "=" in rest[:at]:
        at = rest.rfind("@", 0, at)
    if at != -1 and ":" in rest[:at]:
        rest = f"{rest[:at].split(':', 1)[0]}:***{rest[at:]}"
    head, question, query = rest.partition("?")
    query = _QUERY_PASSWORD.sub(r"\g<1>***", query)
    return f"{scheme}://{head}{question}{query}"
