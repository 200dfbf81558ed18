"""The HTTP API."""

from __future__ import annotations

from jobq.api.app import create_app

__all__ = ["create_app"]
