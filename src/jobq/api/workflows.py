"""``/workflows``: jobs that wait for other jobs, submitted together by local reference, all or
nothing (``POST``, enqueue tokens); one read back with every job's state (``GET``); its
unfinished jobs cancelled (``POST .../cancel``, admin tokens)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from jobq.api.ops import jobqueue_of
from jobq.domain.workflows import MAX_WORKFLOW_JOBS
from jobq.flows import Step
from jobq.wire import ErrorBody, JobIn, JobOut, _Strict, workflow_document

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "an API token is needed (once any exists), or the one given is not valid"),
        (403, "the token's scope may not do this"),
        (404, "no workflow has that id"),
        (422, "a reference given twice or to no job, a cycle, or a bad job; `details` names each"),
        (503, "the store is unavailable; try again after Retry-After seconds"),
    )
}

PathWorkflow = Annotated[str, Path(description="the workflow's id", max_length=64)]
REF_PATTERN = r"^[A-Za-z0-9_.:#\-]{1,100}$"


class WorkflowJobIn(JobIn):
    """A job of a workflow: a job as ``POST /jobs`` takes it, named, and after others."""

    ref: str = Field(pattern=REF_PATTERN, description="its name in this workflow")
    after: list[str] = Field(
        default_factory=list,
        max_length=MAX_WORKFLOW_JOBS,
        description="the refs of the jobs of this workflow it waits for",
    )


class WorkflowIn(_Strict):
    name: str | None = Field(None, max_length=200, description="a name to know it by")
    jobs: list[WorkflowJobIn] = Field(min_length=1, max_length=MAX_WORKFLOW_JOBS)


class WorkflowOut(BaseModel):
    id: str
    name: str | None
    created_at: datetime
    status: str = Field(
        description="running while a job has not ended; then succeeded if every job did, "
        "else failed"
    )
    counts: dict[str, int] = Field(description="status -> its jobs")
    jobs: list[JobOut] = Field(description="by creation (a job comes after those it waits for)")
    edges: list[tuple[str, str]] = Field(description="(parent id, child id): who waits for whom")


class SubmittedOut(WorkflowOut):
    refs: dict[str, str] = Field(description="each ref -> its job's id")


@router.post(
    "/workflows",
    status_code=201,
    response_model=SubmittedOut,
    responses=ERRORS,
)
async def submit(body: WorkflowIn, request: Request) -> JSONResponse:
    """Store every job in one transaction, each ``waiting`` for the jobs its ``after`` names
    until they have succeeded; all or nothing: a reference given twice or to no job, a cycle,
    or a job that is not valid is 422 naming it (``jobs[3].after``), and nothing is stored."""
    jq = jobqueue_of(request)
    steps, refs, after = [], [], []
    for item in body.jobs:
        options: dict[str, Any] = dict(item.new_job_options())
        for taken in ("type", "payload", "on_dependency_failure"):
            options.pop(taken)
        steps.append(Step(item.type, item.payload, options, item.ref, item.on_dependency_failure))
        refs.append(item.ref)
        after.append(item.after)
    made = await jq.workflows.submit_steps(steps, refs, after, name=body.name, where="jobs")
    view = await jq.workflows.get(made.id)
    document = {**workflow_document(view), "refs": {r: j.id for r, j in made.jobs.items()}}
    return JSONResponse(SubmittedOut.model_validate(document).model_dump(mode="json"), 201)


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut, responses=ERRORS)
async def get_workflow(workflow_id: PathWorkflow, request: Request) -> WorkflowOut:
    """The workflow: every job with its state now, and who waits for whom."""
    view = await jobqueue_of(request).workflows.get(workflow_id)
    return WorkflowOut.model_validate(workflow_document(view))


class CancelledOut(WorkflowOut):
    cancelled: int = Field(description="jobs cancelled now")


@router.post("/workflows/{workflow_id}/cancel", response_model=CancelledOut, responses=ERRORS)
async def cancel_workflow(workflow_id: PathWorkflow, request: Request) -> CancelledOut:
    """Cancel every job of the workflow that has not ended: waiting and pending ones, and
    running ones (their runs are stopped, as ``POST /jobs/{id}/cancel`` stops them)."""
    jq = jobqueue_of(request)
    cancelled = await jq.workflows.cancel(workflow_id)
    view = await jq.workflows.get(workflow_id)
    return CancelledOut.model_validate({**workflow_document(view), "cancelled": cancelled})
