"""``around_pauses``: how a claim is rewritten so that it takes nothing of a paused queue and
walks none of its jobs."""

from __future__ import annotations

from jobq.domain.ids import PoolId
from jobq.store.claim import MAX_PAIR_ARMS, ClaimRequest, around_pauses


def request(**fields: object) -> ClaimRequest:
    return ClaimRequest(owner=PoolId("p"), limit=10, lease_seconds=30.0, **fields)  # type: ignore[arg-type]


def never() -> list[str]:
    raise AssertionError("the waiting queues were asked for, but not needed")


def test_no_pause_leaves_the_claim_as_it_was() -> None:
    claim = request(types=("a",))
    assert around_pauses(claim, [], never) is claim


def test_a_pause_of_another_queue_leaves_a_claim_of_named_queues_alone() -> None:
    claim = request(queues=("q1", "q2"), types=("a",))
    assert around_pauses(claim, ["other"], never) is claim


def test_a_claim_of_every_queue_takes_an_arm_per_type_and_waiting_queue_but_the_paused() -> None:
    claim = around_pauses(request(types=("a", "b")), ["held"], lambda: ["held", "q1", "q2"])
    assert claim.queues == ("q1", "q2")
    assert claim.pairs == (("a", "q1"), ("a", "q2"), ("b", "q1"), ("b", "q2"))
    assert claim.shape.pair_count == 4


def test_named_queues_lose_the_paused_one() -> None:
    claim = around_pauses(request(queues=("held", "q1"), types=("a",)), ["held"], never)
    assert (claim.queues, claim.pairs) == (("q1",), (("a", "q1"),))


def test_nothing_left_to_take_takes_nothing() -> None:
    assert around_pauses(request(queues=("held",)), ["held"], never).takes_nothing
    assert around_pauses(request(types=("a",)), ["held"], lambda: ["held"]).takes_nothing
    assert around_pauses(request(types=("a",)), ["held"], list).takes_nothing


def test_a_claim_of_any_type_leaves_the_paused_queues_out_by_name() -> None:
    claim = around_pauses(request(), ["held", "b"], lambda: ["held", "q1"])
    assert (claim.queues, claim.pairs, claim.skip) == (None, None, ("b", "held"))
    assert claim.shape.skip_count == 2


def test_too_many_pairs_fall_back_to_leaving_the_paused_queues_out_by_name() -> None:
    """Not by naming every other queue: there may be thousands."""
    queues = [f"q{i}" for i in range(MAX_PAIR_ARMS // 2 + 1)]
    claim = around_pauses(request(types=("a", "b")), ["held"], lambda: ["held", *queues])
    assert (claim.queues, claim.pairs, claim.skip) == (None, None, ("held",))


def test_too_many_pairs_of_named_queues_keep_the_names_but_the_paused() -> None:
    queues = tuple(f"q{i}" for i in range(MAX_PAIR_ARMS // 2 + 1))
    claim = around_pauses(request(queues=("held", *queues), types=("a", "b")), ["held"], never)
    assert (claim.queues, claim.pairs, claim.skip) == (queues, None, None)
