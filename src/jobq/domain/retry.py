"""Retry timing: exponential backoff, capped, with jitter."""

from __future__ import annotations

import random

from jobq.domain.job import Backoff


def backoff_delay(backoff: Backoff, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before the attempt after ``attempt`` (1-based).

    With jitter the delay is drawn from [d/2, d] ("equal jitter"): retries of jobs that failed
    together spread out, yet none comes back sooner than half the nominal delay.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    # 2.0**1023 is the largest power of two a float holds; a product past that is inf, and the
    # cap still applies. (A smaller ceiling would strand a tiny base below its cap.)
    exponent = min(attempt - 1, 1023)
    delay = min(backoff.max_seconds, backoff.base_seconds * (2.0**exponent))
    if backoff.jitter and delay > 0:
        draw = (rng or random).random()
        delay = delay / 2 + draw * delay / 2
    return delay
