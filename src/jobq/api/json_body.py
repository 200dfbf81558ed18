"""Routes that take a JSON body: a body of another media type is refused (415) before FastAPI
reads or validates it.

The check wraps the route's handler instead of being a FastAPI dependency: FastAPI resolves
each dependency of each request through its general machinery, which on ``POST /jobs`` cost
about as much as the check of the body itself."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from jobq.api.errors import UnsupportedMediaType


def is_json_media(content_type: str) -> bool:
    """``application/json``, or a ``+json`` type; parameters (``; charset=...``) aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class JsonBodyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def json_only(request: Request) -> Response:
            if not is_json_media(request.headers.get("content-type", "")):
                raise UnsupportedMediaType()
            return await handler(request)

        return json_only


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def json_route(
    router: APIRouter, method: str, path: str, **options: Any
) -> Callable[[Endpoint], Endpoint]:
    """``@router.<method>(path, ...)`` for a route that takes a JSON body."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path, endpoint, methods=[method], route_class_override=JsonBodyRoute, **options
        )
        return endpoint

    return register
