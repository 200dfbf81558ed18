"""A doorbell for SQLite, which has no notifications: an enqueue rings every listening process
of the database at once, instead of each noticing the commit at its next look.

Each listening process binds a Unix datagram socket in ``<database>-wake/``; an enqueue that
commits a job due now sends one byte to every socket there. The commit watcher (``watch.py``)
still looks every 5 ms: the doorbell makes a wake-up immediate where it can ring (processes on
one machine that share the directory's file system), the watcher makes sure none is missed
where it cannot (another machine or container, a path too long for a socket, no permission).
A process that died leaves its socket behind; the next ring finds nobody there and removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable

#: a socket's path must fit ``sun_path`` (108 bytes with its NUL on Linux, 104 elsewhere)
MAX_SOCKET_PATH = 100
RING = b"!"
#: the ring of a cancel: a running job was cancelled, and its pool is to stop the run
CANCEL_RING = b"cancel"


def wake_directory(database_path: str) -> str:
    return f"{database_path}-wake"


class Doorbell:
    """The listening side: one socket of this process, read on the event loop."""

    def __init__(self, database_path: str) -> None:
        self._directory = wake_directory(database_path)
        self._path: str | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(
        self, ringing: Callable[[], None], cancelled: Callable[[], None] | None = None
    ) -> str | None:
        """Listen; ``ringing()`` for every ring, and ``cancelled()`` as well when one was a
        cancel's. None if it can listen here, else why not (the caller still polls)."""
        path = os.path.join(self._directory, f"{os.getpid()}-{secrets.token_hex(4)}")
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            return f"the socket path would be longer than {MAX_SOCKET_PATH} bytes: {path}"
        try:
            sock = self._bind(path)
        except FileNotFoundError:  # the last listener removed the directory just now
            try:
                sock = self._bind(path)
            except OSError as exc:
                return f"cannot listen in {self._directory}: {exc.strerror or exc}"
        except OSError as exc:
            return f"cannot listen in {self._directory}: {exc.strerror or exc}"
        self._sock, self._path = sock, path
        self._loop = asyncio.get_running_loop()

        def heard() -> None:
            cancel = False
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while message := sock.recv(64):  # every ring waiting: one wake-up does for all
                    cancel = cancel or message == CANCEL_RING
            ringing()
            if cancel and cancelled is not None:
                cancelled()

        self._loop.add_reader(sock.fileno(), heard)
        return None

    def _bind(self, path: str) -> socket.socket:
        os.makedirs(self._directory, mode=0o700, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(path)
        except OSError:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)
        with contextlib.suppress(OSError):  # the last one out leaves no directory behind
            os.rmdir(self._directory)


class Ringer:
    """The enqueuing side: rings every socket in the database's wake directory.

    The directory's listing is kept while the directory is unchanged (a ``stat`` per ring
    instead of a read of the directory): a socket bound or removed changes its modification
    time. A listing made within ``RECENT`` seconds of the directory's last change is not kept
    (the directory is read again at the next ring), because two changes within one tick of the
    file system's clock leave the same time."""

    #: a directory modified this recently (seconds) is listed again at each ring
    RECENT = 1.0

    def __init__(self, database_path: str) -> None:
        self._directory = wake_directory(database_path)
        self._sock: socket.socket | None = None
        self._seen: tuple[int, int, int] | None = None  # the listed directory's ino, mtime, ctime
        self._paths: list[str] = []

    def _listeners(self) -> list[str]:
        try:
            st = os.stat(self._directory)
        except OSError:  # nobody listens here (yet), or may not be told
            self._seen = None
            return []
        seen = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        if seen != self._seen:
            try:
                self._paths = [entry.path for entry in os.scandir(self._directory)]
            except OSError:
                self._seen = None
                return []
            # A listing made while the directory is recent is not kept: a socket bound after
            # it, in the same tick, leaves the directory's times as they are.
            recent = time.time_ns() - st.st_mtime_ns < self.RECENT * 1e9
            self._seen = None if recent else seen
        return self._paths

    def ring(self, message: bytes = RING) -> None:
        paths = self._listeners()
        if not paths:
            return
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        for path in paths:
            try:
                self._sock.sendto(message, path)
            except BlockingIOError:
                pass  # its queue is full of rings it has not read yet: it will wake
            except ConnectionRefusedError:  # bound by a process that is gone
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except FileNotFoundError:  # removed since the listing: list it again next time
                self._seen = None
            except OSError:
                pass  # not a socket, or not ours to ring: the watcher covers it

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
