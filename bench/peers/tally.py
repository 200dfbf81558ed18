"""The one way every queue in the peer benchmark reports a job: its handler writes the
wall-clock time it started, 8 bytes, to a pipe the benchmark gave the worker process.

The benchmark makes the pipe (``Tally``), passes the write end to the worker processes (its
number in ``BENCH_TALLY_FD``) and reads the records as they come: when each arrived, and what
each says. Writes of 8 bytes to a pipe are atomic, so records of many workers never mix. The
cost to a handler is one ``os.write``, the same for jobq and for each peer.

The drivers (``driver_*.py``) run in the peers' own virtual environments and cannot import
this module: their handlers do the same three lines (``record``), and the latency client reads
with ``read_record``.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FD_VARIABLE = "BENCH_TALLY_FD"
RECORD = struct.Struct("<d")


@dataclass
class Arrival:
    at: float  # time.monotonic() in the benchmark when the record was read
    started: float  # time.time() in the handler


@dataclass
class Tally:
    """A pipe whose write end the worker processes inherit; ``collect`` counts records."""

    read_fd: int = -1
    write_fd: int = -1
    arrivals: list[Arrival] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_inheritable(self.write_fd, True)

    def env(self) -> dict[str, str]:
        return {FD_VARIABLE: str(self.write_fd)}

    def started_writers(self) -> None:
        """The worker processes have the write end: close ours, so the pipe ends (and
        ``collect`` says so) once every one of them has exited."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def collect(
        self, count: int, timeout: float, alive: Callable[[], bool] = lambda: True
    ) -> list[Arrival]:
        """Read ``count`` records (more may follow); ``TimeoutError`` if they do not come,
        ``RuntimeError`` once ``alive()`` says the writers are gone."""
        done = threading.Event()
        failure: list[BaseException] = []

        def read() -> None:
            buffer = b""
            try:
                while len(self.arrivals) < count:
                    chunk = os.read(self.read_fd, 65536)
                    if not chunk:
                        raise EOFError("every worker process closed the tally pipe")
                    now = time.monotonic()
                    buffer += chunk
                    whole = len(buffer) - len(buffer) % RECORD.size
                    for offset in range(0, whole, RECORD.size):
                        (started,) = RECORD.unpack_from(buffer, offset)
                        self.arrivals.append(Arrival(now, started))
                    buffer = buffer[whole:]
            except BaseException as exc:  # handed to the caller
                failure.append(exc)
            finally:
                done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        while not done.wait(0.2):
            if not alive():
                raise RuntimeError(f"the worker processes ended after {len(self.arrivals)} jobs")
            if time.monotonic() > deadline:
                got = len(self.arrivals)
                raise TimeoutError(f"{got} of {count} jobs reported in {timeout:g} s")
        if failure:
            raise failure[0]
        return self.arrivals[:count]

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read_fd = self.write_fd = -1
