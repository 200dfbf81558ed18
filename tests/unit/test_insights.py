"""The read model's arithmetic (``insights.py``): totals over queues, rows per minute, and the
per-minute series the dashboard and ``jobq top`` draw, on fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobq.domain.ids import PoolId
from jobq.domain.job import MinuteCount, Outcome, ProcessInfo, WaitingCount
from jobq.insights import Overview, waiting_by_type

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
        "waiting": 0, "pending": 5, "running": 1, "succeeded": 4, "failed": 1, "dead": 1,
        "cancelled": 0,
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


# -- waiting by type ----------------------------------------------------------------------------


def pool(
    name: str, *, queues: tuple[str, ...] | None, types: tuple[str, ...] | None
) -> ProcessInfo:
    return ProcessInfo(
        id=PoolId(f"host:1:{name}"),
        host="host",
        pid=1,
        workers=4,
        busy=0,
        buffered=0,
        queues=queues,
        started_at=NOW,
        seen_at=NOW,
        types=types,
    )


def test_a_type_is_flagged_where_no_live_pool_claims_it_in_its_queue() -> None:
    rows = [
        WaitingCount("default", "email.send", 5, NOW - timedelta(seconds=30)),
        WaitingCount("bulk", "email.send", 7, NOW - timedelta(hours=3)),
        WaitingCount("default", "video.encode", 1204, NOW - timedelta(hours=3)),
        WaitingCount("default", "report", 2, NOW - timedelta(seconds=5)),
    ]
    pools = [
        pool("a", queues=("default",), types=("email.send",)),
        pool("b", queues=None, types=("report", "email.send")),
        pool("old", queues=("other",), types=None),  # a jobq that claimed every type
    ]
    found = {t.type: t for t in waiting_by_type(rows, pools, NOW)}
    email = found["email.send"]
    assert (email.waiting, email.processes, email.unhandled) == (12, 2, 0)
    assert email.oldest == 3 * 3600 and email.warning is None
    video = found["video.encode"]
    assert (video.waiting, video.processes, video.unhandled) == (1204, 0, 1204)
    assert video.warning == "no worker for `video.encode`: 1,204 waiting, oldest 3.0 h"
    assert [t.type for t in waiting_by_type(rows, pools, NOW)] == [
        "video.encode", "email.send", "report",
    ]  # fmt: skip
    # with the "b" pool gone, the bulk queue's email jobs have no worker either
    alone = {t.type: t for t in waiting_by_type(rows, [pools[0]], NOW)}
    assert (alone["email.send"].processes, alone["email.send"].unhandled) == (1, 7)
    assert alone["report"].warning == "no worker for `report`: 2 waiting, oldest 5.0 s"


def test_a_pool_of_an_older_jobq_runs_every_type_of_its_queues() -> None:
    rows = [WaitingCount("q", "anything", 3, NOW)]
    assert waiting_by_type(rows, [pool("old", queues=("q",), types=None)], NOW)[0].unhandled == 0
    assert waiting_by_type(rows, [pool("old", queues=("r",), types=None)], NOW)[0].unhandled == 3
