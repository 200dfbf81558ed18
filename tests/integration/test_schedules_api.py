"""``/schedules`` against a real server on loopback, on both stores: schedules in the app's
code and made at run time, listed, made, changed, paused, resumed and removed; every refusal
says what is wrong, names the field, and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from jobq.clock import FakeClock
from jobq.jobqueue import JobQueue
from jobq.store import PostgresOptions

NOW = datetime(2030, 6, 1, 6, 30, tzinfo=UTC)


@pytest.fixture
async def jq(store_url: str) -> AsyncIterator[JobQueue]:
    queue = JobQueue(store_url, clock=FakeClock(NOW), postgres=PostgresOptions(pool_size=4))

    @queue.job("report", schedule="0 7 * * *", timezone="Europe/Paris", secret=["key"])
    async def report(payload: dict[str, Any]) -> None: ...

    async with queue:
        yield queue


NIGHTLY = {"name": "nightly", "type": "echo", "cron": "30 2 * * *", "timezone": "Europe/Paris"}


async def test_code_and_stored_schedules_are_listed_with_their_next_runs(
    api: httpx.AsyncClient,
) -> None:
    made = await api.post("/schedules", json={**NIGHTLY, "payload": {"n": 1}, "missed": "latest"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["source"] == "stored" and body["paused"] is False and body["last_run"] is None
    assert body["next_runs"][:2] == ["2030-06-02T00:30:00Z", "2030-06-03T00:30:00Z"]
    assert body["description"] == "At 02:30 every day (Europe/Paris)"
    assert body["missed"] == "latest" and body["catch_up"] == 10 and body["payload"] == {"n": 1}
    listed = (await api.get("/schedules")).json()["schedules"]
    assert [(s["name"], s["source"]) for s in listed] == [("report", "code"), ("nightly", "stored")]
    assert listed[0]["next_runs"][0] == "2030-06-02T05:00:00Z"  # 07:00 in Paris, summer
    assert (await api.get("/schedules/nightly")).json() == body


async def test_a_stored_schedule_changes_pauses_resumes_and_goes(api: httpx.AsyncClient) -> None:
    assert (await api.post("/schedules", json=NIGHTLY)).status_code == 201
    changed = await api.patch("/schedules/nightly", json={"cron": "0 3 * * 1", "priority": 5})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cron"] == "0 3 * * 1" and changed.json()["priority"] == 5
    paused = (await api.patch("/schedules/nightly", json={"paused": True})).json()
    assert paused["paused"] is True and paused["next_runs"] == []
    resumed = (await api.patch("/schedules/nightly", json={"paused": False})).json()
    assert resumed["paused"] is False and resumed["next_runs"]
    code_paused = await api.patch("/schedules/report", json={"paused": True})
    assert code_paused.status_code == 200 and code_paused.json()["paused"] is True
    assert (await api.delete("/schedules/nightly")).status_code == 204
    assert (await api.get("/schedules/nightly")).status_code == 404
    assert [s["name"] for s in (await api.get("/schedules")).json()["schedules"]] == ["report"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({**NIGHTLY, "cron": "61 * * * *"}, "cron", "invalid cron expression"),
        ({**NIGHTLY, "cron": "* * *"}, "cron", "has 3 fields"),
        ({**NIGHTLY, "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({**NIGHTLY, "type": "nope"}, "type", "unknown job type 'nope'"),
        ({**NIGHTLY, "missed": "sometimes"}, "missed", ""),
        ({**NIGHTLY, "catch_up": 0}, "catch_up", ""),
        ({k: v for k, v in NIGHTLY.items() if k != "cron"}, "cron", "is required"),
        ({**NIGHTLY, "name": "bad name"}, "name", ""),
        ({**NIGHTLY, "extra": 1}, "extra", "is not a field"),
    ],
)
async def test_a_bad_schedule_is_a_422_naming_the_field_and_nothing_is_made(
    api: httpx.AsyncClient, body: dict[str, Any], field: str, says: str
) -> None:
    answer = await api.post("/schedules", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert [d["field"] for d in error["details"]] == [field]
    assert says in error["message"]
    assert [s["name"] for s in (await api.get("/schedules")).json()["schedules"]] == ["report"]


async def test_conflicts_and_missing_schedules(api: httpx.AsyncClient) -> None:
    assert (await api.post("/schedules", json=NIGHTLY)).status_code == 201
    again = await api.post("/schedules", json={**NIGHTLY, "cron": "* * * * *"})
    assert again.status_code == 409 and "exists already" in again.json()["error"]["message"]
    clash = await api.post("/schedules", json={**NIGHTLY, "name": "report"})
    assert clash.status_code == 409 and "declared in this app's code" in clash.text
    in_code = await api.patch("/schedules/report", json={"cron": "* * * * *"})
    assert in_code.status_code == 409 and "declared in code" in in_code.json()["error"]["message"]
    assert (await api.delete("/schedules/report")).status_code == 409
    assert (await api.get("/schedules/none")).status_code == 404
    assert (await api.patch("/schedules/none", json={"paused": True})).status_code == 404
    assert (await api.delete("/schedules/none")).status_code == 404
    bad = await api.patch("/schedules/nightly", json={"timezone": "Nowhere"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "timezone"
    assert (await api.get("/schedules/nightly")).json()["timezone"] == "Europe/Paris"
    text = await api.post("/schedules", content=b"x", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert (await api.get("/schedules/" + "x" * 300)).status_code == 404


async def test_secret_payload_fields_are_hidden(api: httpx.AsyncClient, jq: JobQueue) -> None:
    jq.schedule("report", "0 8 * * *", name="report.eight", payload={"key": "s3cret", "n": 2})
    [eight] = [
        s for s in (await api.get("/schedules")).json()["schedules"] if s["name"] == "report.eight"
    ]
    assert eight["payload"]["n"] == 2 and "s3cret" not in str(eight)


async def test_the_dashboard_page_shows_schedules_and_pauses_them(
    api: httpx.AsyncClient, jq: JobQueue
) -> None:
    assert (await api.post("/schedules", json={**NIGHTLY, "name": "n<b>"})).status_code == 422
    assert (await api.post("/schedules", json=NIGHTLY)).status_code == 201
    page = (await api.get("/ui/schedules")).text
    assert 'data-name="report"' in page and 'data-name="nightly"' in page
    assert "At 02:30 every day (Europe/Paris)" in page and "2030-06-02 00:30:00 UTC" in page
    assert 'href="/ui/schedules" class="active"' in page
    origin = {"Origin": str(api.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    paused = await api.post("/ui/schedules/nightly/pause", headers=origin)
    assert paused.status_code == 303 and paused.headers["location"] == "/ui/schedules?done=paused"
    assert (await jq.schedules.get("nightly")).paused
    page = (await api.get("/ui/schedules?done=paused")).text
    assert "Schedule paused." in page and "Resume" in page
    assert (await api.post("/ui/schedules/none/pause", headers=origin)).status_code == 404
    assert (await api.post("/ui/schedules/nightly/explode", headers=origin)).status_code == 404


async def test_odd_names_and_keys_are_refused_without_reaching_the_store(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.post("/schedules", json=NIGHTLY)).status_code == 201
    for path in ("/schedules/%00", "/schedules/a%20b", "/schedules/%C3%A9"):
        assert (await api.get(path)).status_code == 404, path
        assert (await api.delete(path)).status_code == 404, path
    half = await api.patch("/schedules/nightly", json={"priority": 3, "paused": None})
    assert half.status_code == 422 and half.json()["error"]["details"][0]["field"] == "paused"
    assert (await api.get("/schedules/nightly")).json()["priority"] == 0  # nothing changed
    keyed = await api.post(
        "/jobs", json={"type": "echo"}, headers={"Idempotency-Key": "schedule:nightly:x"}
    )
    assert keyed.status_code == 422 and "periodic schedules" in keyed.json()["error"]["message"]
    # a schedule whose every time falls where clocks spring forward
    never = await api.post("/schedules", json={**NIGHTLY, "name": "x", "cron": "30 2 * 3 0L"})
    assert never.status_code == 422 and never.json()["error"]["details"][0]["field"] == "cron"
