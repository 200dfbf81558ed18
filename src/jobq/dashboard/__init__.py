"""The web dashboard: pages rendered on the server from the store (they work without
JavaScript), a small script that refreshes them in place every two seconds, and forms for the
actions. Every asset ships inside the package (no CDN: it works on closed networks)."""

from __future__ import annotations

from fastapi import FastAPI

from jobq.dashboard import limits, queues, schedules, types, workflows
from jobq.dashboard.pages import STATIC, router


def mount_dashboard(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    app.include_router(router)
    app.include_router(schedules.router)
    app.include_router(queues.router)
    app.include_router(limits.router)
    app.include_router(types.router)
    app.include_router(workflows.router)
    app.mount("/ui/static", StaticFiles(directory=str(STATIC)), name="dashboard-static")


__all__ = ["mount_dashboard"]
