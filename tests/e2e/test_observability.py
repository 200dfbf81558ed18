"""What a real jobq process tells the people who run it: log events with their fields, secrets
kept out of the logs, and Prometheus metrics whose numbers match what the test did."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from tests.apps.ledger import jq as ledger_app
from tests.fleet import APP
from tests.helpers import JobqProcess, documented_events, wait_for

SECRET = "s3cr3t-Tr0ub4dor-3"


def start(processes: list[JobqProcess], tmp_path: Path, db_url: str, *args: str) -> JobqProcess:
    process = JobqProcess(
        [*args, "--app", APP],
        env={"JOBQ_DATABASE_URL": db_url, "JOBQ_TEST_LEDGER": str(tmp_path / "ledger")},
        log_path=tmp_path / f"{args[0]}.log",
    )
    processes.append(process)
    return process


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by name and labels, parsed by prometheus-client."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def test_a_worker_serves_metrics_that_match_what_it_did(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    worker = start(
        processes, tmp_path, db_url, "worker", "--workers", "3", "--metrics-port", "0",
        "--poll-interval", "0.05",
    )  # fmt: skip
    port = int((await worker.wait_event("metrics_listening"))["port"])
    producer = JobQueue(db_url, registry=ledger_app.registry, builtins=False)
    async with producer, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        ok = [await producer.enqueue("ledger.sleep", {"seconds": 0}) for _ in range(5)]
        bad = [await producer.enqueue("ledger.fail", {}, queue="mail") for _ in range(2)]
        for job in ok + bad:
            await producer.wait(job.id, timeout=30)  # ledger.fail: 2 attempts, then dead
        scrape = samples((await http.get("/metrics")).text)
        assert (await http.get("/health")).json() == {"status": "ok"}
        assert (await http.get("/ready")).status_code == 200
        assert (await http.get("/jobs")).status_code == 404  # the metrics port serves no API

    sleep, fail = (
        {"queue": "default", "type": "ledger.sleep"},
        {"queue": "mail", "type": "ledger.fail"},
    )
    assert value(scrape, "jobq_jobs_finished_total", **sleep, outcome="succeeded") == 5
    assert value(scrape, "jobq_jobs_finished_total", **fail, outcome="failed") == 2
    assert value(scrape, "jobq_jobs_finished_total", **fail, outcome="dead") == 2
    assert value(scrape, "jobq_jobs_retried_total", **fail) == 2
    assert value(scrape, "jobq_job_run_seconds_count", **sleep) == 5
    assert value(scrape, "jobq_job_run_seconds_count", **fail) == 4
    assert value(scrape, "jobq_job_wait_seconds_count", **sleep) == 5
    assert value(scrape, "jobq_job_wait_seconds_count", **fail) == 4
    # depth, read from the store at scrape time
    assert value(scrape, "jobq_jobs", queue="default", status="succeeded") == 5
    assert value(scrape, "jobq_jobs", queue="mail", status="dead") == 2
    assert value(scrape, "jobq_jobs", queue="mail", status="pending") == 0
    assert value(scrape, "jobq_workers") == 3
    assert value(scrape, "jobq_workers_busy") == 0
    # enqueues happened in the test's process, not the worker's
    assert value(scrape, "jobq_jobs_enqueued_total", **sleep) == 0


async def test_the_api_counts_what_it_accepted(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    serve = start(processes, tmp_path, db_url, "serve", "--port", "0", "--workers", "0")
    port = await serve.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(3):
            assert (await http.post("/jobs", json={"type": "ledger.sleep"})).status_code == 201
        batch = {"jobs": [{"type": "ledger.fail", "queue": "mail"}] * 4}
        assert (await http.post("/jobs/batch", json=batch)).status_code == 201
        refused = await http.post("/jobs", json={"type": "no.such.type"})
        assert refused.status_code == 422
        scrape = samples((await http.get("/metrics")).text)
    assert value(scrape, "jobq_jobs_enqueued_total", queue="default", type="ledger.sleep") == 3
    assert value(scrape, "jobq_jobs_enqueued_total", queue="mail", type="ledger.fail") == 4
    assert value(scrape, "jobq_jobs", queue="default", status="pending") == 3
    assert value(scrape, "jobq_jobs", queue="mail", status="pending") == 4


async def test_log_events_name_the_job_and_never_show_a_secret(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    serve = start(
        processes, tmp_path, db_url, "serve", "--port", "0", "--workers", "2",
        "--log-level", "DEBUG", "--poll-interval", "0.05",
    )  # fmt: skip
    port = await serve.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        secret = {"password": SECRET, "card": {"number": SECRET}}
        echoed = (await http.post("/jobs", json={"type": "echo", "payload": secret})).json()
        failing = (await http.post("/jobs", json={"type": "ledger.fail", "payload": secret})).json()
        later = await http.post("/jobs", json={"type": "echo", "payload": secret, "delay": 3600})
        assert (await http.post(f"/jobs/{later.json()['id']}/cancel")).status_code == 200

        async def finished() -> bool:
            states = [
                (await http.get(f"/jobs/{j['id']}")).json()["status"] for j in (echoed, failing)
            ]
            return states == [JobState.SUCCEEDED.value, JobState.DEAD.value]

        await wait_for(finished, timeout=30, what="both jobs to end")
        assert (await http.get(f"/jobs/{echoed['id']}")).json()["result"] == secret
    serve.signal(signal.SIGTERM)
    assert await serve.wait_exit(30) == 0

    assert SECRET not in serve.log_text()
    events = serve.events()
    by_name: dict[str, list[dict[str, object]]] = {}
    for record in events:
        by_name.setdefault(str(record["event"]), []).append(record)
    for name in (
        "job_enqueued", "job_claimed", "job_started", "job_succeeded", "job_failed",
        "job_retry_scheduled", "job_dead", "job_cancelled", "worker_started", "worker_stopped",
        "shutdown_started", "shutdown_finished",
    ):  # fmt: skip
        assert name in by_name, f"no {name} event in the log"
    for name in ("job_enqueued", "job_claimed", "job_started", "job_succeeded", "job_failed"):
        for record in by_name[name]:
            assert {"job_id", "job_type", "queue"} <= record.keys(), record
    for name in ("job_started", "job_succeeded", "job_failed", "job_dead"):
        for record in by_name[name]:
            assert {"worker_id", "attempt"} <= record.keys(), record
    for name in ("job_succeeded", "job_failed"):
        assert all("duration_ms" in record for record in by_name[name])
    [succeeded] = by_name["job_succeeded"]
    assert succeeded["job_id"] == echoed["id"] and succeeded["attempt"] == 1
    assert [r["attempt"] for r in by_name["job_failed"]] == [1, 2]
    assert all(r["level"] in {"debug", "info", "warning", "error"} for r in events)
    undocumented = {str(r["event"]) for r in events} - documented_events()
    assert not undocumented, f"events missing from docs/configuration.md: {undocumented}"


async def test_a_request_naming_another_host_is_refused(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    """DNS rebinding: a page at evil.example whose name now points at 127.0.0.1 is
    same-origin with the API in the browser's eyes; the Host it sends gives it away."""
    serve = start(processes, tmp_path, db_url, "serve", "--port", "0", "--workers", "0")
    port = await serve.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        rebound = {"Host": f"evil.example:{port}", "Sec-Fetch-Site": "same-origin"}
        for method, path in (("GET", "/jobs"), ("GET", "/"), ("POST", "/jobs")):
            answer = await http.request(method, path, headers=rebound, json={"type": "echo"})
            assert answer.status_code == 400, (method, path)
            assert answer.json()["error"]["code"] == "host_not_allowed"
        for name in ("localhost", "127.0.0.1"):
            ok = await http.get("/stats", headers={"Host": f"{name}:{port}"})
            assert ok.status_code == 200, name
        assert (await http.get("/stats")).json()["totals"]["pending"] == 0  # nothing got in
        # the probes answer any Host (an orchestrator names the pod's address), and say only
        # their state
        pod = {"Host": f"10.1.2.3:{port}"}
        assert (await http.get("/health", headers=pod)).json() == {"status": "ok"}
        assert (await http.get("/ready", headers=pod)).json() == {"status": "ready"}
