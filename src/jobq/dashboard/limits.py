"""The dashboard's limits: the Types page (every job type, its waiting and running jobs, its
limits) and the forms that limit a type or a queue (on the Types page and in the overview's
Queues table) for admin tokens; read tokens see no forms."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobq.api.ops import jobqueue_of
from jobq.dashboard.pages import LIMIT_ERRORS, forged, posted_form, render
from jobq.domain.limits import Limit, LimitScope, Rate, parse_rate
from jobq.names import check_name

router = APIRouter(include_in_schema=False)

NOTICES = {"limited": "Limit set.", "unlimited": "Limit removed."}


@router.get("/ui/types", response_class=HTMLResponse)
async def types_page(request: Request) -> HTMLResponse:
    done = request.query_params.get("done")
    return render(
        request,
        "types.html",
        nav="types",
        types=await jobqueue_of(request).types(),
        notice=NOTICES.get(done or ""),
        error=LIMIT_ERRORS.get(request.query_params.get("error") or ""),
    )


@router.post("/ui/limits/{scope}/{name}/{action}")
async def limit_action(request: Request, scope: str, name: str, action: str) -> Response:
    form = await posted_form(request)
    refused = forged(request, form)
    if refused is not None:
        return refused
    try:
        kind = LimitScope(scope)
        check_name(name, what=scope)
    except ValueError:
        action = ""
    if action not in ("set", "clear"):
        return render(request, "missing.html", 404, nav="types", message="no such action")
    back = "/" if kind is LimitScope.QUEUE else "/ui/types"
    limits = jobqueue_of(request).limits
    if action == "clear":
        await limits.clear(kind, name)
        return RedirectResponse(f"{back}?done=unlimited", status_code=303)
    concurrency = (form.get("concurrency") or [""])[0].strip()
    rate = (form.get("rate") or [""])[0].strip()
    try:
        if not concurrency and not rate:
            raise ValueError("give a concurrency (a number) or a rate (N/PERIOD: 10/s)")
        count, per = parse_rate(rate) if rate else (0, 0.0)
        await limits.set(
            kind,
            name,
            concurrency=Limit(_whole(concurrency)) if concurrency else None,
            rate=Rate(count, per) if rate else None,
        )
    except ValueError:  # back to the page, which says what a limit may be; nothing changed
        return RedirectResponse(f"{back}?error=limit", status_code=303)
    return RedirectResponse(f"{back}?done=limited", status_code=303)


def _whole(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"a concurrency limit is a whole number, not {text!r}")
    return int(text)
