"""The SQLite store's own promises: durable settings, versioned schema, indexed claim, and an
event loop that never waits on SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import StoreError
from jobq.store import open_store, schema_status
from jobq.store.sqlite import SQLiteStore
from jobq.store.sqlite.migrate import latest_version, statements
from tests.contract.support import OWNER, add, claim, new
from tests.helpers import LoopTicks


async def test_pragmas_are_durable(db_path: Path) -> None:
    store = await SQLiteStore.open(str(db_path))
    try:

        def read(conn: sqlite3.Connection) -> tuple[str, int, int]:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            sync = conn.execute("PRAGMA synchronous").fetchone()[0]
            keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
            return mode, sync, keys

        for connection in (store.db.writer, store.db.reader):
            assert await connection.read(read) == ("wal", 2, 1)  # 2 = FULL
    finally:
        await store.close()


async def test_schema_version_is_recorded_and_migrations_apply_once(db_path: Path) -> None:
    first = await SQLiteStore.open(str(db_path))
    await first.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version() >= 1
    # Opening again (ten at once, as processes starting together would) changes nothing.
    stores = await asyncio.gather(*(SQLiteStore.open(str(db_path)) for _ in range(10)))
    for store in stores:
        assert store.schema_version == latest_version()
        await store.close()


async def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    """Processes starting together on a new file: each open switches it to WAL and migrates it,
    and none may fail for the lock the others hold (20 new files, 8 opens at once on each)."""
    for round_ in range(20):
        path = str(tmp_path / f"fresh-{round_}.db")
        stores = await asyncio.gather(*(SQLiteStore.open(path) for _ in range(8)))
        for store in stores:
            await store.close()
        with sqlite3.connect(path) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert sorted(tables) == [
            "api_tokens",
            "attempts",
            "ended_parents",
            "job_counts",
            "job_edges",
            "job_types",
            "jobs",
            "limit_starts",
            "limits",
            "processes",
            "queue_pauses",
            "schedule_ticks",
            "schedules",
            "type_retention",
            "workflows",
        ]


async def test_a_newer_schema_is_refused(db_path: Path) -> None:
    await (await SQLiteStore.open(str(db_path))).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    with pytest.raises(StoreError, match="newer than this jobq knows"):
        await SQLiteStore.open(str(db_path))


async def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not a directory"):
        await open_store(f"sqlite:///{tmp_path}/no/such/dir/jobq.db")


def test_migration_scripts_split_into_statements() -> None:
    found = statements("-- a comment\nCREATE TABLE a (x);\n\nCREATE INDEX i ON a (x);\n")
    assert [s.splitlines()[-1] for s in found] == [
        "CREATE TABLE a (x);",
        "CREATE INDEX i ON a (x);",
    ]


async def test_claim_reads_the_partial_due_index(db_path: Path) -> None:
    """The claim must walk the due-jobs index, not scan the table or sort: its cost must not
    grow with finished jobs."""
    store = await SQLiteStore.open(str(db_path))
    await add(store, *(new(queue=f"q{i % 3}") for i in range(300)))
    await store.close()
    from jobq.store.claim import ClaimShape
    from jobq.store.sqlite.claims import claim_sql

    params = {"owner": "o", "now": 0, "lease_until": 1, "limit": 10, "queue0": "q0", "queue1": "q1"}
    with sqlite3.connect(db_path) as conn:
        conn.execute("ANALYZE")  # with statistics too, the plan must not change
        for queues, index in ((None, "jobs_due"), (1, "jobs_queue_due"), (2, "jobs_due")):
            sql = "EXPLAIN QUERY PLAN " + claim_sql(ClaimShape(queue_count=queues))
            plan = " | ".join(row[3] for row in conn.execute(sql, params))
            assert f"USING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        # around a paused queue: an arm per (type, queue) pair, each on the pairs' index
        pairs = {"pair_type0": "echo", "pair_queue0": "q0"}
        pairs |= {"pair_type1": "echo", "pair_queue1": "q1"}
        shape = ClaimShape(queue_count=2, type_count=1, pair_count=2)
        sql = "EXPLAIN QUERY PLAN " + claim_sql(shape)
        plan = " | ".join(row[3] for row in conn.execute(sql, params | pairs))
        assert plan.count("USING INDEX jobs_type_queue_due (type=? AND queue=?") == 2, plan


async def test_the_event_loop_keeps_running_while_sqlite_waits(db_path: Path) -> None:
    """Another connection holds the write lock for 0.5 s; our claim waits in its thread while
    the loop goes on ticking."""
    store = await SQLiteStore.open(str(db_path), clock=FakeClock())
    try:
        await add(store, new())
        blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, blocker.execute, "COMMIT")
        async with LoopTicks() as ticks:
            started = time.monotonic()
            claimed = await claim(store, OWNER, limit=1)
            waited = time.monotonic() - started
        blocker.close()
        assert len(claimed) == 1
        assert waited >= 0.4  # it really waited for the lock ...
        assert ticks.count >= 20  # ... and the loop ran meanwhile (50 ticks if never blocked)
    finally:
        await store.close()


async def test_a_file_that_is_no_database_is_a_store_error_when_its_schema_is_read(
    db_path: Path,
) -> None:
    """``jobq migrate --check`` reads the file itself: SQLite's own errors must still come out
    as jobq's, as from every other call of the store (a full disk: ``StoreFull``)."""
    db_path.write_bytes(b"this is not a SQLite database, though it is long enough to look" * 8)
    with pytest.raises(StoreError, match="cannot read the SQLite database") as raised:
        await schema_status(f"sqlite:///{db_path}")
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
