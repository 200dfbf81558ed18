"""One SQLite connection owned by one thread, so the event loop never waits on SQLite.

Writes run under ``BEGIN IMMEDIATE``: the write lock is taken at the start, so a transaction
never fails half-way to upgrade a read lock, and the busy timeout covers the wait.

Group commit: writes that arrive while the thread is busy (most often: waiting for the disk to
confirm the last commit) are run together in the next transaction, each inside a savepoint of
its own, and committed once. Every caller still returns only after its write is on disk, and a
write that fails rolls back only its own savepoint. Under load, one fsync then covers many
acknowledgements instead of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from jobq.domain.errors import StoreError, StoreFull, StoreUnavailable

T = TypeVar("T")

#: writes committed together at most: bounds how long one transaction holds the write lock
MAX_GROUP = 500

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


def translate(exc: sqlite3.Error, what: str = "SQLite") -> StoreError:
    """``exc`` as jobq's error; ``what``: the message's start (what failed)."""
    message = f"{what}: {exc}"
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


@dataclass(slots=True)
class _Write:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


#: what one write came to: (True, its value) or (False, the exception to raise)
_Outcome = tuple[bool, Any]


def _settle(writes: list[_Write], outcomes: list[_Outcome]) -> None:
    for write, (ok, value) in zip(writes, outcomes, strict=True):
        if write.future.done():  # its caller was cancelled; the write stands all the same
            continue
        if ok:
            write.future.set_result(value)
        else:
            write.future.set_exception(value)


def _translated(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        error = translate(exc)
        error.__cause__ = exc
        return error
    return exc


class ThreadConnection:
    """A connection made, used and closed in one dedicated thread."""

    def __init__(self, path: str, *, name: str, busy_timeout: float, synchronous: str) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._queued: list[_Write] = []  # writes waiting for the next transaction
        self._flushing = False  # a drain of the queue is submitted or running
        #: run on the writer's connection at the end of each transaction, before it commits
        #: (what the transaction's changes set going: store/sqlite/dependencies.py)
        self.before_commit: Callable[[sqlite3.Connection], bool] | None = None
        #: run after a transaction for which ``before_commit`` said True has committed
        self.after_commit: Callable[[], None] | None = None

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

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self._connection()
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:  # a read that failed inside its own BEGIN
                    conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def _drain(self) -> None:
        """Commit queued writes, a group at a time, until none is left (on the thread)."""
        while True:
            with self._lock:
                group = self._queued[:MAX_GROUP]
                del self._queued[:MAX_GROUP]
                if not group:
                    self._flushing = False
                    return
            outcomes = self._commit_group(group)
            by_loop: dict[asyncio.AbstractEventLoop, tuple[list[_Write], list[_Outcome]]] = {}
            for write, outcome in zip(group, outcomes, strict=True):
                writes, results = by_loop.setdefault(write.loop, ([], []))
                writes.append(write)
                results.append(outcome)
            for loop, (writes, results) in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: no one waits
                    loop.call_soon_threadsafe(_settle, writes, results)

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        """Take the write lock, waiting for another process to let go of it.

        SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20... ms between tries, long beside
        a commit that holds the lock for a fraction of a millisecond; under contention between
        worker processes that sleep, not the disk, set the pace. So the lock is asked for
        without waiting and asked again after a short sleep, growing to at most 2 ms, until the
        busy timeout has passed.
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.0001
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() + delay > deadline:
                        raise
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.002)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")

    def _commit_group(self, group: list[_Write]) -> list[_Outcome]:
        """Run ``group`` in one transaction, each write in a savepoint when there are several."""
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connection()
            self._begin_immediate(conn)
            if len(group) == 1:
                outcomes: list[_Outcome] = [(True, group[0].fn(conn))]
            else:
                outcomes = []
                for write in group:
                    conn.execute("SAVEPOINT jobq_write")
                    try:
                        value = write.fn(conn)
                    except BaseException as exc:
                        if not conn.in_transaction:  # SQLite rolled back the whole group
                            raise
                        conn.execute("ROLLBACK TO jobq_write")
                        conn.execute("RELEASE jobq_write")
                        outcomes.append((False, _translated(exc)))
                    else:
                        conn.execute("RELEASE jobq_write")
                        outcomes.append((True, value))
            news = self.before_commit is not None and self.before_commit(conn)
            conn.execute("COMMIT")
            if news and self.after_commit is not None:
                with contextlib.suppress(Exception):  # a wake-up missed: the watcher's look
                    self.after_commit()
            return outcomes
        except BaseException as exc:  # nothing of the group is written
            if conn is not None and conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = _translated(exc)
            return [(False, error)] * len(group)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a ``BEGIN IMMEDIATE`` transaction (perhaps with other writes, in a
        savepoint of its own), committed before this returns."""
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._queued.append(_Write(fn, future, loop))
            start = not self._flushing
            self._flushing = True
        if start:
            self._executor.submit(self._drain)
        return await future

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"the store at {self._path} is closed")

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
