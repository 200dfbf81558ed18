"""Retention times as settings, code and the CLI give them, and which one holds for a type."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobq import Retain
from jobq.config import load_settings
from jobq.domain.errors import ConfigError
from jobq.domain.retention import (
    DEFAULT_RETAIN,
    RetentionPolicy,
    as_keep,
    describe_keep,
    parse_duration,
)
from jobq.domain.states import JobState

S, C, D = JobState.SUCCEEDED, JobState.CANCELLED, JobState.DEAD


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("24h", 86_400.0),
        ("7d", 604_800.0),
        ("2w", 1_209_600.0),
        ("1d12h", 129_600.0),
        (" 1H30M ", 5400.0),
        ("forever", None),
        ("never", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-1", "1x", "h", "1h 30m", "3 days", "inf", "nan", "1e12"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|retention must be"):
        parse_duration(text)


def test_forever_only_where_allowed() -> None:
    with pytest.raises(ValueError, match="forever is not allowed"):
        parse_duration("forever", forever=False)


def test_code_gives_seconds_timedeltas_strings_or_none() -> None:
    assert as_keep(timedelta(hours=2)) == 7200.0
    assert as_keep(30) == 30.0
    assert as_keep("1d") == 86_400.0
    assert as_keep(None) is None
    with pytest.raises(TypeError):
        as_keep(True)
    assert describe_keep(None) == "forever"
    assert describe_keep(0) == "0s"
    assert describe_keep(90_061) == "1d1h1m1s"


def test_a_types_own_times_override_state_by_state() -> None:
    policy = RetentionPolicy(
        {S: 60.0, C: 120.0, D: None},
        {"a": Retain(succeeded="forever", dead="1h").times, "b": {}},
    )
    assert [policy.keep("a", state) for state in (S, C, D)] == [None, 120.0, 3600.0]
    assert [policy.keep("b", state) for state in (S, C, D)] == [60.0, 120.0, None]
    assert [policy.keep("zz", state) for state in (S, C, D)] == [60.0, 120.0, None]
    everything = policy.everything_older_than(5)
    assert [everything.keep("a", state) for state in (S, C, D)] == [5.0, 5.0, 5.0]
    assert RetentionPolicy().keep("x", D) == DEFAULT_RETAIN[D]
    assert Retain().times == {}


def test_settings_name_the_bad_value() -> None:
    loaded = load_settings({"JOBQ_RETAIN_SUCCEEDED": "2h", "JOBQ_RETAIN_DEAD": "forever"})
    assert loaded.settings.retain().times == {S: 7200.0, C: DEFAULT_RETAIN[C], D: None}
    with pytest.raises(ConfigError, match=r"invalid setting JOBQ_RETAIN_CANCELLED='-5'"):
        load_settings({"JOBQ_RETAIN_CANCELLED": "-5"})
    with pytest.raises(ConfigError, match=r"JOBQ_PRUNE_INTERVAL='0'"):
        load_settings({"JOBQ_PRUNE_INTERVAL": "0"})
