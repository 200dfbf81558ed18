"""``/workflows`` against a real server on loopback, on both stores: a workflow by local
reference, stored all or nothing, read back with its jobs and edges as they run, cancelled; a
cycle, a reference given twice or to no job, or a bad job is 422 naming it, and stores nothing;
``POST /jobs`` takes ``depends_on``; the scopes each route needs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jobq import JobQueue
from tests.apps.flows import app


@pytest.fixture
async def jq(store_url: str) -> AsyncIterator[JobQueue]:
    queue = app(store_url)
    async with queue:
        yield queue


def job(ref: str, job_type: str, *after: str, **fields: object) -> dict[str, object]:
    return {"ref": ref, "type": job_type, "after": list(after), **fields}


async def test_a_workflow_is_stored_read_back_as_it_runs_and_cancelled(
    jq: JobQueue, api: httpx.AsyncClient
) -> None:
    body = {
        "name": "numbers",
        "jobs": [
            job("one", "fetch", payload={"n": 1}),
            job("two", "square", "one", payload={"n": 2}),
            job("sum", "merge", "one", "two"),
        ],
    }
    made = await api.post("/workflows", json=body)
    assert made.status_code == 201, made.text
    workflow = made.json()
    assert workflow["name"] == "numbers" and workflow["status"] == "running"
    assert workflow["counts"] == {"pending": 1, "waiting": 2}
    ids = workflow["refs"]
    assert sorted(workflow["edges"]) == sorted(
        [[ids["one"], ids["two"]], [ids["one"], ids["sum"]], [ids["two"], ids["sum"]]]
    )
    assert {j["id"]: j["parents"] for j in workflow["jobs"]}[ids["sum"]] == 2
    await jq.run(until_idle=True)
    done = (await api.get(f"/workflows/{workflow['id']}")).json()
    assert done["status"] == "succeeded" and done["counts"] == {"succeeded": 3}
    [merged] = [j for j in done["jobs"] if j["id"] == ids["sum"]]
    assert merged["result"] == {"squares": [4], "fetched": [1], "seen": ["succeeded"] * 2}

    later = await api.post(
        "/workflows",
        json={"jobs": [job("a", "fetch", payload={"n": 1}, delay=3600), job("b", "merge", "a")]},
    )
    cancelled = await api.post(f"/workflows/{later.json()['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled"] == 2 and cancelled.json()["status"] == "failed"
    missing = await api.get("/workflows/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


#: (the jobs, the field each refusal must name)
BAD = [
    ([job("a", "fetch", "b", payload={"n": 1}), job("b", "fetch", "a", payload={"n": 1})], "after"),
    ([job("a", "fetch", "x", payload={"n": 1})], "jobs[0].after"),
    ([job("a", "fetch", payload={"n": 1}), job("a", "fetch", payload={"n": 1})], "jobs[1].ref"),
    ([job("a", "fetch", "a", payload={"n": 1})], "jobs[0].after"),
    ([job("a", "fetch", payload={"n": 1}), job("b", "square", "a", payload={"n": "x"})],
     "jobs['b'].payload.n"),
    ([job("a", "nope")], "jobs['a']"),
]  # fmt: skip


async def test_a_bad_workflow_is_422_naming_what_is_wrong_and_stores_nothing(
    jq: JobQueue, api: httpx.AsyncClient
) -> None:
    for jobs, field in BAD:
        refused = await api.post("/workflows", json={"jobs": jobs})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_workflow", error
        assert any(field in d["field"] for d in error["details"]), (field, error)
    cycle = await api.post("/workflows", json={"jobs": BAD[0][0]})
    assert "a cycle: 'a' -> 'b' -> 'a'" in cycle.json()["error"]["message"] or (
        "a cycle: 'b' -> 'a' -> 'b'" in cycle.json()["error"]["message"]
    )
    assert (await api.get("/jobs")).json()["jobs"] == []


async def test_post_jobs_takes_depends_on(jq: JobQueue, api: httpx.AsyncClient) -> None:
    first = (await api.post("/jobs", json={"type": "fetch", "payload": {"n": 3}})).json()
    second = await api.post("/jobs", json={"type": "merge", "depends_on": [first["id"]]})
    assert second.status_code == 201 and second.json()["status"] == "waiting"
    await jq.run(until_idle=True)
    assert (await api.get(f"/jobs/{second.json()['id']}")).json()["result"]["fetched"] == [3]
    bad = await api.post("/jobs", json={"type": "merge", "depends_on": ["x"]})
    assert bad.status_code == 422 and "is not a job id" in bad.json()["error"]["message"]
