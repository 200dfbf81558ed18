"""Two services' handlers for a mixed fleet (``--app tests.apps.mixed:mail`` and
``--app tests.apps.mixed:video``): each process runs only its own service's job types, on the
same queue, and records where each job ran in the ledger (``tests/apps/ledger.py``)."""

from __future__ import annotations

from typing import Any

from jobq import JobContext, JobQueue
from tests.apps.ledger import record

mail = JobQueue(builtins=False)
video = JobQueue(builtins=False)


@mail.job("mail.send")
async def send(payload: dict[str, Any], ctx: JobContext) -> str:
    record("start", ctx, type="mail.send")
    return "sent"


@video.job("video.encode")
async def encode(payload: dict[str, Any], ctx: JobContext) -> str:
    record("start", ctx, type="video.encode")
    return "encoded"
