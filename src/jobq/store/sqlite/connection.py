"""One SQLite connection owned by one thread, so the event loop never waits on SQLite.

Writes run under ``BEGIN IMMEDIATE``: the write lock is taken at the start, so a transaction
never fails half-way to upgrade a read lock, and the busy timeout covers the wait.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from jobq.domain.errors import StoreError, StoreFull, StoreUnavailable

T = TypeVar("T")

MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING

# Errors that pass: the database is busy, locked, full, or its disk failed. The caller may
# try again later; the API answers 503 (507 for a full disk) rather than 500. SQLite's result
# code decides; the message is read only when an error carries no code.
_TRANSIENT_CODES = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
)
_TRANSIENT_MESSAGES = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "database or disk is full",
    "unable to open database file",
)


def check_sqlite_version(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> None:
    if version < MIN_SQLITE:
        have = ".".join(map(str, version))
        raise StoreError(
            f"jobq needs SQLite 3.35 or newer (for UPDATE ... RETURNING); this Python uses "
            f"SQLite {have}. Install a newer Python, or a Python linked to a newer SQLite."
        )


def _is_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorname", None)
    if code is not None:
        return bool(code == "SQLITE_FULL")
    return "disk is full" in str(exc).lower()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorname", None)
    if code is not None:
        return bool(code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")))
    return "locked" in str(exc).lower()


def translate(exc: sqlite3.Error) -> StoreError:
    message = f"SQLite: {exc}"
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorname", None)
        if _is_full(exc):
            return StoreFull(
                f"the disk holding the database is full ({message}): free space on it; "
                "nothing was written"
            )
        if code is not None:
            transient = code.startswith(_TRANSIENT_CODES)
        else:
            transient = any(text in str(exc).lower() for text in _TRANSIENT_MESSAGES)
        if transient:
            return StoreUnavailable(message)
    return StoreError(message)


class ThreadConnection:
    """A connection made, used and closed in one dedicated thread."""

    def __init__(self, path: str, *, name: str, busy_timeout: float, synchronous: str) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,  # we issue BEGIN and COMMIT ourselves
            check_same_thread=False,  # closed from the same thread, but by a helper frame
            cached_statements=256,
        )
        self._use_wal(conn)
        # FULL: a commit is on disk when COMMIT returns, so an accepted job survives power loss.
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the database to WAL (once per file; it persists).

        The switch needs an exclusive lock, and SQLite may answer BUSY for it without waiting
        on the busy timeout when several processes open a new file at once, so it is retried
        here for as long as the busy timeout allows.
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.002
        while True:
            try:
                mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        if mode != "wal":
            raise StoreError(
                f"SQLite kept {self._path} in {mode!r} journal mode instead of WAL (a network "
                "or read-only filesystem?); jobq needs WAL: put the database on a local disk"
            )

    def _call(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            if not write:
                try:
                    return fn(conn)
                finally:
                    if conn.in_transaction:  # a read that failed inside its own BEGIN
                        conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._submit(fn, write=False)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction, committed before this returns."""
        return await self._submit(fn, write=True)

    async def _submit(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        if self._closed:
            raise StoreUnavailable(f"the store at {self._path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn, write)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)
