"""The workloads of the peer benchmark, the same for every contender. Each takes a contender
and a fresh target and returns its figures for one round.

- ``enqueue_batch``: 20,000 no-op jobs from Python, in batches of 1,000 where the queue has a
  batch call (Huey has none: one call each), jobs/s;
- ``enqueue_one``: 1,000 no-op jobs, one call each, nobody working: the call's p50, ms;
- ``drain``: 20,000 no-op jobs waiting, then 2 worker processes of 10 workers: jobs/s from the
  first job done to the last (``drain``), and from starting the processes (``drain_cold``);
  their difference is the processes' start-up (``startup_s``);
- ``sleep``: 2,000 jobs of 10 ms waiting, one process of 10 workers: jobs/s (at most 1,000);
- ``latency``: one idle worker process; 200 jobs one at a time, each when the last has
  started: enqueue -> handler start, p50 and p99, ms;
- ``cold_start``: one job waiting; from starting one worker process to that job's start, s.

When a job ran is read from a pipe its handler writes to (``tally.py``), never from a store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.harness import scaled
from bench.peers.contenders import Contender
from bench.peers.tally import Tally

DRAIN_JOBS = scaled(20_000)
SLEEP_JOBS = scaled(2_000)
ENQUEUE_ONE_JOBS = scaled(1_000)
LATENCY_JOBS = scaled(200)
COLLECT_TIMEOUT = 600.0


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    unit: str
    higher_is_better: bool


FIGURES = (
    Figure("enqueue_batch", "batch enqueue, Python", "jobs/s", True),
    Figure("enqueue_one_p50", "one enqueue call, p50", "ms", False),
    Figure("drain", f"drain {DRAIN_JOBS:,} no-op, 2 processes (first to last job)", "jobs/s", True),
    Figure("drain_cold", "the same from starting the processes", "jobs/s", True),
    Figure("startup_s", "worker processes' start-up in the drain", "s", False),
    Figure("sleep", f"{SLEEP_JOBS:,} x 10 ms, concurrency 10", "jobs/s", True),
    Figure("latency_p50", "enqueue -> start, idle worker, p50", "ms", False),
    Figure("latency_p99", "enqueue -> start, idle worker, p99", "ms", False),
    Figure("cold_start_s", "worker process start -> first job started", "s", False),
)


def _driver(contender: Contender, target: str, *args: str, pass_fds: Sequence[int] = (),
            env: dict[str, str] | None = None) -> dict[str, float]:  # fmt: skip
    command = [str(contender.python()), *contender.driver, args[0], target, *args[1:]]
    done = subprocess.run(
        command,
        env={**os.environ, **contender.env(target), **(env or {})},
        capture_output=True,
        text=True,
        timeout=COLLECT_TIMEOUT,
        pass_fds=tuple(pass_fds),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{contender.name} {args[0]} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


class Workers:
    """Worker processes of one contender writing to ``tally``; ended by their own PID."""

    def __init__(self, contender: Contender, target: str, tally: Tally) -> None:
        self._contender, self._target, self._tally = contender, target, tally
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, concurrency: int) -> None:
        python = str(self._contender.python())
        env = {
            **os.environ,
            **self._contender.env(self._target),
            **self._tally.env(),
            "BENCH_CONCURRENCY": str(concurrency),  # handlers at once, per process
        }
        for _ in range(count):
            self.processes.append(
                subprocess.Popen(
                    [python, *self._contender.worker(self._target, concurrency)],
                    env=env,
                    pass_fds=(self._tally.write_fd,),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        self._tally.started_writers()

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _run_workers(contender: Contender, target: str, count: int, concurrency: int,
                 jobs: int) -> tuple[float, list[float]]:  # fmt: skip
    """Start the processes, wait for ``jobs`` records: (when they were started, arrivals)."""
    tally = Tally()
    workers = Workers(contender, target, tally)
    contender.python()  # its environment made and checked before the clock starts
    try:
        began = time.monotonic()
        workers.start(count, concurrency)
        arrivals = tally.collect(jobs, COLLECT_TIMEOUT, workers.alive)
        return began, [a.at for a in arrivals]
    finally:
        workers.stop()
        tally.close()


def enqueue_batch(contender: Contender, target: str) -> dict[str, float]:
    _driver(contender, target, "setup")
    return {"enqueue_batch": _driver(contender, target, "enqueue-batch", str(DRAIN_JOBS))[
        "jobs_per_s"]}  # fmt: skip


def enqueue_one(contender: Contender, target: str) -> dict[str, float]:
    _driver(contender, target, "setup")
    found = _driver(contender, target, "enqueue-one", str(ENQUEUE_ONE_JOBS))
    return {"enqueue_one_p50": found["p50_ms"]}


def drain(contender: Contender, target: str) -> dict[str, float]:
    _driver(contender, target, "setup")
    _driver(contender, target, "fill", str(DRAIN_JOBS), "noop")
    began, arrivals = _run_workers(contender, target, 2, 10, DRAIN_JOBS)
    first_to_last = arrivals[-1] - arrivals[0]
    from_start = arrivals[-1] - began
    return {
        "drain": (DRAIN_JOBS - 1) / first_to_last,
        "drain_cold": DRAIN_JOBS / from_start,
        "startup_s": from_start - first_to_last,
    }


def sleep(contender: Contender, target: str) -> dict[str, float]:
    _driver(contender, target, "setup")
    _driver(contender, target, "fill", str(SLEEP_JOBS), "sleep10")
    _, arrivals = _run_workers(contender, target, 1, 10, SLEEP_JOBS)
    return {"sleep": (SLEEP_JOBS - 1) / (arrivals[-1] - arrivals[0])}


def latency(contender: Contender, target: str) -> dict[str, float]:
    _driver(contender, target, "setup")
    tally = Tally()
    workers = Workers(contender, target, tally)
    try:
        workers.start(1, 10)
        _driver(contender, target, "fill", "1", "noop")  # the worker is up once this ran
        tally.collect(1, COLLECT_TIMEOUT, workers.alive)
        found = _driver(
            contender,
            target,
            "latency",
            str(LATENCY_JOBS),
            pass_fds=(tally.read_fd,),
            env={"BENCH_TALLY_READ_FD": str(tally.read_fd)},
        )
        return {"latency_p50": found["p50_ms"], "latency_p99": found["p99_ms"]}
    finally:
        workers.stop()
        tally.close()


def cold_start(contender: Contender, target: str) -> dict[str, float]:
    _driver(contender, target, "setup")
    _driver(contender, target, "fill", "1", "noop")
    began, arrivals = _run_workers(contender, target, 1, 10, 1)
    return {"cold_start_s": arrivals[0] - began}


Workload = Callable[[Contender, str], dict[str, float]]
WORKLOADS: tuple[Workload, ...] = (enqueue_batch, enqueue_one, drain, sleep, latency, cold_start)
