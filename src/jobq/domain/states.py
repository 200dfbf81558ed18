"""The job state machine: the one place that says which state may follow which.

The stores build their SQL conditions from the sets below, so the machine and the queries
cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum

from jobq.domain.errors import IllegalTransition


class JobState(StrEnum):
    #: waiting for the jobs it depends on to succeed (``depends_on``, workflows); released to
    #: pending by the store in the transaction that records the last one's success
    WAITING = "waiting"
    #: waiting to be claimed (from ``run_at`` on)
    PENDING = "pending"
    #: claimed by a worker that holds its lease
    RUNNING = "running"
    #: the handler returned; ``result`` holds what it returned
    SUCCEEDED = "succeeded"
    #: an attempt failed; due again at ``run_at``
    FAILED = "failed"
    #: no more attempts, or a failure that must not be retried
    DEAD = "dead"
    #: cancelled before it ran to an end (waiting, or while it ran: its run is stopped)
    CANCELLED = "cancelled"


class Event(StrEnum):
    CLAIM = "claim"
    SUCCEED = "succeed"
    FAIL = "fail"  # an attempt failed and another is allowed
    DIE = "die"  # an attempt failed and no other is allowed
    RELEASE = "release"  # handed back unfinished without using an attempt (shutdown)
    EXPIRE = "expire"  # the lease ran out and another attempt is allowed
    EXPIRE_DEAD = "expire_dead"  # the lease ran out on the last attempt
    CANCEL = "cancel"
    RETRY = "retry"  # an operator asks to run a finished-unsuccessfully job again


W, P, R, S, F, D, C = (
    JobState.WAITING,
    JobState.PENDING,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.DEAD,
    JobState.CANCELLED,
)

TRANSITIONS: dict[Event, tuple[frozenset[JobState], JobState]] = {
    Event.CLAIM: (frozenset({P, F}), R),
    Event.SUCCEED: (frozenset({R}), S),
    Event.FAIL: (frozenset({R}), F),
    Event.DIE: (frozenset({R}), D),
    Event.RELEASE: (frozenset({R}), P),
    Event.EXPIRE: (frozenset({R}), P),
    Event.EXPIRE_DEAD: (frozenset({R}), D),
    Event.CANCEL: (frozenset({W, P, F, R}), C),  # a running job's run is stopped
    Event.RETRY: (frozenset({D, C}), P),
}

TERMINAL: frozenset[JobState] = frozenset({S, D, C})


def sources(event: Event) -> frozenset[JobState]:
    """The states from which ``event`` is allowed."""
    return TRANSITIONS[event][0]


def target(event: Event) -> JobState:
    """The state that ``event`` leads to."""
    return TRANSITIONS[event][1]


def transition(state: JobState, event: Event) -> JobState:
    """Return the state after ``event``, or raise ``IllegalTransition``."""
    allowed, to = TRANSITIONS[event]
    if state not in allowed:
        names = ", ".join(sorted(allowed))
        raise IllegalTransition(
            f"cannot {event.value} a job that is {state.value} (allowed from: {names})",
            state=state.value,
        )
    return to


def sql_in(states: frozenset[JobState]) -> str:
    """``('a', 'b')`` for an SQL ``IN`` list; states are fixed identifiers, never user input."""
    return "(" + ", ".join(f"'{s.value}'" for s in sorted(states)) + ")"
