"""Group commit for enqueues on PostgreSQL: calls that arrive while one is being written share
the next transaction and its commit, as the SQLite store's writer does for every write.

Fifty API requests of one job each cost one transaction (one round trip and one WAL flush),
not fifty; a lone call is written at once, by its own caller, with nothing added. Every caller
returns only once its jobs are committed. A group that fails for a reason one call may own (a
refused idempotency key, an invalid value) is written again call by call, so only that call
fails; a group that fails because the server is gone fails every call in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from jobq.domain.errors import JobqError, StoreError, StoreUnavailable
from jobq.domain.job import EnqueueResult, NewJob

#: jobs one transaction takes at most (a call with more is written alone)
MAX_GROUP_JOBS = 1000

Write = Callable[[Sequence[NewJob]], Awaitable[list[EnqueueResult]]]


@dataclass
class _Call:
    jobs: Sequence[NewJob]
    answer: asyncio.Future[list[EnqueueResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class EnqueueGroups:
    def __init__(self, write: Write, max_jobs: int = MAX_GROUP_JOBS) -> None:
        """``write(jobs)``: store ``jobs`` in one transaction, all or none."""
        self._write = write
        self._max_jobs = max_jobs
        self._waiting: list[_Call] = []
        self._busy = False
        self._flusher: asyncio.Task[None] | None = None

    async def enqueue(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        if len(jobs) >= self._max_jobs:
            return await self._write(jobs)
        if self._busy:  # a transaction is being written: join the next one
            call = _Call(jobs)
            self._waiting.append(call)
            return await call.answer
        self._busy = True  # nobody is writing: write at once, in this caller's task
        try:
            return await self._write(jobs)
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        """The write in flight has ended: the calls that came meanwhile are written next."""
        if self._waiting:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        else:
            self._busy = False

    async def _flush(self) -> None:
        try:
            while self._waiting:
                group = self._next_group()
                await self._write_group(group)
        finally:
            for call in self._waiting:  # only if this task was cancelled
                _fail(call, _closing())
            self._waiting.clear()
            self._busy = False
            self._flusher = None

    def _next_group(self) -> list[_Call]:
        group: list[_Call] = []
        size = 0
        while self._waiting and (not group or size + len(self._waiting[0].jobs) <= self._max_jobs):
            call = self._waiting.pop(0)
            if call.answer.cancelled():  # its caller is gone and was never written
                continue
            group.append(call)
            size += len(call.jobs)
        return group

    async def _write_group(self, group: list[_Call]) -> None:
        if not group:
            return
        if len(group) == 1:
            await self._answer(group[0])
            return
        jobs = [job for call in group for job in call.jobs]
        try:
            results = await self._write(jobs)
        except StoreError as exc:  # the server: every call would fail alike
            for call in group:
                _fail(call, exc)
            return
        except JobqError:  # perhaps one call's own: write each alone, so only it fails
            for call in group:
                await self._answer(call)
            return
        except Exception as exc:  # a bug: every call hears of it
            for call in group:
                _fail(call, exc)
            return
        except BaseException:  # this task is cancelled (the store closes)
            for call in group:
                _fail(call, _closing())
            raise
        start = 0
        for call in group:
            end = start + len(call.jobs)
            if not call.answer.done():
                call.answer.set_result(results[start:end])
            start = end

    async def _answer(self, call: _Call) -> None:
        try:
            results = await self._write(call.jobs)
        except Exception as exc:
            _fail(call, exc)
        else:
            if not call.answer.done():
                call.answer.set_result(results)


def _closing() -> StoreUnavailable:
    return StoreUnavailable("the enqueue was not written: the store is closing")


def _fail(call: _Call, exc: BaseException) -> None:
    if not call.answer.done():
        call.answer.set_exception(exc)
