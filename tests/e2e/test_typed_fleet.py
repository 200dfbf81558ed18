"""Payload schemas across processes, on both stores: a worker process publishes its types, and
an API process started without their code (``jobq serve --workers 0``, no ``--app``) refuses a
payload that does not fit, naming each bad field, stores nothing, and fills in the defaults of
one that fits; the worker runs it with the validated model. Two live versions that disagree on
a schema are a warning, and a payload either accepts is accepted until one is gone."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli import Cli, describe
from tests.helpers import JobqProcess, start_jobq, wait_for

pytestmark = pytest.mark.slow


start = start_jobq


async def api_without_code(
    processes: list[JobqProcess], tmp_path: Path, url: str
) -> tuple[JobqProcess, str]:
    """``jobq serve --workers 0`` without ``--app``: the built-in types' code only."""
    api = start(processes, tmp_path, url, "api", "serve", "--workers", "0", "--port", "0")
    return api, f"http://127.0.0.1:{await api.port()}"


async def test_an_api_process_without_the_code_checks_what_a_worker_published(
    processes: list[JobqProcess], tmp_path: Path, store_url: str
) -> None:
    worker = start(
        processes, tmp_path, store_url, "worker",
        "worker", "--app", "tests.apps.typed:jq", "--poll-interval", "0.1",
    )  # fmt: skip
    await worker.wait_event("types_published")
    _, base = await api_without_code(processes, tmp_path, store_url)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:

        async def published() -> bool:
            types = (await http.get("/types")).json()["types"]
            return any(t["name"] == "order.place" and t["payload_schema"] for t in types)

        await wait_for(published, timeout=20, what="order.place published")

        bad = {"customer": 7, "items": [{"sku": "a", "quantity": 0}, {}], "extra": True}
        refused = await http.post("/jobs", json={"type": "order.place", "payload": bad})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_job"
        fields = {d["field"]: d["message"] for d in error["details"]}
        assert fields == {
            "payload.customer": "must be a string, not a number",
            "payload.items[0].quantity": "must be greater than or equal to 1",
            "payload.items[1].sku": "is required",
        }, fields

        batch = {
            "jobs": [
                {"type": "greet", "payload": {"name": "ada"}},
                {"type": "greet", "payload": {"name": ""}},
                {"type": "net.ping", "payload": {"host": "h", "count": "x"}},
            ]
        }
        refused = await http.post("/jobs/batch", json=batch)
        assert refused.status_code == 422, refused.text
        fields = {d["field"] for d in refused.json()["error"]["details"]}
        assert fields == {"jobs[1].payload.name", "jobs[2].payload.count"}
        assert (await http.get("/jobs")).json()["jobs"] == []  # none of the batch was stored

        made = await http.post(
            "/jobs",
            json={"type": "order.place", "payload": {"customer": "c", "items": [{"sku": "a"}]}},
        )
        assert made.status_code == 201, made.text
        job = made.json()
        assert job["payload"] == {
            "customer": "c",
            "items": [{"sku": "a", "quantity": 1}],
            "express": False,
            "note": "none",
        }
        greeted = await http.post("/jobs", json={"type": "greet", "payload": {"name": "ada"}})
        assert greeted.json()["payload"] == {"name": "ada", "greeting": "hello"}

        async def done(job_id: str) -> dict[str, object] | None:
            body = (await http.get(f"/jobs/{job_id}")).json()
            return body if body["status"] == "succeeded" else None

        # the command line, without the code either: refused the same way, exit 2
        cli = Cli(store_url)
        said = cli("enqueue", "order.place", '{"customer": 1, "items": []}')
        assert said.returncode == 2, describe(said)
        assert "payload.customer: must be a string, not a number" in said.stderr
        assert cli.ok("enqueue", "greet", '{"name": "bo"}').returncode == 0
        shown = cli.json("types", "show", "order.place")
        assert shown["processes"] and shown["handled"] is False
        assert shown["payload_schema"]["required"] == ["customer", "items"]
        assert shown["result_schema"]["title"] == "OrderOut"
        text = cli.ok("types", "show", "order.place").stdout
        assert "payload_schema: {" in text and "max_attempts: 3" in text
        listed = cli.ok("types", "list").stdout
        [row] = [line.split(None, 5) for line in listed.splitlines() if line.startswith("order")]
        assert row[4:] == ["1", "customer*, items*, express, note"], listed
        missing = cli("types", "show", "no.such.type")
        assert missing.returncode == 1 and "no job type 'no.such.type'" in missing.stderr

        await wait_for(lambda: done(job["id"]), timeout=20, what="order ran")
        assert (await done(job["id"]) or {})["result"] == {"customer": "c", "units": 1}
        await wait_for(lambda: done(greeted.json()["id"]), timeout=20, what="greet ran")
        assert (await done(greeted.json()["id"]) or {})["result"] == "hello, ada"


async def test_two_live_versions_of_a_schema_accept_what_either_accepts(
    processes: list[JobqProcess], tmp_path: Path, store_url: str
) -> None:
    old = start(processes, tmp_path, store_url, "old", "worker", "--app", "tests.apps.typed:jq")
    new = start(processes, tmp_path, store_url, "new", "worker", "--app", "tests.apps.typed:later")
    await old.wait_event("types_published")
    await new.wait_event("types_published")
    api, base = await api_without_code(processes, tmp_path, store_url)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:

        async def conflicted() -> bool:
            stats = (await http.get("/types/order.place")).json()
            return len(stats["processes"]) == 2 and bool(stats["warnings"])

        await wait_for(conflicted, timeout=20, what="both versions published")
        detail = (await http.get("/types/order.place")).json()
        assert "different payload schemas" in detail["warnings"][0]
        v1 = {"customer": "c", "items": []}
        v2 = {"customer": "c", "items": [], "channel": "web"}
        for payload in (v1, v2):
            made = await http.post("/jobs", json={"type": "order.place", "payload": payload})
            assert made.status_code == 201, made.text
        stats = (await http.get("/stats")).json()
        assert stats["warnings"] == detail["warnings"]
        neither = await http.post("/jobs", json={"type": "order.place", "payload": {"items": []}})
        assert neither.status_code == 422
    [warned] = api.find("type_schemas_differ")
    assert warned["job_type"] == "order.place" and len(warned["schemas"]) == 2
