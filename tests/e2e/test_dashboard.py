"""The dashboard in a real headless Chromium against a real `jobq serve`: the overview moves
without a reload as jobs run, a dead job shows its error and traceback, and retrying it from
the page makes it succeed, the page following it live. Screenshots go to test-artifacts/
(JOBQ_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import skip_unless_required
from tests.fleet import APP
from tests.helpers import REPO, JobqProcess

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("JOBQ_TEST_ARTIFACTS", REPO / "test-artifacts"))
WAIT = 20.0

pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        skip_unless_required(
            "the dashboard test needs Debian's chromium and chromium-driver "
            "(scripts/ensure_browser.sh installs them; make test runs it)",
            variable="JOBQ_TEST_REQUIRE_BROWSER",
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``check`` until it returns something true; the page re-renders every 2 s, so an
    element found a moment ago may be gone (stale): look again."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (StaleElementReferenceException, NoSuchElementException) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} ({last!r})")


def text_of(driver: Any, css: str) -> str:
    return str(driver.find_element("css selector", css).text)


def click(driver: Any, css: str) -> bool:
    driver.find_element("css selector", css).click()
    return True


def shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"dashboard-{name}.png"))


async def test_the_dashboard_shows_jobs_move_and_retries_a_dead_one(
    browser: Any, processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "2", "--poll-interval", "0.05",
         "--app", APP],
        env={"JOBQ_DATABASE_URL": db_url, "JOBQ_TEST_LEDGER": str(tmp_path / "ledger")},
        log_path=tmp_path / "serve.log",
    )  # fmt: skip
    processes.append(serve)
    base = f"http://127.0.0.1:{await serve.port()}"
    blocker = tmp_path / "blocker"
    blocker.touch()

    browser.get(f"{base}/")
    eventually(lambda: text_of(browser, "#total-succeeded") == "0", "an empty overview")
    browser.execute_script("window.loadedOnce = true")  # gone if the page reloads

    async with httpx.AsyncClient(base_url=base) as http:
        for n in range(3):
            answer = await http.post("/jobs", json={"type": "echo", "payload": {"n": n}})
            assert answer.status_code == 201
        gate = await http.post(
            "/jobs", json={"type": "ledger.gate", "payload": {"blocker": str(blocker)}}
        )
        gate_id = gate.json()["id"]

    eventually(
        lambda: (
            text_of(browser, "#total-succeeded") == "3" and text_of(browser, "#total-dead") == "1"
        ),
        "the overview to count 3 succeeded and 1 dead",
    )
    assert browser.execute_script("return window.loadedOnce === true"), "the page reloaded"
    assert "default" in text_of(browser, "#by-queue")
    assert str(serve.pid) in text_of(browser, "#processes")  # busy workers per process
    shot(browser, "overview")

    # pause the queue from its row: a new job waits; resume it: the job runs
    eventually(lambda: click(browser, "#queue-default form button"), "the queue's pause button")
    eventually(lambda: "Queue paused." in text_of(browser, "#notice"), "the paused notice")
    assert text_of(browser, "#queue-default .queue-state") == "paused"
    async with httpx.AsyncClient(base_url=base) as http:
        waiting = (await http.post("/jobs", json={"type": "echo"})).json()["id"]
        eventually(lambda: text_of(browser, "#total-pending") == "1", "the job to wait")
        assert (await http.get(f"/jobs/{waiting}")).json()["status"] == "pending"
        shot(browser, "paused-queue")
        eventually(lambda: click(browser, "#queue-default form button"), "the resume button")
        eventually(lambda: "Queue resumed." in text_of(browser, "#notice"), "the resumed notice")
        eventually(lambda: text_of(browser, "#total-succeeded") == "4", "the job to run")
    assert text_of(browser, "#queue-default .queue-state") == "active"

    eventually(lambda: click(browser, "a[href='/ui/jobs?status=dead']"), "the dead link")
    eventually(lambda: click(browser, f"tr[data-id='{gate_id}'] a.job-link"), "the dead job's row")
    eventually(lambda: gate_id in text_of(browser, "h1"), "the job page")
    eventually(lambda: text_of(browser, "#job-status") == "dead", "status dead")
    attempts = eventually(lambda: text_of(browser, "#attempts"), "the attempts table")
    assert "RuntimeError: blocked by blocker" in attempts
    tracebacks = browser.find_elements("css selector", "pre.traceback")
    assert tracebacks and "RuntimeError" in tracebacks[0].get_attribute("textContent")
    shot(browser, "dead-job")

    blocker.unlink()
    eventually(lambda: click(browser, "#retry"), "the retry button")
    eventually(lambda: "Job retried." in text_of(browser, "#notice"), "the page after the retry")
    browser.execute_script("window.loadedOnce = true")
    eventually(lambda: text_of(browser, "#job-status") == "succeeded", "the retried job to succeed")
    assert browser.execute_script("return window.loadedOnce === true"), "the page reloaded"
    assert '"passed"' in text_of(browser, "main")
    shot(browser, "retried-job")

    # limit a type from the Types page, and a queue from the overview: each row says so
    browser.get(f"{base}/ui/types")
    field = eventually(
        lambda: browser.find_element("css selector", "#type-echo input[name=concurrency]"),
        "the echo row's limit form",
    )
    field.send_keys("3")
    browser.find_element("css selector", "#type-echo input[name=rate]").send_keys("10/s")
    click(browser, "#type-echo form button")
    eventually(lambda: "Limit set." in text_of(browser, "#notice"), "the type's limit notice")
    assert text_of(browser, "#type-echo .limit") == "3 at once, 10 per 1s set"
    shot(browser, "type-limit")
    browser.get(f"{base}/")
    field = eventually(
        lambda: browser.find_element("css selector", "#queue-default input[name=rate]"),
        "the default queue's limit form",
    )
    field.send_keys("10")  # no period: refused, the page says what a limit may be
    click(browser, "#queue-default .queue-limit-form button")
    eventually(lambda: "was not set" in text_of(browser, "#error"), "the refusal")
    assert text_of(browser, "#queue-default .queue-limit") == "none"
    field = browser.find_element("css selector", "#queue-default input[name=concurrency]")
    field.send_keys("4")
    click(browser, "#queue-default .queue-limit-form button")
    eventually(lambda: "Limit set." in text_of(browser, "#notice"), "the queue's limit notice")
    assert text_of(browser, "#queue-default .queue-limit") == "4 at once"

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


async def test_signing_in_with_a_read_token_then_an_admin_one(
    browser: Any, processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    """Once tokens exist the browser is sent to sign in; a read token sees no buttons; an admin
    token's session cancels a job through the page's own form (with its CSRF token)."""
    from jobq.domain.tokens import Scope, new_token
    from jobq.store import open_store

    store = await open_store(db_url)
    texts = {}
    for scope in (Scope.READ, Scope.ADMIN):
        token, texts[scope] = new_token(scope, f"{scope.value} person", datetime.now(UTC))
        await store.tokens.add(token)
    await store.close()
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "0"],
        env={"JOBQ_DATABASE_URL": db_url},
        log_path=tmp_path / "serve.log",
    )
    processes.append(serve)
    base = f"http://127.0.0.1:{await serve.port()}"
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {texts[Scope.ADMIN]}"}
    ) as http:
        job_id = (await http.post("/jobs", json={"type": "echo", "delay": 3600})).json()["id"]

    def sign_in(scope: Scope) -> None:
        browser.get(f"{base}/ui/jobs/{job_id}")
        eventually(lambda: "/ui/login" in browser.current_url, "the sign-in page")
        field = browser.find_element("css selector", "#token")
        field.send_keys(texts[scope])
        click(browser, "#sign-in")
        eventually(lambda: job_id in text_of(browser, "h1"), "the job page after signing in")

    sign_in(Scope.READ)
    assert "read person · read" in text_of(browser, "#whoami")
    assert browser.find_elements("css selector", "#cancel") == []
    assert "Read-only" in text_of(browser, "#read-only")
    browser.get(f"{base}/")
    eventually(lambda: "default" in text_of(browser, "#by-queue"), "the overview's queues")
    assert browser.find_elements("css selector", "#by-queue form") == []  # no pause button
    cookie = browser.get_cookie("jobq_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # out of scripts' reach
    shot(browser, "read-only")

    click(browser, "#signout button")
    eventually(lambda: "/ui/login" in browser.current_url, "the sign-in page after signing out")
    sign_in(Scope.ADMIN)
    eventually(lambda: click(browser, "#cancel"), "the cancel button")
    eventually(lambda: "Job cancelled." in text_of(browser, "#notice"), "the cancelled notice")
    eventually(lambda: text_of(browser, "#job-status") == "cancelled", "status cancelled")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


async def test_a_job_is_built_from_its_types_schema_on_the_type_page(
    browser: Any, processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    """The Types page lists each type's payload fields; a type's page shows a form built from
    its schema (a field per property, the defaults filled in): a payload that does not fit
    comes back with each bad field named, and one that fits is enqueued and runs."""
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "2", "--poll-interval", "0.05",
         "--app", "tests.apps.typed:jq"],
        env={"JOBQ_DATABASE_URL": db_url},
        log_path=tmp_path / "serve.log",
    )  # fmt: skip
    processes.append(serve)
    base = f"http://127.0.0.1:{await serve.port()}"

    browser.get(f"{base}/ui/types")
    eventually(
        lambda: (
            text_of(browser, "#type-order\\.place .payload") == "customer*, items*, express, note"
        ),
        "the order type's payload fields",
    )
    click(browser, "#type-order\\.place a.type-link")
    eventually(lambda: text_of(browser, "#type-name") == "order.place", "the type's page")
    assert browser.find_element("css selector", "#input-note").get_attribute("value") == "none"
    assert "customer" in text_of(browser, "#payload-schema")

    items = browser.find_element("css selector", "#input-items")
    items.send_keys('[{"quantity": 0}]')
    click(browser, "#enqueue-button")
    eventually(lambda: "is required" in text_of(browser, "#field-customer .problem"), "refusal")
    assert text_of(browser, "#field-items .problem") == (
        "[0].sku: is required; [0].quantity: must be greater than or equal to 1"
    )
    shot(browser, "type-form-refused")

    browser.find_element("css selector", "#input-customer").send_keys("ada")
    items = browser.find_element("css selector", "#input-items")
    items.clear()
    items.send_keys('[{"sku": "tea", "quantity": 2}]')
    click(browser, "#input-express")
    click(browser, "#enqueue-button")
    eventually(lambda: "Job enqueued." in text_of(browser, "#notice"), "the enqueued notice")
    eventually(lambda: text_of(browser, "#job-status") == "succeeded", "the job to run")
    job_id = browser.current_url.rsplit("/", 1)[-1].split("?")[0]
    async with httpx.AsyncClient(base_url=base) as http:
        job = (await http.get(f"/jobs/{job_id}")).json()
    assert job["payload"] == {
        "customer": "ada",
        "items": [{"sku": "tea", "quantity": 2}],
        "express": True,
        "note": "none",
    }
    assert job["result"] == {"customer": "ada", "units": 2}
    refusal = "/enqueue - Failed to load resource: the server responded with a status of 422"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert [e for e in errors if refusal not in e["message"]] == [], errors  # 422: as meant


async def test_a_workflow_page_draws_its_graph_and_follows_its_jobs_live(
    browser: Any, processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    """A workflow's page draws a box per job in its state's colour and a line per edge; as the
    jobs run, the boxes change without a reload; a job's page links back to its workflow."""
    from jobq import JobQueue, chain, group, step
    from tests.apps.ledger import jq as ledger_app

    gate = tmp_path / "gate"
    async with JobQueue(db_url, registry=ledger_app.registry, builtins=False) as jq:
        made = await jq.submit(
            chain(
                step("ledger.held", {"until": str(gate)}, ref="first"),
                group([step("ledger.parent", {"n": n}, ref=f"p{n}") for n in range(2)]),
                step("ledger.fan_in", ref="last"),
            ),
            name="demo",
        )
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "2", "--poll-interval", "0.05",
         "--app", APP],
        env={"JOBQ_DATABASE_URL": db_url, "JOBQ_TEST_LEDGER": str(tmp_path / "ledger")},
        log_path=tmp_path / "serve.log",
    )  # fmt: skip
    processes.append(serve)
    base = f"http://127.0.0.1:{await serve.port()}"

    def status_of(ref: str) -> str:
        node = browser.find_element("css selector", f'[data-job="{made.jobs[ref].id}"]')
        return str(node.get_attribute("data-status"))

    browser.get(f"{base}/ui/workflows/{made.id}")
    eventually(lambda: status_of("first") == "running", "the first job to run")
    assert [status_of(ref) for ref in ("p0", "p1", "last")] == ["waiting"] * 3
    assert len(browser.find_elements("css selector", "#workflow-graph line.edge")) == 4
    browser.execute_script("window.loadedOnce = true")  # gone if the page reloads
    shot(browser, "workflow-running")

    gate.touch()  # the first job ends: the rest follow, and the page with them
    eventually(lambda: status_of("last") == "succeeded", "the last job to succeed")
    assert browser.execute_script("return window.loadedOnce === true"), "the page reloaded"
    assert text_of(browser, "#workflow-status") == "succeeded"
    shot(browser, "workflow-succeeded")

    browser.find_element("css selector", f'[data-job="{made.jobs["last"].id}"]').click()
    eventually(lambda: made.jobs["last"].id in text_of(browser, "h1"), "the job's page")
    click(browser, "#workflow-link")
    eventually(lambda: made.id in text_of(browser, "h1"), "back on the workflow's page")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
