"""Huey's worker app in the peer benchmark (``huey_consumer huey_app.huey``): the store and
the tasks. Apart from ``driver_huey.py`` because Huey names a task after its module: a task
defined in a script run as ``__main__`` would be one the consumer does not know."""

from __future__ import annotations

import os
import time

from common import record
from huey import SqliteHuey

# fsync=True: synchronous=FULL, as jobq's SQLite store (Huey's default leaves SQLite's own,
# which depends on how SQLite was built)
huey = SqliteHuey(
    "bench", filename=os.environ.get("BENCH_HUEY_FILE", "huey.db"), results=False, fsync=True
)


@huey.task(name="noop")
def noop(n: int) -> None:
    record()


@huey.task(name="sleep10")
def sleep10(n: int) -> None:
    record()
    time.sleep(0.01)
