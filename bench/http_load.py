"""W6, HTTP: ``POST /jobs`` requests/s, and the median and 99th-percentile latency, under 50
concurrent clients.

One ``jobq serve`` (the API alone, no workers) on a fresh database and a free loopback port;
wrk (Debian's package, installed by ``scripts/ensure_wrk.sh``) holds 50 keep-alive connections
open from 2 threads and sends, on each, ``POST /jobs`` with ``Content-Type: application/json``
and the body ``{"type":"noop","payload":{"n":1}}`` as soon as the answer to the one before
arrives (a closed loop: 50 requests in flight at all times). Every request is one job stored in
one durable transaction before the 201 goes out, so the store's one-row insert (W0
``insert_1``) bounds the rate.

A 2 s warm-up run comes first and its figures are discarded; then the measured run, 10 s at
scale 1 (``JOBQ_BENCH_SCALE``; at least 2 s). The figures are wrk's own: requests/s is the
requests answered over the run's length, and the latencies (from a request's send to its
answer's end, on wrk's side of loopback) are wrk's 50% and 99% percentiles of ``--latency``.

The round fails if any request failed (a socket error or wrk's timeout) or was answered other
than 201, counted per status by a Lua ``response`` hook, and if the jobs the store holds do not
match the 201s: at least as many, and no more than one per connection beyond (a request still
in flight when wrk stops may yet be stored, its answer unread).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import harness

CONNECTIONS = 50
THREADS = 2
WARMUP_SECONDS = 2
SECONDS = max(2, harness.scaled(10))
#: wrk counts a request unanswered this long as a timeout (an error here); its default is 2 s
REQUEST_TIMEOUT = 10
BODY = '{"type":"noop","payload":{"n":1}}'

FIGURES = {
    "post_jobs_rps": harness.Figure("req/s", ceiling="fastapi_bare_rps"),
    "fastapi_bare_rps": harness.Figure("req/s", ceiling="insert_1"),
    "post_jobs_p50_ms": harness.Figure("ms", higher_is_better=False, digits=2),
    "post_jobs_p99_ms": harness.Figure("ms", higher_is_better=False, digits=2),
}

# The request, and a count of answers by status: each thread counts in its own Lua state,
# ``done`` adds the counts up (``setup`` keeps every thread for it) and prints them.
SCRIPT = """\
wrk.method = "POST"
wrk.body = [[@BODY@]]
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  for status, n in pairs(totals) do
    io.write(string.format("jobq-status %d %d\\n", status, n))
  end
end
""".replace("@BODY@", BODY)

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass(frozen=True, slots=True)
class WrkRun:
    """What one wrk run reported."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    statuses: dict[int, int]

    def check(self) -> None:
        """Raise unless every request completed and was answered 201."""
        problems = []
        if any(self.socket_errors.values()):
            problems.append(f"socket errors {self.socket_errors}")
        if self.non_2xx_3xx:
            problems.append(f"{self.non_2xx_3xx} answers not 2xx or 3xx")
        if set(self.statuses) - {201}:
            problems.append(f"answers by status {self.statuses}")
        if self.statuses.get(201, 0) != self.requests:
            problems.append(f"{self.statuses.get(201, 0)} answers 201 of {self.requests}")
        if problems:
            raise RuntimeError("POST /jobs under wrk: " + "; ".join(problems))


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNIT_MS[match[2]]


def _search(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk's output has no line matching {pattern!r}:\n{output}")
    return match


def parse(output: str) -> WrkRun:
    """The figures in the report of ``wrk --latency`` with the script above."""
    done = _search(r"^\s*(\d+) requests in ([\d.]+\w+),", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkRun(
        requests=int(done[1]),
        seconds=_milliseconds(done[2]) / 1e3,
        rps=float(_search(r"^Requests/sec:\s+([\d.]+)", output)[1]),
        p50_ms=_milliseconds(_search(r"^\s+50%\s+(\S+)", output)[1]),
        p99_ms=_milliseconds(_search(r"^\s+99%\s+(\S+)", output)[1]),
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
        if errors
        else {},
        statuses={
            int(s): int(n) for s, n in re.findall(r"^jobq-status (\d+) (\d+)$", output, re.M)
        },
    )


def _wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("W6 needs wrk: run `sh scripts/ensure_wrk.sh` (apt-get install wrk)")
    return wrk


async def load(base: str, seconds: int, script: Path) -> WrkRun:
    """One wrk run of ``seconds`` against ``POST {base}/jobs``, checked."""
    command = [
        _wrk(),
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        f"--timeout={REQUEST_TIMEOUT}s",
        "--latency",
        "-s",
        str(script),
        f"{base}/jobs",
    ]
    try:
        finished = await asyncio.to_thread(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            timeout=seconds + REQUEST_TIMEOUT + 30,  # subprocess.run kills wrk past it
        )
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"wrk did not end within {exc.timeout} s") from exc
    if finished.returncode != 0:
        raise RuntimeError(f"wrk exited {finished.returncode}:\n{finished.stderr}{finished.stdout}")
    run = parse(finished.stdout)
    run.check()
    return run


async def _stored(url: str) -> int:
    async with harness.queue(url, pool_size=1) as jq:
        return sum(row.count for row in await jq.counts())


async def _settled(url: str, server: harness.Process, timeout: float = 30.0) -> int:
    """Jobs stored, once the count holds still for 0.5 s: requests wrk left in flight when it
    stopped land (or not) within moments."""
    deadline = time.monotonic() + timeout
    last = await _stored(url)
    while True:
        await asyncio.sleep(0.5)
        server.check_alive()
        now = await _stored(url)
        if now == last:
            return now
        if time.monotonic() > deadline:
            raise TimeoutError(f"the jobs stored still changed {timeout} s after wrk ended")
        last = now


async def http_load(url: str) -> WrkRun:
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory(prefix="jobq-bench-wrk-") as directory,
        harness.processes([harness.api(url, port)]) as (server,),
    ):
        script = Path(directory) / "post_jobs.lua"
        script.write_text(SCRIPT)
        await harness.wait_http(base, server)
        await load(base, WARMUP_SECONDS, script)  # figures discarded
        before = await _settled(url, server)
        run = await load(base, SECONDS, script)
        server.check_alive()
        stored = await _settled(url, server) - before
    if not run.requests <= stored <= run.requests + CONNECTIONS:
        raise RuntimeError(
            f"{stored} jobs stored for {run.requests} answers 201 (and at most {CONNECTIONS} "
            "requests in flight when wrk stopped)"
        )
    return run


def _bare_server(port: int) -> harness.Process:
    command = [sys.executable, "-m", "uvicorn", "bench.bare_api:app", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return harness.Process(subprocess.Popen(command, cwd=harness.ROOT), "bare FastAPI")


async def bare_fastapi() -> WrkRun:
    """The same load on ``bench/bare_api.py``: FastAPI and uvicorn alone, storing nothing."""
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    server = _bare_server(port)
    with (
        tempfile.TemporaryDirectory(prefix="jobq-bench-wrk-") as directory,
        harness.processes([server]),
    ):
        script = Path(directory) / "post_jobs.lua"
        script.write_text(SCRIPT)
        await harness.wait_http(base, server, path="/openapi.json")
        await load(base, WARMUP_SECONDS, script)  # figures discarded
        return await load(base, SECONDS, script)


async def run(store: str) -> dict[str, float]:
    """One round of W6 on ``store``: requests/s and the p50 and p99 latency in ms, and the
    bare FastAPI endpoint's requests/s in the same round (its ceiling)."""
    async with harness.database(store) as url:
        result = await http_load(url)
    bare = await bare_fastapi()
    return {
        "fastapi_bare_rps": bare.rps,
        "post_jobs_rps": result.rps,
        "post_jobs_p50_ms": result.p50_ms,
        "post_jobs_p99_ms": result.p99_ms,
    }
