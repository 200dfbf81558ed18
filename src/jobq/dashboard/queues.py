"""The dashboard's queue controls: pause and resume, from the overview's Queues table, for
admin tokens (read tokens see no buttons)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from jobq.api.ops import jobqueue_of
from jobq.dashboard.pages import forged, posted_form, render
from jobq.names import check_name

router = APIRouter(include_in_schema=False)


@router.post("/ui/queues/{name}/{action}")
async def queue_action(request: Request, name: str, action: str) -> Response:
    refused = forged(request, await posted_form(request))
    if refused is not None:
        return refused
    try:
        check_name(name, what="queue")
    except ValueError:
        action = ""
    if action not in ("pause", "resume"):
        return render(request, "missing.html", 404, nav="overview", message="no such action")
    pauses = jobqueue_of(request).pauses
    await (pauses.pause(name) if action == "pause" else pauses.resume(name))
    done = "paused" if action == "pause" else "resumed"
    return RedirectResponse(f"/?done={done}", status_code=303)
