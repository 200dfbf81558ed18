"""W6's ceiling: FastAPI's own limit on this machine. ``POST /jobs`` takes the body jobq's API
takes, validated by the same model (``jobq.wire.JobIn``), and answers 201 with a job of the
same shape as jobq's answer, but stores nothing. Run by uvicorn as its command line runs an
app (``python -m uvicorn bench.bare_api:app``: uvicorn's defaults, no access log), one process,
as ``jobq serve`` is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from jobq.wire import JobIn

app = FastAPI()


@app.post("/jobs", status_code=201)
async def post_job(job: JobIn) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "id": str(uuid.uuid4()),
        "type": job.type,
        "queue": job.queue,
        "payload": job.payload,
        "status": "pending",
        "priority": job.priority,
        "attempt": 0,
        "max_attempts": job.max_attempts or 3,
        "created_at": now,
        "updated_at": now,
        "run_at": now,
    }
