"""The read model's arithmetic (``insights.py``): totals over queues, rows per minute, and the
per-minute series the dashboard and ``jobq top`` draw, on fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobq.domain.job import MinuteCount, Outcome
from jobq.insights import Overview

NOW = datetime(2030, 1, 1, 12, 30, 20, tzinfo=UTC)
THIS_MINUTE = NOW.replace(second=0)


def view(ended: list[MinuteCount], minutes: int = 5) -> Overview:
    counts = {
        "a": {"pending": 2, "running": 1, "succeeded": 0, "failed": 0, "dead": 1, "cancelled": 0},
        "b": {"pending": 3, "running": 0, "succeeded": 4, "failed": 1, "dead": 0, "cancelled": 0},
    }
    return Overview(counts, [], ended, minutes, None, NOW)


def ago(minutes: int) -> datetime:
    return THIS_MINUTE - timedelta(minutes=minutes)


def test_totals_add_every_queue() -> None:
    assert view([]).totals == {
        "pending": 5, "running": 1, "succeeded": 4, "failed": 1, "dead": 1, "cancelled": 0,
    }  # fmt: skip


def test_rows_per_minute_are_oldest_first_with_a_column_per_outcome() -> None:
    ended = [
        MinuteCount(ago(0), Outcome.SUCCEEDED, 3),
        MinuteCount(ago(2), Outcome.FAILED, 1),
        MinuteCount(ago(2), Outcome.SUCCEEDED, 2),
    ]
    assert view(ended).by_minute() == [
        (ago(2), {Outcome.FAILED: 1, Outcome.SUCCEEDED: 2}),
        (ago(0), {Outcome.SUCCEEDED: 3}),
    ]


def test_series_put_this_minute_last_and_count_lost_as_bad_not_interrupted() -> None:
    ended = [
        MinuteCount(ago(0), Outcome.SUCCEEDED, 3),
        MinuteCount(ago(0), Outcome.LOST, 1),
        MinuteCount(ago(1), Outcome.INTERRUPTED, 7),
        MinuteCount(ago(4), Outcome.FAILED, 2),
        MinuteCount(ago(9), Outcome.SUCCEEDED, 100),  # outside the window
    ]
    succeeded, bad = view(ended).series()
    assert succeeded == [0, 0, 0, 0, 3]
    assert bad == [2, 0, 0, 0, 1]
    assert view(ended).series(2) == ([0, 3], [0, 1])
