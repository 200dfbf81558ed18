"""A handler that answers which web framework modules its process has loaded
(``--app tests.apps.web_modules:jq``): a worker alone must have loaded none."""

from __future__ import annotations

import sys
from typing import Any

from jobq import JobContext, JobQueue

WEB = ("fastapi", "starlette", "uvicorn")

jq = JobQueue()  # only the handler is used; the process's settings choose the database


@jq.job("web.modules")
async def web_modules(payload: dict[str, Any], ctx: JobContext) -> list[str]:
    return sorted(module for module in WEB if module in sys.modules)
