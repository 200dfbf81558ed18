"""Job ids (UUIDv7, time-sortable) and worker ids."""

from __future__ import annotations

import itertools
import os
import re
import socket
import time
import types
import uuid

import pytest

from jobq.domain import ids
from jobq.domain.ids import new_job_id, new_pool_id, parse_job_id, slot_id

CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_job_id_is_canonical_uuid7() -> None:
    for _ in range(100):
        text = new_job_id()
        assert isinstance(text, str)
        assert CANONICAL.match(text), text
        value = uuid.UUID(text)
        assert str(value) == text
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_timestamp_prefix_is_now() -> None:
    before = time.time() * 1000
    text = new_job_id()
    after = time.time() * 1000
    ms = uuid.UUID(text).int >> 80
    assert before - 1 <= ms <= after + 5
    assert int(text[:8] + text[9:13], 16) == ms


def test_ten_thousand_ids_unique_and_increasing() -> None:
    made = [new_job_id() for _ in range(10_000)]
    assert len(set(made)) == 10_000
    for earlier, later in itertools.pairwise(made):
        assert earlier < later
    first_ms = uuid.UUID(made[0]).int >> 80
    last_ms = uuid.UUID(made[-1]).int >> 80
    assert abs(last_ms - time.time() * 1000) < 1000
    assert first_ms <= last_ms


def _frozen_time(monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    monkeypatch.setattr(ids, "time", types.SimpleNamespace(time_ns=lambda: ns))


def test_ids_increase_when_counter_is_exhausted(monkeypatch: pytest.MonkeyPatch) -> None:
    # A frozen clock: one millisecond holds at most 4096 ids, then the next one is borrowed.
    _frozen_time(monkeypatch, time.time_ns())
    made = [new_job_id() for _ in range(5_000)]
    assert all(a < b for a, b in itertools.pairwise(made))
    assert len(set(made)) == len(made)
    assert all(uuid.UUID(m).version == 7 for m in made)


def test_ids_increase_when_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_job_id()
    _frozen_time(monkeypatch, time.time_ns() - 5_000_000_000)
    second = new_job_id()
    third = new_job_id()
    assert first < second < third


def test_a_forked_child_draws_random_bits_of_its_own() -> None:
    """Random bits are read from the OS a chunk at a time; a child of ``fork`` must not reuse
    what its parent read and left unused, or parent and child would make ids with the same
    random part."""
    new_job_id()  # the parent has a chunk, mostly unused
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        try:
            os.write(write_end, ",".join(new_job_id() for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        theirs = pipe.read().split(",")
    assert os.waitpid(child, 0)[1] == 0
    ours = [new_job_id() for _ in range(50)]
    random_part = (1 << 62) - 1
    assert len(theirs) == 50
    assert not {uuid.UUID(t).int & random_part for t in theirs} & {
        uuid.UUID(o).int & random_part for o in ours
    }


@pytest.mark.parametrize(
    "text",
    [
        "0190F3A2-7B1C-7ABC-8DEF-0123456789AB",
        "0190f3a27b1c7abc8def0123456789ab",
        "0190F3A27B1C7ABC8DEF0123456789AB",
        "{0190f3a2-7b1c-7abc-8def-0123456789ab}",
        "0190f3a2-7b1c-7abc-8def-0123456789ab",
    ],
)
def test_parse_job_id_returns_canonical(text: str) -> None:
    assert parse_job_id(text) == "0190f3a2-7b1c-7abc-8def-0123456789ab"


def test_parse_job_id_round_trips_new_ids() -> None:
    made = new_job_id()
    assert parse_job_id(made) == made
    assert parse_job_id(made.upper().replace("-", "")) == made


@pytest.mark.parametrize(
    "text",
    [
        "",
        "junk",
        "0190f3a2-7b1c-7abc-8def-0123456789a",  # one digit short
        "0190f3a2-7b1c-7abc-8def-0123456789abc",  # one digit long
        "0190f3a2-7b1c-7abc-8def-0123456789ag",  # not hex
        "1; DROP TABLE jobs",
    ],
)
def test_parse_job_id_refuses_junk(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_job_id(text)


def test_owner_id_format() -> None:
    owner = new_pool_id()
    host, pid, suffix = owner.split(":")
    assert host == (socket.gethostname().split(".")[0] or "host")
    assert "." not in host
    assert pid == str(os.getpid())
    assert re.fullmatch(r"[0-9a-f]{6}", suffix)


def test_owner_ids_differ() -> None:
    assert len({new_pool_id() for _ in range(50)}) == 50


def test_slot_id() -> None:
    assert slot_id(ids.WorkerId("h:1:abcdef"), 3) == "h:1:abcdef/w3"
    assert slot_id(ids.WorkerId("h:1:abcdef"), 0) == "h:1:abcdef/w0"
