"""``/openapi.json`` against the answers a real server on loopback gives, once tokens exist:
every status the layers around the routes answer (401 without a token, 403 for a write with a
token whose scope is too narrow, 405 for a method a path does not have, 303 from ``/`` to the
sign-in page) is in the document for that operation, and the document says how to
authenticate and how large a page may be. (schemathesis, tests/e2e/test_openapi_fuzz.py,
checks the routes' own answers against it, on a server without tokens.)"""

from __future__ import annotations

from typing import Any

import httpx

from jobq.api.limits import Limits
from jobq.domain.tokens import Scope, new_token
from jobq.jobqueue import JobQueue
from tests.helpers import live_server

LIMITS = Limits(max_page_size=120)
#: the methods that change something (a read token may not use them)
WRITES = ("POST", "PUT", "PATCH", "DELETE")


async def make_token(jq: JobQueue, scope: Scope) -> str:
    token, text = new_token(scope, scope.value, jq.clock.now())
    await jq.store.tokens.add(token)
    return text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_the_document_holds_every_answer_of_the_layers_around_the_routes(
    jq: JobQueue,
) -> None:
    read, admin = await make_token(jq, Scope.READ), await make_token(jq, Scope.ADMIN)
    job = await jq.enqueue("echo", {})
    async with (
        live_server(jq, limits=LIMITS) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as anyone,
        httpx.AsyncClient(base_url=url, timeout=10, headers=bearer(read)) as reader,
        httpx.AsyncClient(base_url=url, timeout=10, headers=bearer(admin)) as root,
    ):
        document = (await reader.get("/openapi.json")).json()
        scheme = document["components"]["securitySchemes"]["token"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        assert {"token": []} in document["security"]
        seen = 0
        for method, path, operation in operations(document):
            documented = set(operation["responses"])
            where = path.replace("{job_id}", job.id)
            body = {"json": {}} if method in WRITES else {}

            refused = await anyone.request(method, where, **body)
            if operation.get("security") == []:  # the probes
                assert refused.status_code == 200, (method, path, refused.text)
            else:
                assert refused.status_code == 401, (method, path, refused.text)
            assert str(refused.status_code) in documented, (method, path, refused.status_code)

            if method in WRITES:  # a read token may not write
                narrow = await reader.request(method, where, **body)
                assert narrow.status_code == 403, (method, path, narrow.text)
                assert "403" in documented, (method, path)

            has = {m for m, p, _ in operations(document) if p == path}
            absent = next(m for m in ("PATCH", "PUT", "DELETE", "POST", "GET") if m not in has)
            wrong = await root.request(absent, where)
            assert wrong.status_code == 405 and "405" in documented, (path, wrong.status_code)
            seen += 1
        assert seen >= 10

        browser = await anyone.get("/", headers={"Accept": "text/html"})
        assert browser.status_code == 303 and browser.headers["location"].startswith("/ui/login")
        assert "303" in document["paths"]["/"]["get"]["responses"]

        [limit] = [
            p for p in document["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "limit"
        ]
        assert limit["schema"]["maximum"] == LIMITS.max_page_size
        over = await reader.get("/jobs", params={"limit": LIMITS.max_page_size + 1})
        assert over.status_code == 422
        assert (
            await reader.get("/jobs", params={"limit": LIMITS.max_page_size})
        ).status_code == 200
