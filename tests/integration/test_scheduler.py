"""Periodic jobs through JobQueue and the scheduler, on both stores: declared in code, fired at
their ticks on a fake clock (across both daylight-saving changes), once per tick however many
processes keep them, and what missed ticks become."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import structlog
import structlog.testing

from jobq import JobQueue
from jobq.clock import FakeClock
from jobq.domain.errors import InvalidJob
from jobq.domain.job import Job, NewJob
from jobq.domain.schedule import Schedule
from jobq.store import JobFilter, PostgresOptions
from jobq.worker.scheduler import Scheduler

PARIS = ZoneInfo("Europe/Paris")
log = structlog.get_logger("test")


@pytest.fixture
async def queue(store_url: str, clock: FakeClock) -> AsyncIterator[JobQueue]:
    jq = JobQueue(store_url, clock=clock, postgres=PostgresOptions(pool_size=4))
    async with jq:
        yield jq


def scheduler(jq: JobQueue, clock: FakeClock, *names: str) -> Scheduler:
    """One process's scheduler over ``names`` (default: all of ``jq``'s schedules)."""
    chosen: list[Schedule] = [s for s in jq.schedules if not names or s.name in names]
    return Scheduler(jq.store.ticks, chosen, jq.tick_job, clock=clock, log=log)


async def all_jobs(jq: JobQueue) -> list[Job]:
    page = await jq.list_jobs(JobFilter(), limit=1000)
    return sorted(page.jobs, key=lambda job: job.run_at)


def at(clock: FakeClock, moment: datetime) -> datetime:
    clock.advance((moment - clock.now()).total_seconds())
    return clock.now()


async def test_a_decorated_handler_is_scheduled_and_each_tick_enqueues_one_job(
    queue: JobQueue, clock: FakeClock
) -> None:
    @queue.job("report.daily", schedule="0 7 * * *", timezone="Europe/Paris", payload={"a": 1})
    async def report(payload: dict[str, object]) -> None: ...

    [schedule] = list(queue.schedules)
    assert (schedule.name, schedule.expression, schedule.timezone) == (
        "report.daily",
        "0 7 * * *",
        "Europe/Paris",
    )
    at(clock, datetime(2030, 6, 1, 6, 59, 58, tzinfo=PARIS))
    one, two = scheduler(queue, clock), scheduler(queue, clock)  # two processes
    assert await one.start(clock.now()) and await two.start(clock.now())
    assert one.seconds_to_next(clock.now()) == 2.0
    assert one.seconds_to_next(clock.now() - timedelta(minutes=1)) == 5.0  # a reload first
    for day in (1, 2):
        now = at(clock, datetime(2030, 6, day, 7, 0, 0, 300_000, tzinfo=PARIS))
        assert await one.fire_due(now) and await two.fire_due(now)
        assert await two.fire_due(now + timedelta(seconds=1))
    jobs = await all_jobs(queue)
    assert [(j.type, j.payload, j.run_at.astimezone(PARIS).hour) for j in jobs] == [
        ("report.daily", {"a": 1}, 7),
        ("report.daily", {"a": 1}, 7),
    ]
    assert jobs[0].idempotency_key == "schedule:report.daily:2030-06-01T05:00:00Z"
    last = (await queue.store.ticks.last())["report.daily"]
    assert last.job_id == jobs[1].id


async def test_an_hourly_schedule_across_both_daylight_saving_changes(
    queue: JobQueue, clock: FakeClock
) -> None:
    queue.schedule("echo", "30 * * * *", name="hourly", timezone="Europe/Paris")
    queue.schedule("echo", "30 2 * * *", name="nightly", timezone="Europe/Paris")
    for first_day in (
        datetime(2030, 3, 30, 12, tzinfo=PARIS),
        datetime(2030, 10, 26, 12, tzinfo=PARIS),
    ):
        at(clock, first_day)
        process = scheduler(queue, clock)
        assert await process.start(clock.now())
        for _ in range(24 * 6):  # a day, looking every 10 minutes
            clock.advance(600)
            assert await process.fire_due(clock.now())
    jobs = await all_jobs(queue)
    nightly = [j.run_at for j in jobs if j.idempotency_key and ":nightly:" in j.idempotency_key]
    # spring: 02:30 does not exist on 03-31, so no nightly job that day; fall: one job
    assert [t.astimezone(PARIS).strftime("%m-%d %H:%M%z") for t in nightly] == ["10-27 02:30+0200"]
    hourly = [j.run_at for j in jobs if j.idempotency_key and ":hourly:" in j.idempotency_key]
    assert len(set(hourly)) == len(hourly)

    def early_hours(day: str) -> list[str]:
        seen = [t.astimezone(PARIS) for t in hourly]
        return [t.strftime("%H:%M%z") for t in seen if t.strftime("%m-%d") == day and t.hour < 5]

    assert early_hours("03-31") == ["00:30+0100", "01:30+0100", "03:30+0200", "04:30+0200"]
    assert early_hours("10-27") == [
        "00:30+0200",
        "01:30+0200",
        "02:30+0200",  # the repeated hour, once: its second time makes no job
        "03:30+0100",
        "04:30+0100",
    ]


async def test_missed_ticks_follow_each_schedules_policy(queue: JobQueue, clock: FakeClock) -> None:
    for policy in ("skip", "latest", "all"):
        queue.schedule(
            "echo", "* * * * *", name=f"every-minute-{policy}", missed=policy, catch_up=3
        )
    start = at(clock, datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC))
    first = scheduler(queue, clock)
    assert await first.start(start)
    assert await first.fire_due(at(clock, start + timedelta(seconds=31)))  # 00:01 for each
    # every process stops for ten minutes; the next one starts at 00:11:30
    restarted = scheduler(queue, clock)
    assert await restarted.start(at(clock, start + timedelta(minutes=11)))
    minutes = {
        policy: sorted(
            j.run_at.minute
            for j in await all_jobs(queue)
            if j.idempotency_key and j.idempotency_key.split(":")[1] == f"every-minute-{policy}"
        )
        for policy in ("skip", "latest", "all")
    }
    # 00:11 is within the grace (60 s) of the start: made for each; 00:02..00:10 were missed
    assert minutes == {"skip": [1, 11], "latest": [1, 10, 11], "all": [1, 8, 9, 10, 11]}
    # a process that lives through a tick fires it, late or not, within the grace
    assert await restarted.fire_due(at(clock, clock.now() + timedelta(seconds=50)))
    assert len(await all_jobs(queue)) == 2 + 3 + 5 + 3


async def test_a_tick_refused_by_the_store_is_logged_and_the_next_one_runs(
    queue: JobQueue, clock: FakeClock
) -> None:
    schedule = queue.schedule("echo", "* * * * *", name="minutely")
    start = at(clock, datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC))
    # a job made around the API's checks holds the key of the 00:01 tick, for another type
    squatter = NewJob(
        type="sleep", idempotency_key=schedule.tick_key(start + timedelta(seconds=30))
    )
    await queue.enqueue_many([squatter])
    process = scheduler(queue, clock)
    assert await process.start(start)
    with structlog.testing.capture_logs() as logs:
        assert await process.fire_due(at(clock, start + timedelta(seconds=31)))
    assert [e["event"] for e in logs] == ["schedule_failed"]
    assert "already names job" in logs[0]["error"]
    assert await process.fire_due(at(clock, start + timedelta(seconds=91)))  # 00:02
    made = [j for j in await all_jobs(queue) if j.type == "echo"]
    assert [j.run_at.minute for j in made] == [2]
    with pytest.raises(InvalidJob, match="kept for the jobs of periodic schedules"):
        queue.new_job("echo", idempotency_key="schedule:minutely:2030-01-01T00:05:00Z")


async def test_stored_schedules_are_read_again_and_a_resume_or_a_change_loses_no_tick(
    queue: JobQueue, clock: FakeClock
) -> None:
    start = at(clock, datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC))
    process = Scheduler(
        queue.store.ticks, [], queue.tick_job, clock=clock, log=log, stored=queue.store.schedules
    )
    assert await process.start(start)
    await queue.schedules.create("echo", "* * * * *", name="made")  # while the process runs
    # the process reads it only after its first tick has passed: that tick is still made
    assert await process.reload(at(clock, start + timedelta(seconds=55)))  # 00:01:05
    assert await process.fire_due(clock.now())
    await queue.schedules.pause("made")
    assert await process.reload(clock.now())
    assert await process.fire_due(at(clock, start + timedelta(seconds=115)))  # 00:02:05
    await queue.schedules.resume("made")  # at 00:02:05; read at 00:03:02, after 00:03
    assert await process.reload(at(clock, start + timedelta(seconds=172)))
    assert await process.fire_due(clock.now())
    await queue.schedules.update("made", {"cron": "*/2 * * * *"})  # at 00:03:02
    assert await process.reload(at(clock, start + timedelta(seconds=235)))  # 00:04:05
    assert await process.fire_due(clock.now())
    minutes = [j.run_at.minute for j in await all_jobs(queue)]
    assert minutes == [1, 3, 4]  # none for 00:02 (paused); 00:03 after the resume; 00:04 (*/2)
    await queue.schedules.remove("made")
    assert await process.fire_due(at(clock, start + timedelta(seconds=355)))  # 00:06:05
    assert len(await all_jobs(queue)) == 3  # removed: the store refuses its old definition
    assert await process.reload(clock.now()) and process.schedules == []


async def test_a_schedule_for_an_unknown_type_or_a_bad_payload_is_refused(queue: JobQueue) -> None:
    with pytest.raises(ValueError, match="unknown job type 'nope'"):
        queue.schedule("nope", "* * * * *")
    with pytest.raises(ValueError, match="payload"):
        queue.schedule("echo", "* * * * *", payload={"x": float("nan")})
    queue.schedule("echo", "* * * * *")
    with pytest.raises(ValueError, match="a schedule named 'echo' exists already"):
        queue.schedule("echo", "0 * * * *")
    with pytest.raises(ValueError, match="unknown time zone"):
        queue.schedule("echo", "0 * * * *", name="x", timezone="Nowhere/Special")
    assert [s.name for s in queue.schedules] == ["echo"]


async def test_a_running_pool_enqueues_and_runs_a_job_every_second(store_url: str) -> None:
    jq = JobQueue(store_url, postgres=PostgresOptions(pool_size=4))
    ran: list[str] = []
    three = asyncio.Event()

    @jq.job("tick", schedule="* * * * * *")
    async def tick(payload: dict[str, object]) -> None:
        ran.append("tick")
        if len(ran) == 3:
            three.set()

    async with jq:
        task = asyncio.create_task(jq.run())
        try:
            await asyncio.wait_for(three.wait(), 10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        jobs = await all_jobs(jq)
    keys = [j.idempotency_key for j in jobs]
    assert len(keys) == len(set(keys)) >= 3
    seconds = sorted(j.run_at for j in jobs)
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(seconds))
