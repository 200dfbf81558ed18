"""A schedule every second, for tests that run it in real processes
(``--app tests.apps.periodic:jq``)."""

from __future__ import annotations

from jobq import JobQueue

jq = JobQueue()  # only the handlers and schedules are used; the settings choose the database


@jq.job("heartbeat.second", schedule="* * * * * *", payload={"from": "schedule"})
async def heartbeat(payload: dict[str, object]) -> None:
    return None
