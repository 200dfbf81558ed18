"""The dashboard's pages and form actions. Values reach the HTML only through Jinja2 with
autoescaping; actions are same-origin form posts that redirect back (post/redirect/get)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from jobq.api.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    Authenticator,
    Principal,
    same,
    session_for,
)
from jobq.api.ops import jobqueue_of
from jobq.domain.errors import IllegalTransition, JobNotFound
from jobq.domain.ids import JobId
from jobq.domain.retention import describe_times
from jobq.domain.states import JobState
from jobq.domain.tokens import Scope
from jobq.insights import Overview, age
from jobq.store.records import JobFilter

STATIC = resources.files(__package__).joinpath("static")
TEMPLATES = resources.files(__package__).joinpath("templates")
PAGE_SIZE = 50
CHART_MINUTES = 60
STATES = [state.value for state in JobState]
#: the page may load only what jobq serves itself, and run no inline script or style
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make form posts say Origin: null
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
_env.filters["pretty"] = _pretty
_env.filters["age"] = age


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page, with what the signed-in token may do: a ``read`` token sees no actions."""
    principal: Principal | None = getattr(request.state, "principal", None)
    html = _env.get_template(name).render(
        states=STATES,
        principal=principal,
        can_admin=principal is None or principal.scope.allows(Scope.ADMIN),
        can_enqueue=principal is None or principal.scope.allows(Scope.ENQUEUE),
        csrf=principal.csrf if principal is not None and principal.csrf else "",
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


# -- overview ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    ok_y: float
    ok_height: float
    bad_y: float
    bad_height: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    peak: int
    step: float
    width: int = 720
    height: int = 160


def chart(view: Overview) -> Chart:
    """Bars for the overview's minutes: succeeded below, failed or lost stacked on top."""
    ok, bad = view.series()
    span = len(ok)
    peak = max([1, *(a + b for a, b in zip(ok, bad, strict=True))])
    width, height, pad = 720, 160, 20
    step = (width - 2 * pad) / span
    bars = []
    for index in range(span):
        ok_height = (height - 2 * pad) * ok[index] / peak
        bad_height = (height - 2 * pad) * bad[index] / peak
        bottom = height - pad
        ago = span - 1 - index
        bars.append(
            Bar(
                x=round(pad + index * step, 2),
                ok_y=round(bottom - ok_height, 2),
                ok_height=round(ok_height, 2),
                bad_y=round(bottom - ok_height - bad_height, 2),
                bad_height=round(bad_height, 2),
                label=f"{ago} min ago: {ok[index]} succeeded, {bad[index]} failed or lost",
            )
        )
    return Chart(bars=bars, peak=peak, step=round(step - 2, 2))


def _age(seconds: float | None) -> str:
    return "none waiting" if seconds is None else age(seconds)


#: what a page says after a limit's form it refused (``dashboard/limits``): by a fixed key, so
#: no text of the request is shown
LIMIT_ERRORS = {
    "limit": "The limit was not set: give a whole number of jobs at once (1 or more), a rate "
    "as N/PERIOD (10/s, 100/60s, 5000/1h), or both."
}
#: what the overview says after a queue's form (``dashboard/queues``, ``dashboard/limits``)
OVERVIEW_NOTICES = {
    "paused": "Queue paused.",
    "resumed": "Queue resumed.",
    "limited": "Limit set.",
    "unlimited": "Limit removed.",
}


async def overview_page(request: Request) -> HTMLResponse:
    done = request.query_params.get("done")  # after a queue's form
    jq = jobqueue_of(request)
    view, policy, differ = await asyncio.gather(
        jq.overview(minutes=CHART_MINUTES), jq.pruning.policy(), jq.warnings()
    )
    return render(
        request,
        "overview.html",
        nav="overview",
        notice=OVERVIEW_NOTICES.get(done or ""),
        error=LIMIT_ERRORS.get(request.query_params.get("error") or ""),
        paused={pause.queue: pause for pause in view.paused},
        limits=view.queue_limits(),
        totals=view.totals,
        counts=sorted(view.counts.items()),
        processes=view.processes,
        chart=chart(view),
        oldest=_age(view.oldest_waiting),
        waiting=view.waiting,
        warnings=[*view.warnings, *differ],
        retention=describe_times(policy.times),
        own_retention=sorted(
            (job_type, describe_times(times)) for job_type, times in policy.by_type.items()
        ),
    )


# -- jobs -------------------------------------------------------------------------------------


@router.get("/ui/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    status: str | None = None,
    queue: str | None = None,
    type: str | None = None,
    cursor: str | None = None,
    id: str | None = None,
) -> Response:
    if id:  # the search box
        return RedirectResponse(f"/ui/jobs/{id.strip()}", status_code=303)
    state = JobState(status) if status in STATES else None
    where = JobFilter(status=state, queue=queue or None, type=type or None)
    after = _job_id(cursor) if cursor else None
    page = await jobqueue_of(request).list_jobs(where, limit=PAGE_SIZE, after=after)
    filters = {"status": status or "", "queue": queue or "", "type": type or ""}
    older = urlencode({**{k: v for k, v in filters.items() if v}, "cursor": page.next_after or ""})
    return render(
        request,
        "jobs.html",
        nav="jobs",
        jobs=page.jobs,
        filters=filters,
        next_cursor=page.next_after,
        older_query=older,
    )


@router.get("/ui/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: str, done: str | None = None) -> Response:
    jq = jobqueue_of(request)
    key = _job_id(job_id)
    job = None if key is None else await jq.find(key)
    if job is None or key is None:
        return render(
            request, "missing.html", 404, nav="jobs", message=f"no job has the id {job_id}"
        )
    notice = {
        "cancelled": "Job cancelled.",
        "retried": "Job retried.",
        "enqueued": "Job enqueued.",
    }.get(done or "")
    return render(
        request,
        "job.html",
        nav="jobs",
        job=jq.visible(job),
        attempts=await jq.attempts(key),
        notice=notice,
    )


def _job_id(text: str) -> JobId | None:
    try:
        return JobId(str(uuid.UUID(text)))
    except ValueError:
        return None


# -- actions (form posts; cross-site ones never get here: see api/origin.py) -------------------


@router.post("/ui/jobs/{job_id}/{action}")
async def job_action(request: Request, job_id: str, action: str) -> Response:
    refused = forged(request, await posted_form(request))
    if refused is not None:
        return refused
    jq = jobqueue_of(request)
    key = _job_id(job_id)
    if key is None or action not in ("cancel", "retry"):
        return render(request, "missing.html", 404, nav="jobs", message="no such job or action")
    try:
        await (jq.cancel(key) if action == "cancel" else jq.retry(key))
    except JobNotFound as exc:
        return render(request, "missing.html", 404, nav="jobs", message=str(exc))
    except IllegalTransition:
        return RedirectResponse(f"/ui/jobs/{key}", status_code=303)  # the page shows its state
    done = "cancelled" if action == "cancel" else "retried"
    return RedirectResponse(f"/ui/jobs/{key}?done={done}", status_code=303)


@router.post("/ui/retry-dead")
async def retry_dead_action(request: Request) -> Response:
    form = await posted_form(request)
    refused = forged(request, form)
    if refused is not None:
        return refused
    type = (form.get("type") or [""])[0].strip()
    if not type or len(type) > 200:
        return render(
            request, "missing.html", 400, nav="jobs", message="the form names no job type"
        )
    count = await jobqueue_of(request).retry_dead(type)
    query = urlencode({"type": type, "retried": count})
    return RedirectResponse(f"/ui/jobs?{query}", status_code=303)


async def posted_form(request: Request) -> dict[str, list[str]]:
    return parse_qs((await request.body()).decode("utf-8", "replace"))


def forged(request: Request, form: dict[str, list[str]]) -> Response | None:
    """A form posted with the session cookie must carry the session's CSRF token (api/auth.py);
    None if it does, or if no session was used."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or principal.via != "session" or principal.csrf is None:
        return None
    sent = (form.get("csrf_token") or [""])[0]
    if same(sent, principal.csrf):
        return None
    return render(
        request,
        "missing.html",
        403,
        nav="jobs",
        message="this form did not come from this dashboard session; reload the page and try again",
    )


# -- signing in (only once API tokens exist: see api/auth.py) ---------------------------------


@router.get("/ui/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    if not await _authenticator(request).enabled():
        return RedirectResponse(_safe_next(next), status_code=303)  # no tokens: nothing to do
    return render(request, "login.html", nav="", next=_safe_next(next), error=None)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await posted_form(request)
    target = _safe_next((form.get("next") or ["/"])[0])
    token = await _authenticator(request).check((form.get("token") or [""])[0])
    if token is None:
        return render(
            request,
            "login.html",
            401,
            nav="",
            next=target,
            error="That is not an active jobq token.",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_for(_authenticator(request).session_key, token, time.time()),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def _safe_next(target: str) -> str:
    """Only a path on this server: never another site (an open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
