"""The dashboard's pages without a browser: rendered on the server (they work without
JavaScript), every value escaped, actions as same-origin form posts that redirect back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jobq.domain.ids import PoolId
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store.claim import ClaimRequest
from jobq.worker import PoolConfig
from tests.helpers import live_server

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
async def site(jq: JobQueue) -> AsyncIterator[httpx.AsyncClient]:
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


def same_origin(http: httpx.AsyncClient) -> dict[str, str]:
    return {"Origin": str(http.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}


async def run_once(jq: JobQueue, job_id: str) -> Any:
    pool = jq.worker_pool(PoolConfig(worker_count=1, poll_interval=0.05, shutdown_timeout=5))
    await pool.start()
    try:
        return await jq.wait(job_id, timeout=10)
    finally:
        await pool.stop()


async def test_pages_show_the_data_and_escape_every_value(
    jq: JobQueue, site: httpx.AsyncClient
) -> None:
    @jq.job("hostile", max_attempts=1)
    async def hostile(payload: dict[str, Any]) -> None:
        raise RuntimeError(HOSTILE)

    job = await jq.enqueue("hostile", {"note": HOSTILE}, idempotency_key=HOSTILE)
    await run_once(jq, job.id)
    page = (await site.get(f"/ui/jobs/{job.id}")).text
    assert HOSTILE not in page  # never as markup
    assert "&lt;script&gt;alert(" in page  # but shown, as text
    assert 'id="job-status"><span class="status dead">dead</span>' in page
    assert "RuntimeError: &lt;script&gt;" in page and 'class="traceback mono"' in page
    assert 'id="retry"' in page and 'id="retry-all-dead"' in page and 'id="cancel"' not in page
    listing = (await site.get("/ui/jobs", params={"status": "dead"})).text
    assert f'href="/ui/jobs/{job.id}"' in listing and HOSTILE not in listing


async def test_filters_paging_and_search(jq: JobQueue, site: httpx.AsyncClient) -> None:
    jobs = [await jq.enqueue("echo", {"i": i}, queue="q" + str(i % 2)) for i in range(60)]
    first = (await site.get("/ui/jobs", params={"queue": "q0"})).text
    shown = [job.id for job in jobs if f'data-id="{job.id}"' in first]
    assert len(shown) == 30 and all(jobs[i].id in shown for i in range(0, 60, 2))
    everything = (await site.get("/ui/jobs")).text
    assert everything.count('class="job-link') == 50 and 'id="older"' in everything
    older_href = everything.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
    rest = (await site.get(older_href)).text
    assert rest.count('class="job-link') == 10
    found = await site.get("/ui/jobs", params={"id": jobs[7].id}, follow_redirects=True)
    assert f'Job <span class="mono">{jobs[7].id}</span>' in found.text
    missing = await site.get("/ui/jobs/not-a-job")
    assert missing.status_code == 404 and "no job has the id not-a-job" in missing.text


async def test_form_actions_change_the_job_and_redirect_back(
    jq: JobQueue, site: httpx.AsyncClient
) -> None:
    later = await jq.enqueue("echo", {}, delay=3600)
    cancelled = await site.post(f"/ui/jobs/{later.id}/cancel", headers=same_origin(site))
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/ui/jobs/{later.id}?done=cancelled"
    assert (await jq.get(later.id)).status is JobState.CANCELLED
    again = await site.post(f"/ui/jobs/{later.id}/cancel", headers=same_origin(site))
    assert again.status_code == 303 and "done" not in again.headers["location"]  # refused
    retried = await site.post(f"/ui/jobs/{later.id}/retry", headers=same_origin(site))
    assert retried.headers["location"].endswith("done=retried")
    assert (await jq.get(later.id)).status is JobState.PENDING
    page = (await site.get(retried.headers["location"])).text
    assert 'id="notice">Job retried.' in page
    # a running job has its Cancel button too, and the cancel records its attempt
    [running] = await jq.store.claims.claim(
        ClaimRequest(owner=PoolId("elsewhere"), limit=1, lease_seconds=60)
    )
    assert 'id="cancel"' in (await site.get(f"/ui/jobs/{running.id}")).text
    stopped = await site.post(f"/ui/jobs/{running.id}/cancel", headers=same_origin(site))
    assert stopped.headers["location"].endswith("done=cancelled")
    [attempt] = await jq.attempts(running.id)
    assert attempt.outcome is Outcome.CANCELLED


async def test_a_cross_site_form_post_changes_nothing(
    jq: JobQueue, site: httpx.AsyncClient
) -> None:
    job = await jq.enqueue("echo", {}, delay=3600)
    forged = await site.post(
        f"/ui/jobs/{job.id}/cancel",
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403
    assert (await jq.get(job.id)).status is JobState.PENDING


async def test_retry_all_dead_from_the_page(jq: JobQueue, site: httpx.AsyncClient) -> None:
    @jq.job("doomed", max_attempts=1)
    async def doomed(payload: dict[str, Any]) -> None:
        raise RuntimeError("no")

    jobs = [await jq.enqueue("doomed", {"n": n}) for n in range(3)]
    for job in jobs:
        await run_once(jq, job.id)
    answer = await site.post(
        "/ui/retry-dead",
        content=b"type=doomed",
        headers={**same_origin(site), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/jobs?type=doomed&retried=3"
    assert {(await jq.get(job.id)).status for job in jobs} == {JobState.PENDING}
    empty = await site.post("/ui/retry-dead", content=b"", headers=same_origin(site))
    assert empty.status_code == 400


async def test_limits_from_the_types_page_and_the_queues_table(
    jq: JobQueue, site: httpx.AsyncClient
) -> None:
    await jq.enqueue("echo", {}, queue="slow")
    page = (await site.get("/ui/types")).text
    assert 'id="type-echo"' in page and "/ui/limits/type/echo/set" in page

    set_type = await site.post(
        "/ui/limits/type/echo/set",
        content="concurrency=3&rate=10%2Fs",
        headers={**same_origin(site), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert set_type.status_code == 303 and set_type.headers["location"] == "/ui/types?done=limited"
    held = await jq.limits.of("type", "echo")
    assert held.effective.describe() == "3 at once, 10 per 1s"
    page = (await site.get(set_type.headers["location"])).text
    assert 'id="notice">Limit set.' in page and "3 at once, 10 per 1s" in page

    set_queue = await site.post(
        "/ui/limits/queue/slow/set",
        content="concurrency=2&rate=",
        headers={**same_origin(site), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert set_queue.headers["location"] == "/?done=limited"
    overview = (await site.get("/", headers={"Accept": "text/html"})).text
    assert "2 at once" in overview and "/ui/limits/queue/slow/clear" in overview

    for bad in ("concurrency=0", "concurrency=x", "rate=10", "rate=5%2Fq", "concurrency=&rate="):
        refused = await site.post(
            "/ui/limits/queue/slow/set",
            content=bad,
            headers={**same_origin(site), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert refused.headers["location"] == "/?error=limit", bad
    assert (await jq.limits.of("queue", "slow")).effective.describe() == "2 at once"
    shown = (await site.get("/?error=limit", headers={"Accept": "text/html"})).text
    assert 'id="error" role="alert">The limit was not set' in shown

    cleared = await site.post("/ui/limits/queue/slow/clear", headers=same_origin(site))
    assert cleared.headers["location"] == "/?done=unlimited"
    assert (await jq.limits.of("queue", "slow")).origin is None
    missing = await site.post("/ui/limits/job/echo/set", headers=same_origin(site))
    assert missing.status_code == 404
