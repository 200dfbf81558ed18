"""Cron expressions in a time zone, and which ticks a schedule enqueues: on the days clocks
change (both ways), with seconds, and the missed-tick policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from jobq.domain.cron import Cron
from jobq.domain.schedule import Missed, make_schedule

PARIS = ZoneInfo("Europe/Paris")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(ticks: list[datetime], zone: ZoneInfo = PARIS) -> list[str]:
    return [t.astimezone(zone).strftime("%m-%d %H:%M:%S%z") for t in ticks]


def test_a_daily_tick_that_does_not_exist_on_the_spring_forward_day_is_skipped() -> None:
    # Paris, 2030-03-31: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day
    cron = Cron("30 2 * * *", "Europe/Paris")
    ticks = list(islice(cron.after(utc(2030, 3, 29, 12)), 3))
    assert local(ticks) == ["03-30 02:30:00+0100", "04-01 02:30:00+0200", "04-02 02:30:00+0200"]


def test_a_daily_tick_that_exists_twice_on_the_fall_back_day_runs_once() -> None:
    # Paris, 2030-10-27: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice
    cron = Cron("30 2 * * *", "Europe/Paris")
    ticks = list(islice(cron.after(utc(2030, 10, 25, 12)), 3))
    assert local(ticks) == ["10-26 02:30:00+0200", "10-27 02:30:00+0200", "10-28 02:30:00+0100"]


def test_an_hourly_schedule_across_both_transitions() -> None:
    cron = Cron("0 * * * *", "Europe/Paris")
    spring = list(islice(cron.after(utc(2030, 3, 30, 23, 30)), 4))  # 00:30 CET
    assert local(spring) == [
        "03-31 01:00:00+0100",
        "03-31 03:00:00+0200",  # 02:00 does not exist
        "03-31 04:00:00+0200",
        "03-31 05:00:00+0200",
    ]
    assert spring[1] - spring[0] == timedelta(hours=1)
    fall = list(islice(cron.after(utc(2030, 10, 26, 23, 30)), 3))  # 01:30 CEST
    assert local(fall) == ["10-27 02:00:00+0200", "10-27 03:00:00+0100", "10-27 04:00:00+0100"]


def test_from_inside_the_repeated_hour_the_first_occurrences_are_behind() -> None:
    cron = Cron("*/15 * * * *", "Europe/Paris")
    second_0215 = datetime(2030, 10, 27, 2, 15, tzinfo=PARIS, fold=1)  # 01:15 UTC
    ticks = list(islice(cron.after(second_0215), 2))
    assert local(ticks) == ["10-27 03:00:00+0100", "10-27 03:15:00+0100"]
    assert ticks[0] == utc(2030, 10, 27, 2, 0)
    back = list(islice(cron.at_or_before(second_0215), 3))  # newest first
    assert local(back) == ["10-27 02:45:00+0200", "10-27 02:30:00+0200", "10-27 02:15:00+0200"]


def test_six_fields_put_seconds_first_and_ticks_are_strictly_after() -> None:
    cron = Cron("*/20 * * * * *")
    start = utc(2030, 1, 1, 0, 0, 0)
    assert list(islice(cron.after(start), 3)) == [
        utc(2030, 1, 1, 0, 0, 20),
        utc(2030, 1, 1, 0, 0, 40),
        utc(2030, 1, 1, 0, 1, 0),
    ]
    assert next(cron.at_or_before(start)) == start
    assert cron.explain() == "Every 20th second of every minute"
    assert Cron("0 7 * * *", "Europe/Paris").explain().endswith("(Europe/Paris)")


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("", "UTC", "empty"),
        ("* * *", "UTC", "has 3 fields"),
        ("61 * * * *", "UTC", "invalid cron expression '61 * * * *'"),
        ("0 0 30 2 *", "UTC", "invalid cron expression"),
        ("@daily", "UTC", "has 1 fields"),
        # the last Sunday of March at 02:30 never exists in Paris: clocks spring forward over it
        ("30 2 * 3 0L", "Europe/Paris", "names no time that exists in Europe/Paris"),
        ("0 7 * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("0 7 * * *", "../etc/passwd", "unknown time zone"),
        ("0 7 * * *", "", "unknown time zone"),
    ],
)
def test_bad_expressions_and_zones_say_what_is_wrong(expression: str, zone: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("*", r"\*")):
        Cron(expression, zone)


def test_due_fires_every_tick_within_the_grace_and_applies_the_policy_before_it() -> None:
    every_minute = {"job_type": "echo", "expression": "* * * * *"}
    since, now = utc(2030, 1, 1, 0, 0), utc(2030, 1, 1, 0, 5, 30)
    grace = timedelta(minutes=2)
    on_time = [utc(2030, 1, 1, 0, 4), utc(2030, 1, 1, 0, 5)]
    skip = make_schedule(**every_minute)
    assert skip.due(since, now, grace=grace) == on_time
    latest = make_schedule(**every_minute, missed="latest")
    assert latest.due(since, now, grace=grace) == [utc(2030, 1, 1, 0, 3), *on_time]
    everything = make_schedule(**every_minute, missed=Missed.ALL, catch_up=2)
    assert everything.due(since, now, grace=grace) == [
        utc(2030, 1, 1, 0, 2),
        utc(2030, 1, 1, 0, 3),
        *on_time,
    ]
    all_of_them = make_schedule(**every_minute, missed="all")
    assert all_of_them.due(since, now, grace=timedelta(0)) == [
        utc(2030, 1, 1, 0, minute) for minute in range(1, 6)
    ]
    assert skip.due(now, now) == [] and skip.due(since, since) == []


def test_a_tick_key_names_the_schedule_and_the_utc_tick() -> None:
    schedule = make_schedule("echo", "0 7 * * *", name="report", timezone="Europe/Paris")
    assert schedule.tick_key(utc(2030, 6, 1, 5)) == "schedule:report:2030-06-01T05:00:00Z"
    assert schedule.next_ticks(utc(2030, 6, 1, 6), 2) == [utc(2030, 6, 2, 5), utc(2030, 6, 3, 5)]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"missed": "sometimes"}, "missed must be one of skip, latest, all"),
        ({"catch_up": 0}, "catch_up must be 1..1000"),
        ({"catch_up": True}, "catch_up must be an integer"),
        ({"priority": 100_000}, "priority must be"),
        ({"name": "bad name"}, "schedule name"),
        ({"queue": ""}, "queue"),
    ],
)
def test_bad_schedule_options_say_what_is_wrong(options: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        make_schedule("echo", "* * * * *", **options)  # type: ignore[arg-type]


def test_a_rare_tick_is_found_and_a_walk_ends() -> None:
    leap = Cron("0 0 29 2 *")
    assert next(leap.after(utc(2097, 1, 1))) == utc(2104, 2, 29)  # 2100 is no leap year
    gap = Cron("30 2 * 3 0L")  # fine in UTC
    assert next(gap.after(utc(2030, 1, 1))).month == 3
    # near the calendar's end a walk ends instead of failing
    assert list(Cron("0 0 1 1 *").after(datetime(9998, 6, 1, tzinfo=UTC))) == [utc(9999, 1, 1)]
