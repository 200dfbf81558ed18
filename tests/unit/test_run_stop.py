"""``RunStop`` (``worker/stopping.py``) cancels only the block it guards, says so as
``LeaseLost``, and leaves every other cancellation of the task as it found it."""

from __future__ import annotations

import asyncio

import pytest

from jobq.worker.stopping import LeaseLost, RunStop


async def guarded(stop: RunStop, entered: asyncio.Event, *, swallow: bool = False) -> str:
    with stop:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if not swallow:
                raise
        return "swallowed"


async def test_a_stop_during_the_block_leaves_it_as_lease_lost() -> None:
    stop, entered = RunStop(), asyncio.Event()
    told: list[str] = []
    stop.on_stop(lambda: told.append("closed"))
    task = asyncio.create_task(guarded(stop, entered))
    await entered.wait()
    stop.stop()
    with pytest.raises(LeaseLost):
        await task
    assert stop.stopped and told == ["closed"]
    assert task.cancelling() == 0, "the task is no longer being cancelled"


async def test_a_run_stopped_before_the_block_does_not_enter_it() -> None:
    stop, entered = RunStop(), asyncio.Event()
    stop.stop()
    told: list[str] = []
    stop.on_stop(lambda: told.append("at once"))
    with pytest.raises(LeaseLost):
        await guarded(stop, entered)
    assert not entered.is_set() and told == ["at once"]


async def test_a_handler_that_swallows_the_stop_returns_but_stays_stopped() -> None:
    stop, entered = RunStop(), asyncio.Event()
    task = asyncio.create_task(guarded(stop, entered, swallow=True))
    await entered.wait()
    stop.stop()
    assert await task == "swallowed"
    assert stop.stopped and task.cancelling() == 0


async def test_a_shutdown_cancel_beside_the_stop_stays_a_cancel() -> None:
    stop, entered = RunStop(), asyncio.Event()
    task = asyncio.create_task(guarded(stop, entered))
    await entered.wait()
    task.cancel()  # the end of the shutdown grace
    stop.stop()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stop.stopped


async def test_a_stop_after_the_block_cancels_nothing() -> None:
    stop, entered = RunStop(), asyncio.Event()
    with stop:
        entered.set()
    stop.stop()
    await asyncio.sleep(0)  # a cancellation, had there been one, would land here
    assert stop.stopped
