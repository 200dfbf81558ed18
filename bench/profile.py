"""``python -m bench.profile [sqlite|postgres]`` (``make profile``): where a worker's time goes.

One ``jobq worker`` process (10 workers, logging at WARNING) drains ``JOBS`` waiting no-op jobs
under py-spy, sampling every thread ``RATE`` times a second; leaving out threads that wait for
work and the process's start-up, it prints the share of the busy samples each part of the
stack holds itself (jobq, the driver, asyncio, logging...) and the functions that hold most.
A second drain, the same, writes the flame graph ``bench/profile-<store>.svg``.

Needs py-spy (in the ``dev`` extra) and the right to trace a child process (root, or
``kernel.yama.ptrace_scope`` 0).
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import harness

JOBS = harness.scaled(20_000)
RATE = 250
HERE = Path(__file__).resolve().parent
TOP = 25


def _worker_command(out: Path, fmt: str) -> list[str]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [
        py_spy,
        "record",
        "--rate",
        str(RATE),
        "--threads",
        "--format",
        fmt,
        "--output",
        str(out),
        "--",
        sys.executable,
        "-m",
        "jobq",
        "worker",
        "--app",
        "bench.app:registry",
    ]


def _start(out: Path, fmt: str, url: str) -> harness.Process:
    spy = subprocess.Popen(
        _worker_command(out, fmt),
        env=harness.environment(url, None),
        cwd=harness.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return harness.Process(spy, "py-spy record")


def _stop_worker(spy: harness.Process) -> None:
    """py-spy writes its file when the worker ends: stop the worker (py-spy's child, found by
    its parent's PID), then wait for py-spy."""
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(spy.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    for child in children:
        os.kill(int(child), signal.SIGTERM)
    spy.popen.wait(60)


async def _record(store: str, out: Path, fmt: str) -> float:
    """Drain ``JOBS`` jobs under py-spy, which writes ``out`` in ``fmt``; the drain rate."""
    async with harness.database(store) as url, harness.queue(url) as jq:
        await jq.enqueue_many(harness.noop_jobs(jq, JOBS))
        spy = _start(out, fmt, url)
        with harness.processes([spy]):
            await harness.wait_finished(jq, JOBS, [spy], timeout=300)
            _stop_worker(spy)
        first, last, _ = await harness.attempt_window(url)
    return JOBS / (last - first)


#: a thread waiting for work, not doing any: left out of the shares
IDLE = ("EpollSelector.select", "Condition.wait", "_worker (concurrent/futures/thread.py:81)")
#: the process starting up (imports, schema building): left out too
STARTUP = ("_find_and_load", "_run_module_as_main (<frozen runpy>:189)")
#: what a frame's file says it belongs to, first match wins
PARTS = (
    ("jobq/store/", "jobq: stores (SQL, rows)"),
    ("jobq/worker/", "jobq: pool, runner, acknowledger"),
    ("jobq/", "jobq: other"),
    ("psycopg", "psycopg (driver)"),
    ("asyncio/", "asyncio (event loop, tasks)"),
    ("concurrent/futures", "threads (executor hand-offs)"),
    ("threading.py", "threads (executor hand-offs)"),
    ("structlog", "structlog (log calls)"),
    ("prometheus_client", "prometheus_client (metrics)"),
    ("json/", "json"),
    ("dataclasses", "dataclasses"),
)


def _part(frame: str) -> str:
    for marker, name in PARTS:
        if marker in frame:
            return name
    return "other"


def shares(
    raw: Path,
) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """(busy samples, top functions by own samples, parts by own samples) of a py-spy raw
    (collapsed) file, leaving out idle waits and start-up."""
    own: collections.Counter[str] = collections.Counter()
    parts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if leaf.startswith(IDLE) or any(f.startswith(STARTUP) for f in frames):
            continue
        samples = int(count)
        total += samples
        own[leaf] += samples
        parts[_part(leaf)] += samples
    if total == 0:
        return 0, [], []

    def top(counter: collections.Counter[str], n: int) -> list[tuple[str, float]]:
        return [(frame, samples / total) for frame, samples in counter.most_common(n)]

    return total, top(own, TOP), top(parts, len(PARTS) + 1)


def main(argv: list[str]) -> int:
    from jobq.logs import configure_logging

    configure_logging("WARNING", "console", stream=sys.stderr)
    for store in argv or list(harness.STORES):
        with tempfile.TemporaryDirectory(prefix="jobq-profile-") as directory:
            raw = Path(directory) / "stacks.txt"
            rate = asyncio.run(_record(store, raw, "raw"))
            total, own, parts = shares(raw)
        print(f"{store}: {JOBS:,} no-op jobs, one worker process, {rate:,.0f} jobs/s")
        print(
            f"{total:,} busy samples at {RATE}/s over every thread (idle waits, start-up left out)"
        )
        for title, rows in (("by part, own samples", parts), ("top functions, own samples", own)):
            print(f"-- {title}")
            for frame, share in rows:
                print(f"{share:6.1%}  {frame}")
        svg = HERE / f"profile-{store}.svg"
        asyncio.run(_record(store, svg, "flamegraph"))
        print(f"flame graph: {svg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
