"""Time-sortable job ids (UUIDv7, RFC 9562), and the ids of worker pools and their workers.

A ``PoolId`` names one worker pool (one process's claims: the owner of a lease, the
``worker_id`` column of a job); a ``WorkerId`` names one worker inside it (``<pool>/w3``: who
ran an attempt)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import NewType

JobId = NewType("JobId", str)
PoolId = NewType("PoolId", str)
WorkerId = NewType("WorkerId", str)

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Random bits are read from the OS 4 KiB at a time (one read serves 400 ids): each read
# releases the GIL, and in a process whose store runs on a thread of its own (SQLite) the loop
# then waited up to the 5 ms switch interval to get it back, for every job id it made.
_RANDOM_CHUNK = 4096
_random = b""
_random_at = 0


def _forget_random() -> None:
    """In a forked child: its parent's unused random bytes are not its own to use."""
    global _random, _random_at
    _random, _random_at = b"", 0


os.register_at_fork(after_in_child=_forget_random)


def _random_int(size: int) -> int:
    """``size`` random bytes as an int (called under ``_lock``)."""
    global _random, _random_at
    if _random_at + size > len(_random):
        _random, _random_at = os.urandom(_RANDOM_CHUNK), 0
    start, _random_at = _random_at, _random_at + size
    return int.from_bytes(_random[start:_random_at])


def new_job_id() -> JobId:
    """Return a new UUIDv7 as its canonical string.

    Ids made in one process sort in creation order: within one millisecond a 12-bit counter
    (``rand_a`` in RFC 9562, method 1) rises, so the canonical strings compare like their times.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = _random_int(2) & 0x3FF  # leave room to count up
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        counter = _counter
        rand_b = _random_int(8) & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    hex_ = f"{value:032x}"  # the canonical form, as str(uuid.UUID(int=value)) gives it
    return JobId(f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}")


def parse_job_id(text: str) -> JobId:
    """Return ``text`` as a canonical job id, or raise ``ValueError`` if it is not a UUID."""
    return JobId(str(uuid.UUID(text)))


def new_pool_id() -> PoolId:
    """An id for one worker pool: host, process id and a random suffix (pids are reused)."""
    host = socket.gethostname().split(".")[0] or "host"
    return PoolId(f"{host}:{os.getpid()}:{os.urandom(3).hex()}")


def slot_id(pool: PoolId, index: int) -> WorkerId:
    """The id of worker ``index`` inside ``pool``: it names both in every log line."""
    return WorkerId(f"{pool}/w{index}")
