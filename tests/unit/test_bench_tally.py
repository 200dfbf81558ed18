"""The peer benchmark's tally (``bench/peers/tally.py``): every handler of every queue reports a
job by writing 8 bytes to one pipe, from many processes at once; the benchmark must count
each record once, whole, and must not wait for records a dead worker will never write."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from bench.peers.tally import Tally

WRITER = """
import os, struct, sys, time
fd = int(os.environ["BENCH_TALLY_FD"])
for n in range(int(sys.argv[1])):
    os.write(fd, struct.pack("<d", float(sys.argv[2]) + n))
"""


def test_records_of_many_processes_arrive_whole_and_once() -> None:
    tally = Tally()
    try:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, "500", str(base)],
                env=tally.env(),
                pass_fds=(tally.write_fd,),
            )
            for base in (1_000_000, 2_000_000, 3_000_000)
        ]
        arrivals = tally.collect(1_500, timeout=60)
        for writer in writers:
            assert writer.wait(30) == 0
    finally:
        tally.close()
    values = sorted(a.started for a in arrivals)
    expected = sorted(
        float(base + n) for base in (1_000_000, 2_000_000, 3_000_000) for n in range(500)
    )
    assert values == expected
    assert all(a.at <= b.at for a, b in itertools.pairwise(arrivals))


def test_a_wait_ends_when_the_writers_are_gone() -> None:
    tally = Tally()
    try:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, "3", "0"], env=tally.env(), pass_fds=(tally.write_fd,)
        )
        assert writer.wait(30) == 0
        with pytest.raises(RuntimeError, match="ended after 3 jobs"):
            tally.collect(10, timeout=60, alive=lambda: writer.poll() is None)
    finally:
        tally.close()
