"""The SQLite version check and the translation of sqlite3 errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobq.domain.errors import StoreError, StoreFull, StoreUnavailable
from jobq.store.sqlite.connection import MIN_SQLITE, check_sqlite_version, translate


def test_old_sqlite_refused() -> None:
    with pytest.raises(StoreError) as info:
        check_sqlite_version((3, 34, 1))
    message = str(info.value)
    assert "3.35" in message
    assert "RETURNING" in message
    assert "3.34.1" in message
    assert type(info.value) is StoreError


@pytest.mark.parametrize("version", [(2, 99, 99), (3, 0, 0), (3, 34, 99)])
def test_older_versions_refused(version: tuple[int, int, int]) -> None:
    with pytest.raises(StoreError, match=".".join(map(str, version))):
        check_sqlite_version(version)


@pytest.mark.parametrize("version", [(3, 35, 0), (3, 35, 5), (3, 45, 1), (4, 0, 0)])
def test_new_enough_versions_pass(version: tuple[int, int, int]) -> None:
    check_sqlite_version(version)


def test_real_version_passes() -> None:
    assert sqlite3.sqlite_version_info >= MIN_SQLITE
    check_sqlite_version(sqlite3.sqlite_version_info)
    check_sqlite_version()


@pytest.mark.parametrize(
    "text",
    [
        "database is locked",
        "disk I/O error",
        "database or disk is full",
        "database table is locked",
    ],
)
def test_transient_errors_are_unavailable(text: str) -> None:
    result = translate(sqlite3.OperationalError(text))
    assert isinstance(result, StoreUnavailable)
    if "full" in text:  # a full disk says what to do about it (the API answers 507)
        assert isinstance(result, StoreFull)
        assert (
            str(result) == f"the disk holding the database is full (SQLite: {text}): free "
            "space on it; nothing was written"
        )
    else:
        assert not isinstance(result, StoreFull)
        assert str(result) == f"SQLite: {text}"


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.OperationalError("no such table: jobs"),
        sqlite3.OperationalError('near "SELEC": syntax error'),
        sqlite3.IntegrityError("UNIQUE constraint failed: jobs.idempotency_key"),
        sqlite3.DatabaseError("file is not a database"),
        sqlite3.IntegrityError("database is locked"),  # only OperationalError can pass
    ],
)
def test_other_errors_are_store_errors(exc: sqlite3.Error) -> None:
    result = translate(exc)
    assert type(result) is StoreError
    assert not isinstance(result, StoreUnavailable)
    assert str(result) == f"SQLite: {exc}"


def test_real_locked_error_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as info:
            other.execute("BEGIN IMMEDIATE")
        assert isinstance(translate(info.value), StoreUnavailable)
        holder.execute("ROLLBACK")
    finally:
        other.close()
        holder.close()
