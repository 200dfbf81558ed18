"""The dashboard's Schedules page: every schedule, its expression in words, its next runs, its
last run and that run's job; pause and resume for admin tokens (read tokens see no buttons)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobq.api.ops import jobqueue_of
from jobq.dashboard.pages import forged, posted_form, render
from jobq.domain.errors import ScheduleNotFound
from jobq.domain.schedule import is_schedule_name

router = APIRouter(include_in_schema=False)


@router.get("/ui/schedules", response_class=HTMLResponse)
async def schedules_page(request: Request, done: str | None = None) -> Response:
    infos = await jobqueue_of(request).schedules.list()
    notice = {"paused": "Schedule paused.", "resumed": "Schedule resumed."}.get(done or "")
    return render(request, "schedules.html", nav="schedules", schedules=infos, notice=notice)


@router.post("/ui/schedules/{name}/{action}")
async def schedule_action(request: Request, name: str, action: str) -> Response:
    refused = forged(request, await posted_form(request))
    if refused is not None:
        return refused
    if action not in ("pause", "resume") or not is_schedule_name(name):
        return render(request, "missing.html", 404, nav="schedules", message="no such action")
    schedules = jobqueue_of(request).schedules
    try:
        await (schedules.pause(name) if action == "pause" else schedules.resume(name))
    except ScheduleNotFound as exc:
        return render(request, "missing.html", 404, nav="schedules", message=str(exc))
    done = "paused" if action == "pause" else "resumed"
    return RedirectResponse(f"/ui/schedules?done={done}", status_code=303)
