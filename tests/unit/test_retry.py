"""Retry delays: exponential, capped, with equal jitter."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobq.domain.job import Backoff
from jobq.domain.retry import backoff_delay

# The ranges the HTTP API accepts (BackoffIn), minus bases so small that they need
# more than 62 doublings to reach the cap (see test_tiny_base_still_reaches_the_cap).
bases = st.floats(min_value=1e-3, max_value=86_400, allow_nan=False, allow_infinity=False)
maxes = st.floats(min_value=0, max_value=30 * 86_400, allow_nan=False, allow_infinity=False)
attempts = st.integers(min_value=1, max_value=200)


def nominal(base: float, cap: float, attempt: int) -> float:
    return min(cap, base * 2.0 ** (attempt - 1))


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (8, 256.0), (9, 512.0), (10, 600.0), (50, 600.0)],
)
def test_default_backoff_without_jitter(attempt: int, expected: float) -> None:
    backoff = Backoff(jitter=False)
    assert backoff_delay(backoff, attempt) == expected


def test_custom_base_and_cap_without_jitter() -> None:
    backoff = Backoff(base_seconds=0.5, max_seconds=3.0, jitter=False)
    got = [backoff_delay(backoff, n) for n in range(1, 7)]
    assert got == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_zero_base_gives_zero_even_with_jitter() -> None:
    assert backoff_delay(Backoff(base_seconds=0, jitter=True), 5) == 0
    assert backoff_delay(Backoff(base_seconds=0, jitter=False), 5) == 0


def test_zero_cap_gives_zero() -> None:
    assert backoff_delay(Backoff(base_seconds=5, max_seconds=0, jitter=True), 3) == 0


@given(base=bases, cap=maxes, attempt=attempts)
@settings(max_examples=300, deadline=None)
def test_exact_without_jitter(base: float, cap: float, attempt: int) -> None:
    got = backoff_delay(Backoff(base_seconds=base, max_seconds=cap, jitter=False), attempt)
    assert got == pytest.approx(nominal(base, cap, attempt), rel=1e-12)
    assert got <= cap


@given(base=bases, cap=maxes, attempt=attempts, seed=st.integers(0, 2**32))
@settings(max_examples=300, deadline=None)
def test_jitter_within_half_and_full(base: float, cap: float, attempt: int, seed: int) -> None:
    d = nominal(base, cap, attempt)
    got = backoff_delay(
        Backoff(base_seconds=base, max_seconds=cap, jitter=True), attempt, random.Random(seed)
    )
    assert math.isfinite(got)
    assert d / 2 - 1e-9 * d <= got <= d + 1e-9 * d


def test_jitter_uses_module_random_without_rng() -> None:
    backoff = Backoff(base_seconds=10, max_seconds=10, jitter=True)
    draws = {backoff_delay(backoff, 1) for _ in range(200)}
    assert all(5 <= d <= 10 for d in draws)
    assert len(draws) > 1  # really jittered


def test_jitter_spreads_over_the_range() -> None:
    backoff = Backoff(base_seconds=100, max_seconds=100, jitter=True)
    rng = random.Random(7)
    draws = [backoff_delay(backoff, 1, rng) for _ in range(2000)]
    assert min(draws) < 55
    assert max(draws) > 95


@pytest.mark.parametrize("attempt", [0, -1, -1000])
def test_attempt_below_one_raises(attempt: int) -> None:
    with pytest.raises(ValueError, match="1-based"):
        backoff_delay(Backoff(), attempt)


@pytest.mark.parametrize("attempt", [63, 64, 1000, 1025, 10**6, 10**18])
def test_huge_attempt_does_not_overflow(attempt: int) -> None:
    assert backoff_delay(Backoff(jitter=False), attempt) == 600.0
    rng = random.Random(1)
    got = backoff_delay(Backoff(jitter=True), attempt, rng)
    assert 300.0 <= got <= 600.0


def test_huge_base_is_capped() -> None:
    backoff = Backoff(base_seconds=1e300, max_seconds=60, jitter=False)
    assert backoff_delay(backoff, 500) == 60


def test_seeded_rng_repeats() -> None:
    backoff = Backoff(base_seconds=3, max_seconds=1000, jitter=True)
    first = [backoff_delay(backoff, n, random.Random(42)) for n in range(1, 10)]
    again = [backoff_delay(backoff, n, random.Random(42)) for n in range(1, 10)]
    assert first == again
    rng_a, rng_b = random.Random(99), random.Random(99)
    seq_a = [backoff_delay(backoff, 4, rng_a) for _ in range(20)]
    seq_b = [backoff_delay(backoff, 4, rng_b) for _ in range(20)]
    assert seq_a == seq_b
    assert len(set(seq_a)) > 1


def test_seeded_draw_matches_formula() -> None:
    backoff = Backoff(base_seconds=4, max_seconds=1000, jitter=True)
    draw = random.Random(5).random()
    d = 4 * 2.0**2
    assert backoff_delay(backoff, 3, random.Random(5)) == pytest.approx(d / 2 + draw * d / 2)


def test_tiny_base_still_reaches_the_cap() -> None:
    # base_seconds=1e-17 passes the API (ge=0); after 100 attempts the nominal delay
    # 1e-17 * 2**99 ~ 6e12 s is far past the cap, so the delay must be the cap.
    backoff = Backoff(base_seconds=1e-17, max_seconds=600, jitter=False)
    assert backoff_delay(backoff, 100) == 600
