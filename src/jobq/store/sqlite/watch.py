"""Noticing other processes' commits to a SQLite database, which has no notifications.

A thread of its own reads ``PRAGMA data_version`` every few milliseconds on a connection of its
own: the number changes whenever another connection commits, and reading it touches only the
WAL's shared-memory index, never the disk. Only a change crosses over to the event loop, so an
idle pool costs next to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable

import structlog
from structlog.typing import FilteringBoundLogger

from jobq.store.ports import RUN_CANCELLED
from jobq.store.sqlite.doorbell import Doorbell

logger: FilteringBoundLogger = structlog.get_logger("jobq.store")

#: seconds to wait before looking again after the database could not be read
RETRY = 1.0
#: seconds between two looks for commits by other processes
WATCH_INTERVAL = 0.005


class SQLiteListener:
    def __init__(self, path: str, *, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(None)`` soon after any other connection commits to the database (another
        process enqueued, say), until cancelled: at once when an enqueue rings the doorbell
        (``doorbell.py``), and at the latest when a ``CommitWatcher`` thread, looking every
        ``WATCH_INTERVAL`` seconds, sees the commit. Logs ``listen_started`` once it watches:
        from then on, no commit goes unnoticed."""
        loop = asyncio.get_running_loop()

        def changed() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed as the thread saw it
                loop.call_soon_threadsafe(wake, None)

        doorbell = Doorbell(self._path)
        # an enqueue elsewhere rings at once; so does a cancel of a running job
        unheard = doorbell.open(lambda: wake(None), lambda: wake(RUN_CANCELLED))

        def watching() -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(
                    lambda: logger.info(
                        "listen_started",
                        watch_interval=WATCH_INTERVAL,
                        doorbell=unheard is None,
                        **({"doorbell_unheard": unheard} if unheard else {}),
                    )
                )

        watcher = CommitWatcher(
            self._path,
            interval=WATCH_INTERVAL,
            busy_timeout=self._busy_timeout,
            changed=changed,
            watching=watching,
        )
        watcher.start()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            doorbell.close()
            await asyncio.to_thread(watcher.stop)


class CommitWatcher:
    def __init__(
        self,
        path: str,
        *,
        interval: float,
        busy_timeout: float,
        changed: Callable[[], None],
        watching: Callable[[], None] | None = None,
    ) -> None:
        self._path = path
        self._interval = interval
        self._busy_timeout = busy_timeout
        self._changed = changed
        self._watching = watching
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobq-sqlite-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread (it wakes within one interval)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        seen: int | None = None
        try:
            while not self._stop.wait(self._interval):
                try:
                    if conn is None:
                        conn = sqlite3.connect(self._path, timeout=self._busy_timeout)
                    version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                except sqlite3.Error:  # busy, or the disk failed: pools still poll meanwhile
                    seen = None
                    self._stop.wait(RETRY)
                    continue
                if seen is None and self._watching is not None:
                    self._watching()  # the first look: every later commit changes the number
                    self._watching = None
                elif seen is not None and version != seen:
                    self._changed()
                seen = version
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
