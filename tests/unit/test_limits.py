"""Limits without a store: what a limit may be (``domain/limits.py``), which one holds, and the
plan of a limited claim (``store/limits.py``): which candidates it takes, in claim order, and
what it leaves out of its next read."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from jobq.domain.ids import PoolId
from jobq.domain.limits import (
    Limit,
    LimitOrigin,
    Limits,
    LimitScope,
    Rate,
    ScopeLimits,
    limits_of,
    merge,
    parse_rate,
)
from jobq.registry import Registry
from jobq.store.claim import ClaimRequest
from jobq.store.limits import (
    Applicable,
    Candidate,
    LimitPlan,
    applicable,
    part_of,
    to_us,
    window_end,
)

TYPE, QUEUE = LimitScope.TYPE, LimitScope.QUEUE
NOW = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: Limit(0), "1..1,000,000"),
        (lambda: Limit(True), "whole number"),
        (lambda: Limit(1_000_001), "1..1,000,000"),
        (lambda: Limit(2.5), "whole number"),  # type: ignore[arg-type]
        (lambda: Limit(1, by="a.b"), "by='a.b'"),
        (lambda: Limit(1, by="1st"), "not starting with a digit"),
        (lambda: Rate(1, per=0), "period"),
        (lambda: Rate(1, per=math.inf), "period"),
        (lambda: Rate(1, per=8 * 86_400), "period"),
        (lambda: Rate(0, per=1), "a rate must be"),
        (lambda: parse_rate("10"), "N/PERIOD"),
        (lambda: parse_rate("x/s"), "N/PERIOD"),
        (lambda: parse_rate("10/soon"), "not a duration"),
    ],
)
def test_what_a_limit_may_not_be(make: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        make()  # type: ignore[operator]


def test_options_and_words() -> None:
    assert limits_of(5, None) == Limits(Limit(5))
    assert limits_of(Limit(1, by="customer"), Rate(10, per=2)).fields == ("customer",)
    with pytest.raises(TypeError, match="Limit"):
        limits_of("5", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Rate"):
        limits_of(None, 5)  # type: ignore[arg-type]
    assert Rate(3, per=60).per == 60.0 and isinstance(Rate(3, per=60).per, float)
    assert parse_rate("100/60s") == (100, 60.0) and parse_rate("10/s") == (10, 1.0)
    assert parse_rate("5000/1h") == (5000, 3600.0)
    described = Limits(Limit(5, by="customer_id"), Rate(1_000, per=0.5)).describe()
    assert described == "5 at once per customer_id, 1,000 per 0.5s"
    assert Limits().describe() == "no limit" and not Limits()


def test_the_setting_wins_whole_and_an_empty_one_lifts_the_code() -> None:
    code, setting = Limits(Limit(1), Rate(5, per=1)), Limits(Limit(3))
    [held] = merge([(TYPE, "a", LimitOrigin.CODE, code), (TYPE, "a", LimitOrigin.SET, setting)])
    assert held.effective == setting and held.origin is LimitOrigin.SET  # the code's rate too
    assert ScopeLimits(TYPE, "a", code).origin is LimitOrigin.CODE
    lifted = ScopeLimits(TYPE, "a", code, Limits())
    assert not lifted.effective and lifted.origin is None
    assert ScopeLimits(QUEUE, "q").origin is None


def test_a_job_type_declares_its_limits() -> None:
    registry = Registry()

    @registry.job("mail", concurrency=Limit(2, by="to"), rate=Rate(10, per=1))
    async def mail(payload: object) -> None: ...

    @registry.job("plain")
    async def plain(payload: object) -> None: ...

    assert registry.limits() == {"mail": Limits(Limit(2, by="to"), Rate(10, per=1))}
    with pytest.raises(ValueError, match=r"1\.\.1,000,000"):
        registry.job("bad", concurrency=0)(plain)


def request(**fields: object) -> ClaimRequest:
    return ClaimRequest(owner=PoolId("p"), lease_seconds=30, **{"limit": 10, **fields})  # type: ignore[arg-type]


def job(
    n: int, job_type: str = "a", queue: str = "default", *keys: object, priority: int = 0
) -> Candidate:
    return Candidate(f"id{n:03}", job_type, queue, priority, NOW + timedelta(seconds=n), keys)


def test_a_limited_claim_takes_in_claim_order_what_the_limits_allow() -> None:
    limits = [
        ScopeLimits(TYPE, "a", set=Limits(Limit(3))),
        ScopeLimits(QUEUE, "q", set=Limits(Limit(1))),
    ]
    plan = LimitPlan(request(types=("a", "b"), limit=5), limits, NOW)
    plan.count_running([("a", "default"), ("b", "q")])  # a: 1 of 3; q: 1 of 1
    first = plan.next_request([], lambda: ["default", "q"])
    assert first is not None and first.queues == ("default",)  # q is full: passed over
    first_read = [job(5, "b"), job(1, "a", priority=1), job(2, "a"), job(3, "a"), job(4, "b")]
    plan.offer(first_read, first.limit)
    assert plan.chosen == ["id001", "id002", "id004", "id005"] and plan.held_back
    # a full read, and a type filled up: the next read leaves it out, for what is left (the
    # jobs chosen so far are read again: they are taken at the end)
    second = plan.next_request([], lambda: ["default", "q"])
    assert second is not None and second.types == ("b",) and second.limit == 1 + 4
    plan.offer([job(4, "b"), job(5, "b"), job(6, "b")], second.limit)
    assert plan.chosen == ["id001", "id002", "id004", "id005", "id006"]
    assert plan.next_request([], list) is None  # it has taken all it asked for
    short = LimitPlan(request(types=("a", "b"), limit=5), limits, NOW)
    read = short.next_request([], list)
    assert read is not None
    short.offer([job(1, "a")], read.limit)
    assert short.chosen == ["id001"]
    assert short.next_request([], list) is None  # the read came short: nothing more is due
    # where it takes any type, a full type is left out by name
    anything = LimitPlan(request(limit=5), limits[:1], NOW)
    anything.count_running([("a", "default")] * 3)
    read = anything.next_request([], list)
    assert read is not None and read.types is None and read.skip_types == ("a",)


def test_a_limit_by_a_field_counts_each_value_and_reads_deeper() -> None:
    limits = [ScopeLimits(TYPE, "a", set=Limits(Limit(1, by="c")))]
    plan = LimitPlan(request(limit=3), limits, NOW)
    assert plan.fields == ("c",)
    plan.count_running([("a", "default", "x")])
    read = plan.next_request([], list)
    assert read is not None and read.limit == 3
    cands = [job(1, "a", "default", "x"), job(2, "a", "default", "y"), job(3, "a", "default", "y"),
             job(4, "a", "default", None), job(5, "a", "default", "z")]  # fmt: skip
    plan.offer(cands[:3], read.limit)  # a full read, and full values in it: read deeper, once
    assert plan.chosen == ["id002"]
    deeper = plan.next_request([], list)
    assert deeper is not None and deeper.limit == 2 + 1 + 1000
    plan.offer(cands, deeper.limit)
    assert plan.chosen == ["id002", "id004", "id005"]
    assert part_of(7) == part_of("7") and part_of(None) == "null"


def test_a_rate_counts_the_window_it_starts_in() -> None:
    rate = Rate(2, per=60)
    end = window_end(rate, to_us(NOW))
    assert end == to_us(datetime(2030, 1, 1, 12, 1, tzinfo=UTC))
    limits = [ScopeLimits(TYPE, "a", code=Limits(rate=rate))]
    plan = LimitPlan(request(), limits, NOW)
    plan.count_starts([("type", "a", "", end, 1), ("type", "other", "", end, 9)])
    read = plan.next_request([], list)
    assert read is not None
    plan.offer([job(1), job(2), job(3)], read.limit)
    assert plan.chosen == ["id001"]
    assert plan.starts(["id001"]) == [("type", "a", "", end, 1)]
    assert plan.starts([]) == []  # chosen, but another claimer held it: no start
    # a row of a later window than this claim's: a claim that began later took its turn
    late = LimitPlan(request(types=("a",)), limits, NOW)
    late.count_starts([("type", "a", "", end + 60_000_000, 1)])
    assert late.next_request([], list) is None and late.held_back


def test_which_claims_are_limited() -> None:
    limits = [
        ScopeLimits(TYPE, "a", set=Limits(Limit(1))),
        ScopeLimits(QUEUE, "q", set=Limits(Limit(1))),
    ]

    def found(claim: ClaimRequest, types: set[str], queues: set[str]) -> Applicable:
        return applicable(claim, limits, lambda names: types & set(names), lambda: queues)

    assert found(request(), {"a"}, set()).limited
    assert not found(request(types=("b",), queues=("default",)), {"a"}, {"q"}).limited
    assert found(request(types=("b",)), set(), {"q"}).limited  # it may take from q
    # limits of types and queues with nothing waiting: an ordinary claim that leaves them out
    idle = found(request(types=("a", "b")), set(), {"default"})
    assert not idle.limited and idle.idle_types == ("a",) and idle.idle_queues == ("q",)
    assert idle.ordinary(request(types=("a", "b"))).types == ("b",)
    assert found(request(), set(), set()).ordinary(request()).skip_types == ("a",)
    lifted = [ScopeLimits(TYPE, "a", Limits(Limit(1)), Limits())]
    assert not applicable(request(types=("a",)), lifted, lambda names: {"a"}, set).limited
