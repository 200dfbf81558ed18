"""The web dashboard: one page and its script and style, shipped inside the package (no CDN:
it works on closed networks). The page reads the same JSON API as everyone else."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = resources.files(__package__).joinpath("static")
#: the page may load only what jobq serves itself, and run no inline script
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def mount_dashboard(app: FastAPI) -> None:
    app.mount("/ui", StaticFiles(directory=str(STATIC)), name="dashboard")


def dashboard_page() -> HTMLResponse:
    return HTMLResponse(STATIC.joinpath("index.html").read_text("utf-8"), headers=SECURITY_HEADERS)
