"""The disk under the database fills up: jobq refuses what it cannot store, keeps nothing
half-written, and carries on when space comes back.

SQLite: the database file lives on a small tmpfs (mounting one needs root) beside a filler file;
PostgreSQL: the schema's tables live in a tablespace on such a tmpfs (the server's own WAL stays
on its disk), so extending a table fails with SQLSTATE 53100 as on a full data disk. ``jobq
serve`` with its worker pool runs on it; the test posts jobs with 24 KB payloads until the
disk is full and keeps posting for 2 s. Every refusal must be a 507 (``storage_full``, with
``Retry-After``) or a 503 with a JSON error, never a 500; every job answered 201 is in the store,
whole (its payload as sent), and there is one row per 201; the pool rides the outage out (it
logs and goes on, nothing ``pool_failed``). Then the filler is deleted: within 5 s a new job is
accepted and run. Each job runs 0.5 s, so some finish while the disk is full and their
outcomes must wait for space (``ack_retry``).

The mappings themselves (SQLITE_FULL and SQLSTATE 53100 to ``StoreFull``, ``StoreFull`` to
507) are checked without a disk too.

Found on the way: on SQLite in WAL mode a nearly full disk needs room for the WAL (up to 1,000
pages, 4 MiB, before SQLite checkpoints it) plus the checkpointed data; freeing less than that
leaves every write refused (the tmpfs is 16 MiB for that reason: 4 MiB did not recover).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from psycopg import sql as pgsql

from jobq.api.errors import ERROR_STATUS
from jobq.domain.errors import StoreFull, StoreUnavailable
from jobq.domain.states import JobState
from jobq.store.postgres.connection import translate as translate_postgres
from jobq.store.sqlite.connection import translate as translate_sqlite
from tests.apps.ledger import read_ledger
from tests.conftest import postgres_dsn
from tests.faults.checker import check, write_figures
from tests.fleet import BROKEN, launcher, ledger_queue
from tests.helpers import JobqProcess, wait_for
from tests.jobs import stored

TMPFS_SIZE = "16m"
#: what the filler leaves free for the database once it has been created
HEADROOM = 2560 * 1024
PAD = 24_000  # bytes of payload per job: the disk fills after a few dozen jobs
JOB_SECONDS = 0.5  # each job runs this long: some finish, and must be acknowledged, while full
FULL_SECONDS = 2.0  # how long the disk stays full (refusing) before space is freed
RECOVERY_SECONDS = 5.0
#: events that mean something broke inside the process (not merely "the store refused")


# -- the mappings -----------------------------------------------------------------------------


def test_sqlite_full_is_store_full_a_kind_of_unavailable() -> None:
    """A real SQLITE_FULL (the database at its page limit: the same result code as a full
    disk) becomes ``StoreFull``; a busy database stays plain ``StoreUnavailable``."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA max_page_count = 3")
    with pytest.raises(sqlite3.OperationalError) as raised:
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 50_000,))
    assert raised.value.sqlite_errorname == "SQLITE_FULL"
    full = translate_sqlite(raised.value)
    assert isinstance(full, StoreFull) and isinstance(full, StoreUnavailable)
    assert "disk holding the database is full" in str(full)
    busy = sqlite3.OperationalError("database is locked")
    assert type(translate_sqlite(busy)) is StoreUnavailable


def test_postgres_disk_full_is_store_full() -> None:
    """SQLSTATE 53100 (``could not extend file``, ``could not write to file``) is
    ``StoreFull``; other resource errors (53200 out of memory) stay ``StoreUnavailable``."""
    disk_full = psycopg.errors.DiskFull(
        'could not extend file "base/16384/16385": No space left on device'
    )
    assert disk_full.sqlstate == "53100"
    full = translate_postgres(disk_full)
    assert isinstance(full, StoreFull)
    assert "disk is full" in str(full) and "No space left on device" in str(full)
    assert type(translate_postgres(psycopg.errors.OutOfMemory("out of memory"))) is (
        StoreUnavailable
    )
    assert type(translate_postgres(psycopg.errors.AdminShutdown("terminating"))) is (
        StoreUnavailable
    )


def test_the_api_answers_507_storage_full() -> None:
    """The one status map: ``StoreFull`` before ``StoreUnavailable`` (first match wins)."""
    [status] = [(s, c) for cls, s, c in ERROR_STATUS if cls is StoreFull]
    assert status == (507, "storage_full")
    order = [cls for cls, _, _ in ERROR_STATUS]
    assert order.index(StoreFull) < order.index(StoreUnavailable)


# -- a real full disk under SQLite ------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs at ``tmp_path/disk``, unmounted at the end (the test stops the processes
    using it first)."""
    # Mounting needs root (CI runs as root); elsewhere the test cannot make a full disk.
    if os.geteuid() != 0:
        pytest.skip("filling a disk needs root to mount a small tmpfs")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mount_tmpfs(mountpoint, "mode=0755")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], timeout=30, check=False)


def fill(mountpoint: Path, *, leave: int) -> Path:
    """A filler file taking all but ``leave`` bytes of the disk's free space."""
    stats = os.statvfs(mountpoint)
    free = stats.f_bavail * stats.f_frsize
    filler = mountpoint / "filler"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_full_disk_refuses_with_507_keeps_nothing_partial_and_recovers(
    small_disk: Path,
    tmp_path: Path,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    db = small_disk / "jobq.db"
    url = f"sqlite:///{db}"
    ledger = tmp_path / "ledger.jsonl"
    launch = launcher(processes, tmp_path, url, ledger)
    args = "serve --port 0 --workers 2 --queue-capacity 2 --poll-interval 0.2 --lease-seconds 4"
    serve = launch("serve", args)
    try:
        await run_until_full_and_back(serve, small_disk, db, url, ledger, request)
    finally:  # nothing may hold the tmpfs when it is unmounted
        serve.stop()


async def run_until_full_and_back(
    serve: JobqProcess,
    disk: Path,
    db: Path | None,
    url: str,
    ledger: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Fill ``disk`` under ``serve``, check every answer, free it, check the recovery and the
    store. ``db``: the SQLite file (checked with ``PRAGMA integrity_check``), or None."""
    port = await serve.port()
    filler = fill(disk, leave=HEADROOM)
    sent: dict[str, dict[str, Any]] = {}  # job id -> the payload it was accepted with
    answers: Counter[int] = Counter()
    refusals: list[dict[str, Any]] = []

    async def post(http: httpx.AsyncClient, n: int, *, priority: int = 0) -> httpx.Response:
        # random hex: PostgreSQL would compress a repeated character to nothing
        payload = {"seconds": JOB_SECONDS, "n": n, "pad": secrets.token_hex(PAD // 2)}
        job = {"type": "ledger.sleep", "payload": payload, "priority": priority}
        answer = await http.post("/jobs", json=job)
        answers[answer.status_code] += 1
        if answer.status_code == 201:
            sent[answer.json()["id"]] = payload
        else:
            assert answer.status_code in (503, 507), (answer.status_code, answer.text)
            assert answer.headers.get("retry-after"), answer.headers
            error = answer.json()["error"]
            refusals.append(error)
            expected = {507: "storage_full", 503: "store_unavailable"}[answer.status_code]
            assert error["code"] == expected, error
        return answer

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        # Fill the disk: post until refused for FULL_SECONDS (and ten times at least).
        n = 0
        first_refusal: float | None = None
        deadline = time.monotonic() + 45
        while (
            first_refusal is None
            or len(refusals) < 10
            or time.monotonic() < first_refusal + FULL_SECONDS
        ):
            assert time.monotonic() < deadline, f"the disk never filled: {dict(answers)}"
            n += 1
            answer = await post(http, n)
            if answer.status_code != 201:
                first_refusal = first_refusal or time.monotonic()
                await asyncio.sleep(0.1)
        full_for = time.monotonic() - first_refusal
        assert answers[507] > 0, f"a full disk is 507 storage_full: {dict(answers)}"
        full = next(r for r in refusals if r["code"] == "storage_full")
        assert "full" in full["message"] and "free space" in full["message"], full
        # The process is fine, only its disk is not; reads still work.
        assert serve.proc.poll() is None, serve.log_text()[-3000:]
        assert (await http.get("/health")).status_code == 200
        some = next(iter(sent))
        read = await http.get(f"/jobs/{some}")
        assert read.status_code == 200 and read.json()["payload"] == sent[some], read.text
        accepted_while_full = len(sent)

        # Free the space: within 5 s a new job is accepted, the pool claims again, and the new
        # job (ahead of the backlog by its priority) has run.
        freed_at = time.monotonic()
        filler.unlink()
        first_ok: float | None = None
        while first_ok is None:
            assert time.monotonic() - freed_at < RECOVERY_SECONDS, (
                f"no 201 within {RECOVERY_SECONDS} s of freeing space: {refusals[-1]}"
            )
            n += 1
            if (await post(http, n, priority=10)).status_code == 201:
                first_ok = time.monotonic()
            else:
                await asyncio.sleep(0.1)
        probe = list(sent)[-1]

        async def probe_ran() -> bool:
            job = (await http.get(f"/jobs/{probe}")).json()
            return bool(job["status"] == JobState.SUCCEEDED.value)

        await wait_for(
            probe_ran, timeout=RECOVERY_SECONDS, interval=0.05, what="a job after the outage"
        )
        processed_at = time.monotonic()
        resumed_at = min(r["t"] for r in read_ledger(ledger) if r["t"] > freed_at)

        # Every accepted job ends succeeded (some acks waited out the outage, and their
        # leases, which run for 4 s).
        async def drained() -> bool:
            totals = (await http.get("/stats")).json()["totals"]
            return bool(totals["succeeded"] == len(sent))

        await wait_for(drained, timeout=40, interval=0.2, what="every accepted job to succeed")

    events = Counter(e["event"] for e in serve.events())
    serve.signal(signal.SIGTERM)
    assert await serve.wait_exit(30) == 0, serve.log_text()[-3000:]
    async with ledger_queue(url) as reader:
        verdict = await check(
            reader.store,
            read_ledger(ledger),
            accepted=sent,
            processes=[serve],
            server_errors=sum(v for k, v in answers.items() if k >= 500 and k not in (503, 507)),
        )
        rows = await stored(reader)

    integrity = None
    if db is not None:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            [(integrity,)] = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()

    figures = {
        **verdict.figures,
        "answers": {str(k): v for k, v in sorted(answers.items())},
        "accepted_while_filling": accepted_while_full,
        "refused_for_s": round(full_for, 3),
        "first_201_after_free_s": round(first_ok - freed_at, 3),
        "first_start_after_free_s": round(resumed_at - freed_at, 3),
        "probe_done_after_free_s": round(processed_at - freed_at, 3),
        "rows": rows,
        "integrity": integrity,
        "store_events": {
            e: events[e]
            for e in ("claim_failed", "ack_retry", "ack_failed", "heartbeat_failed")
            if events[e]
        },
    }
    write_figures(figures, request, backend="sqlite" if db is not None else "postgres")

    assert not BROKEN & set(events), dict(events)
    assert verdict.figures["server_errors"] == 0
    assert rows == len(sent), "one row per 201, none for a refusal"
    assert integrity in ("ok", None)
    for job_id, payload in sent.items():  # every accepted job whole and readable
        assert verdict.jobs[job_id].payload == payload, job_id
    assert verdict.figures["lost"] == 0, verdict.sample("lost")
    assert verdict.figures["stuck"] == 0, verdict.sample("stuck")
    assert verdict.figures["completed_twice"] == 0, verdict.sample("completed_twice")
    assert verdict.figures["double_claim"] == 0, verdict.sample("double_claim")
    assert verdict.figures["statuses"] == {"succeeded": len(sent)}
    logged = serve.find("request_failed", code="storage_full")
    assert logged, "a refusal for a full disk is logged"


# -- a real full disk under PostgreSQL --------------------------------------------------------


def mount_tmpfs(mountpoint: Path, options: str) -> None:
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},{options}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")


@pytest.fixture
def pg_small_disk(pg_url: str) -> Iterator[tuple[Path, str]]:
    """A tablespace on a 16 MiB tmpfs, and ``pg_url`` creating its tables there: (the
    mountpoint, the URL). At the end the schema's tables, the tablespace and the mount go."""
    if os.geteuid() != 0:  # mounting needs root (CI runs as root)
        pytest.skip("filling a disk needs root to mount a small tmpfs")
    dsn = postgres_dsn()
    if urlsplit(dsn).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("a tablespace on a tmpfs of this machine needs the server on this machine")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        assert row is not None
        owner = os.stat(str(row[0]))
    # Not under pytest's tmp_path: the server's user must reach the directory.
    mountpoint = Path(tempfile.mkdtemp(prefix="jobq-fault-pg-", dir="/tmp"))
    tablespace = f"jobq_fault_{secrets.token_hex(4)}"
    schema = pg_url.rsplit("%3D", 1)[1]
    try:
        mount_tmpfs(mountpoint, f"mode=0700,uid={owner.st_uid},gid={owner.st_gid}")
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    pgsql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                        pgsql.Identifier(tablespace), pgsql.Literal(str(mountpoint))
                    )
                )
            try:
                yield mountpoint, f"{pg_url}%20-cdefault_tablespace%3D{tablespace}"
            finally:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    for statement in (
                        "DROP SCHEMA {} CASCADE",  # its tables are in the tablespace
                        "CREATE SCHEMA {}",  # for pg_url's own teardown to drop
                    ):
                        conn.execute(pgsql.SQL(statement).format(pgsql.Identifier(schema)))
                    conn.execute(
                        pgsql.SQL("DROP TABLESPACE {}").format(pgsql.Identifier(tablespace))
                    )
        finally:
            subprocess.run(["umount", str(mountpoint)], timeout=30, check=False)
    finally:
        mountpoint.rmdir()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_full_disk_under_postgres_refuses_with_507_and_recovers(
    pg_small_disk: tuple[Path, str],
    tmp_path: Path,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    """The same on PostgreSQL: its tables live in a tablespace on the small tmpfs, so extending
    a table fails with SQLSTATE 53100 (``could not extend file``) as on a full data disk."""
    disk, url = pg_small_disk
    ledger = tmp_path / "ledger.jsonl"
    launch = launcher(processes, tmp_path, url, ledger)
    args = "serve --port 0 --workers 2 --queue-capacity 2 --poll-interval 0.2 --lease-seconds 4"
    serve = launch("serve", args)
    try:
        await run_until_full_and_back(serve, disk, None, url, ledger, request)
    finally:
        serve.stop()
