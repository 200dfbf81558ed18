"""Typed jobs in one process, on both stores: the payload is held to its type's schema at every
way in (Python, ``POST /jobs``, ``/jobs/batch``), refused with every bad field named and nothing
stored, stored with its defaults filled in; the handler receives the validated model; a typed
call enqueues with a model and reads the result as the handler's return type; a result that
does not fit fails the attempt as ``InvalidResult``; a payload stored before its schema said
otherwise makes the job dead as ``InvalidPayload``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from jobq import Backoff, JobQueue, JobState, NonRetryableError
from jobq.domain.errors import InvalidJob, JobFailed
from jobq.domain.ids import PoolId
from jobq.domain.job import NewJob, ProcessInfo
from jobq.domain.published import TypeSpec
from jobq.store import PostgresOptions
from tests.apps import typed


class Out(BaseModel):
    n: int


@pytest.fixture
async def jq(store_url: str) -> AsyncIterator[JobQueue]:
    queue = JobQueue(store_url, registry=typed.jq.registry, postgres=PostgresOptions(pool_size=4))
    async with queue:
        yield queue


async def stored(jq: JobQueue) -> int:
    return len((await jq.list_jobs(limit=100)).jobs)


async def test_python_refuses_a_payload_that_does_not_fit_naming_each_field(jq: JobQueue) -> None:
    with pytest.raises(InvalidJob) as refused:
        await jq.enqueue("order.place", {"customer": ["x"], "items": [{"quantity": "many"}]})
    assert {(p.field, p.message) for p in refused.value.problems} == {
        ("payload.customer", "must be a string, not an array"),
        ("payload.items[0].sku", "is required"),
        ("payload.items[0].quantity", "must be an integer, not a string"),
    }
    assert "payload.customer: must be a string" in str(refused.value)
    with pytest.raises(InvalidJob, match=r"payload.name: must have at least 1 characters"):
        await jq.enqueue("greet", {"name": ""})
    with pytest.raises(InvalidJob, match=r"payload.count: is required"):
        await jq.enqueue("net.ping", {"host": "h"})
    with pytest.raises(InvalidJob, match="does not allow: shout"):
        await jq.enqueue("greet", {"name": "a", "shout": True})
    assert await stored(jq) == 0


async def test_defaults_are_stored_and_handlers_receive_the_validated_models(
    jq: JobQueue,
) -> None:
    order = await jq.enqueue("order.place", {"customer": "c", "items": [{"sku": "a"}]})
    assert order.payload == {
        "customer": "c",
        "items": [{"sku": "a", "quantity": 1}],
        "express": False,
        "note": "none",
    }
    resize = await jq.enqueue(typed.resize, typed.Resize(url="u"))  # a dataclass, typed
    assert resize.payload == {"url": "u", "width": 100, "tags": []}
    ping = await jq.enqueue(typed.ping, {"host": "h", "count": 3})  # a TypedDict
    greet = await jq.enqueue("greet", {"name": "ada"})
    assert greet.payload == {"name": "ada", "greeting": "hello"}
    await jq.run(until_idle=True)
    done = {job.id: job for job in (await jq.list_jobs(limit=10)).jobs}
    assert all(job.status is JobState.SUCCEEDED for job in done.values()), done
    assert done[order.id].result == {"customer": "c", "units": 1}
    assert done[resize.id].result == {"width": 100, "tags": []}
    assert done[ping.id].result == 3
    assert done[greet.id].result == "hello, ada"


async def test_a_typed_call_reads_the_result_as_the_handlers_return_type(
    store_url: str,
) -> None:
    jq = JobQueue(store_url, builtins=False, postgres=PostgresOptions(pool_size=4))

    @jq.job("order.place")
    async def place(payload: typed.OrderIn) -> typed.OrderOut:
        return typed.OrderOut(customer=payload.customer, units=len(payload.items))

    @jq.job("refuse")
    async def refuse(payload: typed.Ping) -> int:
        raise NonRetryableError("no")

    async with jq:
        order = typed.OrderIn(customer="c", items=[typed.Item(sku="a", quantity=2)])
        sent = await place.enqueue(order, priority=3)
        assert sent.job.priority == 3
        assert sent.job.payload["items"] == [{"sku": "a", "quantity": 2}]
        refused = await refuse.enqueue({"host": "h", "count": 1})
        await jq.run(until_idle=True)
        result = await sent.result(timeout=10)
        assert result == typed.OrderOut(customer="c", units=1)
        assert isinstance(result, typed.OrderOut)
        with pytest.raises(JobFailed, match="ended dead") as failed:
            await refused.result(timeout=10)
        assert failed.value.job.status is JobState.DEAD


async def test_a_result_that_does_not_fit_fails_the_attempt_and_is_retried(
    store_url: str,
) -> None:
    jq = JobQueue(store_url, builtins=False, postgres=PostgresOptions(pool_size=4))
    calls: list[int] = []

    @jq.job("count", max_attempts=2, backoff=Backoff(base_seconds=0, max_seconds=0))
    async def count(payload: dict[str, Any]) -> Out:
        calls.append(1)
        return {"n": "not a number"} if len(calls) == 1 else Out(n=len(calls))  # type: ignore[return-value]

    async with jq:
        job = await jq.enqueue("count", {})
        await jq.run(until_idle=True)
        [first, second] = await jq.attempts(job.id)
        assert first.error is not None and first.error.type == "InvalidResult"
        assert "result.n: must be an integer, not a string" in first.error.message
        assert second.error is None
        assert (await jq.get(job.id)).result == {"n": 2}


async def test_a_payload_stored_before_its_schema_makes_the_job_dead(jq: JobQueue) -> None:
    [old] = await jq.store.enqueuer.enqueue([NewJob(type="order.place", payload={"who": 1})])
    await jq.run(until_idle=True)
    job = await jq.get(old.job.id)
    assert job.status is JobState.DEAD and job.attempt == 1
    [attempt] = await jq.attempts(job.id)
    assert attempt.error is not None and attempt.error.type == "InvalidPayload"
    assert "payload.customer: is required" in attempt.error.message


async def test_the_http_api_refuses_bad_payloads_and_a_batch_stores_none(
    jq: JobQueue, api: httpx.AsyncClient
) -> None:
    refused = await api.post("/jobs", json={"type": "net.ping", "payload": {"host": 1}})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_job"
    assert error["details"] == [
        {"field": "payload.host", "message": "must be a string, not a number"},
        {"field": "payload.count", "message": "is required"},
    ]
    batch = [
        {"type": "greet", "payload": {"name": "a"}},
        {"type": "order.place", "payload": {"customer": "c"}},
        {"type": "greet", "payload": {}},
    ]
    refused = await api.post("/jobs/batch", json={"jobs": batch})
    assert refused.status_code == 422
    assert [d["field"] for d in refused.json()["error"]["details"]] == [
        "jobs[1].payload.items",
        "jobs[2].payload.name",
    ]
    assert "(no job was stored)" in refused.json()["error"]["message"]
    assert await stored(jq) == 0
    made = await api.post("/jobs/batch", json={"jobs": batch[:1]})
    assert made.status_code == 201
    assert made.json()["jobs"][0]["payload"] == {"name": "a", "greeting": "hello"}


def test_registration_refuses_what_cannot_be_a_schema() -> None:
    jq = JobQueue(builtins=False)
    with pytest.raises(ValueError, match="payload_schema of 'a': not a valid JSON Schema"):
        jq.job("a", payload_schema={"type": "nonsense"})(lambda payload: None)
    with pytest.raises(TypeError, match="give that or payload_schema=, not both"):

        @jq.job("b", payload_schema={"type": "object"})
        async def b(payload: typed.OrderIn) -> None: ...

    with pytest.raises(TypeError, match="cannot be resolved"):

        @jq.job("c")
        async def c(payload: Missing) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    assert "a" not in jq.registry and "b" not in jq.registry and "c" not in jq.registry


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in refs(item)]
    return []


async def test_the_openapi_document_holds_each_types_schemas_and_the_published_ones(
    jq: JobQueue, api: httpx.AsyncClient
) -> None:
    document = (await api.get("/openapi.json")).json()
    listed = document["x-jobq-job-types"]
    assert listed["order.place"] == {
        "payload": "#/components/schemas/OrderPlacePayload",
        "result": "#/components/schemas/OrderPlaceResult",
    }
    assert listed["greet"] == {"payload": "#/components/schemas/GreetPayload"}
    components = document["components"]["schemas"]
    order = components["OrderPlacePayload"]
    assert order["x-jobq-job-type"] == "order.place" and "$defs" not in order
    assert order["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/OrderPlacePayload.Item"
    }
    assert set(components["OrderPlacePayload.Item"]["required"]) == {"sku"}
    for ref in refs(document):  # every reference resolves: a generator can follow them all
        assert ref.removeprefix("#/components/schemas/") in components, ref

    # a type only another live process knows, published with its schema: listed too
    pool = PoolId("elsewhere")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    await jq.store.type_catalog.publish(
        pool, [TypeSpec("remote.count", {"payload_schema": schema}, "d")]
    )
    await jq.store.presence.report(
        ProcessInfo(
            id=pool, host="h", pid=1, workers=1, busy=0, buffered=0, queues=None,
            started_at=jq.clock.now(), seen_at=jq.clock.now(), types=("remote.count",),
        )
    )  # fmt: skip
    await jq.catalog.refresh(fresh_for=0)
    document = (await api.get("/openapi.json")).json()
    assert document["components"]["schemas"]["RemoteCountPayload"]["properties"] == {
        "n": {"type": "integer"}
    }
    detail = (await api.get("/types/remote.count")).json()
    assert detail["payload_schema"] == schema and detail["processes"] == ["elsewhere"]
    assert detail["handled"] is False and detail["warnings"] == []
    refused = await api.post("/jobs", json={"type": "remote.count", "payload": {"n": "x"}})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "payload.n"
    own = (await api.get("/types/order.place")).json()
    assert own["handled"] is True and own["payload_schema"]["required"] == ["customer", "items"]
    assert own["options"]["max_attempts"] == 3 and own["options"]["secret"] == []
    missing = await api.get("/types/nobody.knows")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
