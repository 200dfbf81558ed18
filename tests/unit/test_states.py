"""The job state machine: every (state, event) pair, the helper sets and the SQL IN lists."""

from __future__ import annotations

import itertools

import pytest

from jobq.domain.errors import IllegalTransition, JobqError
from jobq.domain.states import (
    TERMINAL,
    TRANSITIONS,
    Event,
    JobState,
    sources,
    sql_in,
    target,
    transition,
)

W = JobState.WAITING
P = JobState.PENDING
R = JobState.RUNNING
S = JobState.SUCCEEDED
F = JobState.FAILED
D = JobState.DEAD
C = JobState.CANCELLED

# Written out by hand from the design, not derived from TRANSITIONS.
ALLOWED: dict[tuple[JobState, Event], JobState] = {
    (P, Event.CLAIM): R,
    (F, Event.CLAIM): R,
    (R, Event.SUCCEED): S,
    (R, Event.FAIL): F,
    (R, Event.DIE): D,
    (R, Event.RELEASE): P,
    (R, Event.EXPIRE): P,
    (R, Event.EXPIRE_DEAD): D,
    (W, Event.CANCEL): C,  # what waits for it is cancelled too, in the store
    (P, Event.CANCEL): C,
    (F, Event.CANCEL): C,
    (R, Event.CANCEL): C,  # its run is stopped
    (D, Event.RETRY): P,
    (C, Event.RETRY): P,
}

ALL_PAIRS = list(itertools.product(JobState, Event))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in ALLOWED]


def test_states_and_events_are_pinned() -> None:
    assert [s.value for s in JobState] == [
        "waiting",
        "pending",
        "running",
        "succeeded",
        "failed",
        "dead",
        "cancelled",
    ]
    assert [e.value for e in Event] == [
        "claim",
        "succeed",
        "fail",
        "die",
        "release",
        "expire",
        "expire_dead",
        "cancel",
        "retry",
    ]
    assert len(ALL_PAIRS) == 63
    assert len(ILLEGAL) == 63 - 14


def test_every_event_has_a_transition() -> None:
    assert set(TRANSITIONS) == set(Event)


@pytest.mark.parametrize(("state", "event"), list(ALLOWED), ids=lambda v: str(v))
def test_allowed_transition_returns_target(state: JobState, event: Event) -> None:
    assert transition(state, event) is ALLOWED[(state, event)]


@pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=lambda v: str(v))
def test_illegal_transition_raises(state: JobState, event: Event) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(state, event)
    err = info.value
    assert isinstance(err, JobqError)
    assert err.state == state.value
    message = str(err)
    assert f"cannot {event.value} " in message
    assert f"is {state.value} " in message
    allowed = sorted(s.value for (s, e) in ALLOWED if e is event)
    assert f"(allowed from: {', '.join(allowed)})" in message


def test_illegal_transition_message_exact() -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(R, Event.CLAIM)
    assert str(info.value) == "cannot claim a job that is running (allowed from: failed, pending)"
    assert info.value.state == "running"


def test_illegal_transition_default_state_is_none() -> None:
    err = IllegalTransition()
    assert err.state is None
    assert str(err) == "The job's state does not allow that."


@pytest.mark.parametrize("event", list(Event))
def test_sources_and_target_match_table(event: Event) -> None:
    expected_sources = frozenset(s for (s, e) in ALLOWED if e is event)
    expected_targets = {t for (s, e), t in ALLOWED.items() if e is event}
    assert sources(event) == expected_sources
    assert isinstance(sources(event), frozenset)
    assert {target(event)} == expected_targets


def test_terminal_states() -> None:
    assert frozenset({S, D, C}) == TERMINAL
    assert P not in TERMINAL
    assert R not in TERMINAL
    assert F not in TERMINAL


def test_no_event_leaves_succeeded() -> None:
    assert all((S, e) not in ALLOWED for e in Event)
    for event in Event:
        with pytest.raises(IllegalTransition):
            transition(S, event)


def test_sql_in_sorted_and_quoted() -> None:
    assert sql_in(frozenset({P, F})) == "('failed', 'pending')"
    assert sql_in(TERMINAL) == "('cancelled', 'dead', 'succeeded')"
    assert sql_in(frozenset({R})) == "('running')"
    assert sql_in(frozenset(JobState)) == (
        "('cancelled', 'dead', 'failed', 'pending', 'running', 'succeeded', 'waiting')"
    )


def test_sql_in_of_sources() -> None:
    assert sql_in(sources(Event.RETRY)) == "('cancelled', 'dead')"
    assert sql_in(sources(Event.CLAIM)) == "('failed', 'pending')"
