"""The dashboard's page of a workflow (``/ui/workflows/{id}``): its graph drawn on the server as
SVG, a box per job in the colour of its state, placed in columns by how deep it waits (a job one
column right of the last it waits for), lines from each job to those that wait for it; the page
refreshes itself in place like the others, so the boxes change colour as the jobs run. A
workflow of more than ``MOST_DRAWN`` jobs is listed, not drawn."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobq.api.ops import jobqueue_of
from jobq.dashboard.pages import forged, posted_form, render
from jobq.domain.errors import WorkflowNotFound
from jobq.domain.job import Job
from jobq.domain.workflows import WorkflowView
from jobq.wire import workflow_document

router = APIRouter(include_in_schema=False)

MOST_DRAWN = 400
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 150, 34, 60, 14, 10


@dataclass(frozen=True, slots=True)
class Box:
    job: Job
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Line:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True, slots=True)
class Drawing:
    boxes: list[Box]
    lines: list[Line]
    width: int
    height: int


def drawing(view: WorkflowView) -> Drawing | None:
    """The graph laid out in columns by depth; None when it has too many jobs to draw."""
    if len(view.jobs) > MOST_DRAWN:
        return None
    parents: dict[str, list[str]] = {}
    for parent, child in view.edges:
        parents.setdefault(child, []).append(parent)
    depth: dict[str, int] = {}

    def depth_of(job_id: str, seen: frozenset[str] = frozenset()) -> int:
        if job_id not in depth:
            above = [p for p in parents.get(job_id, []) if p not in seen]
            depth[job_id] = 1 + max((depth_of(p, seen | {job_id}) for p in above), default=-1)
        return depth[job_id]

    columns: dict[int, list[Job]] = {}
    for job in view.jobs:
        columns.setdefault(depth_of(job.id), []).append(job)
    where: dict[str, tuple[int, int]] = {}
    boxes = []
    for column, jobs in sorted(columns.items()):
        for row, job in enumerate(jobs):
            x, y = MARGIN + column * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y)
            where[job.id] = (x, y)
            boxes.append(Box(job, x, y))
    lines = [
        Line(where[p][0] + BOX_W, where[p][1] + BOX_H // 2, where[c][0], where[c][1] + BOX_H // 2)
        for p, c in view.edges
        if p in where and c in where
    ]
    width = MARGIN * 2 + (max(columns, default=0) + 1) * (BOX_W + GAP_X)
    height = MARGIN * 2 + max((len(j) for j in columns.values()), default=1) * (BOX_H + GAP_Y)
    return Drawing(boxes, lines, width, height)


@router.get("/ui/workflows/{workflow_id}", response_class=HTMLResponse)
async def workflow_page(request: Request, workflow_id: str) -> HTMLResponse:
    try:
        view = await jobqueue_of(request).workflows.get(workflow_id[:64])
    except WorkflowNotFound as exc:
        return render(request, "missing.html", 404, nav="jobs", message=str(exc))
    done = request.query_params.get("done")
    return render(
        request,
        "workflow.html",
        nav="jobs",
        view=view,
        document=workflow_document(view),
        drawing=drawing(view),
        notice="Workflow cancelled." if done == "cancelled" else None,
    )


@router.post("/ui/workflows/{workflow_id}/cancel")
async def cancel_action(request: Request, workflow_id: str) -> Response:
    refused = forged(request, await posted_form(request))
    if refused is not None:
        return refused
    try:
        await jobqueue_of(request).workflows.cancel(workflow_id[:64])
    except WorkflowNotFound as exc:
        return render(request, "missing.html", 404, nav="jobs", message=str(exc))
    return RedirectResponse(f"/ui/workflows/{workflow_id}?done=cancelled", status_code=303)
