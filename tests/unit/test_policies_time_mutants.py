"""TimeWindow, MaxConnectionAge and CandleAware edges (written against surviving mutants)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest

from tests.unit.test_backoff_mutants import config_error
from wsevents import State
from wsevents.policies import CandleAware, MaxConnectionAge, PolicyContext, TimeWindow


UTC = timezone.utc
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
TIME_WHY = "must be a UTC time of day such as '09:30' or '16:00:00'"


# -- TimeWindow -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("09:30", time(9, 30)),
        (" 9:05:07 ", time(9, 5, 7)),
        ("00:00", time(0, 0)),
        ("23:59:59", time(23, 59, 59)),
        (time(8, 0), time(8, 0)),
        (time(8, 0, tzinfo=UTC), time(8, 0)),
    ],
)
def test_start_times(value: Any, parsed: time) -> None:
    window = TimeWindow(value, "23:59:59" if parsed != time(23, 59, 59) else "00:00")
    assert window.start == parsed
    assert window.start.tzinfo is None


@pytest.mark.parametrize("value", ["24:00", "24:00:00", "9:60", "9:00:60", "25:00", "9", "x", 9])
def test_bad_start_times(value: Any) -> None:
    config_error(lambda: TimeWindow(value, "10:00"), "start", value, TIME_WHY)


def test_end_times() -> None:
    assert TimeWindow("10:00", "24:00").end == time(0, 0)
    assert TimeWindow("10:00", "24:00:00").end == time(0, 0)
    config_error(lambda: TimeWindow("10:00", "24:01"), "end", "24:01", TIME_WHY)
    config_error(lambda: TimeWindow("10:00", "24:00:01"), "end", "24:00:01", TIME_WHY)
    plus1 = time(8, 0, tzinfo=timezone(timedelta(hours=1)))
    config_error(
        lambda: TimeWindow(plus1, "10:00"),
        "start",
        plus1,
        "must be a UTC time (or have no time zone)",
    )


@pytest.mark.parametrize(
    ("days", "numbers"),
    [
        ("mon", {0}),
        ("Sun", {6}),
        (" friday ", {4}),
        ("mon-wed", {0, 1, 2}),
        ("sat-mon", {5, 6, 0}),
        ("sun-sun", {6}),
        ("mon,thu", {0, 3}),
        ([0, 6], {0, 6}),
        (["tuesday", 2], {1, 2}),
        (range(3, 4), {3}),
    ],
)
def test_days(days: Any, numbers: set[int]) -> None:
    assert TimeWindow("10:00", "11:00", days=days).days == frozenset(numbers)


@pytest.mark.parametrize("item", [7, -1, True, "mo", "", 1.0])
def test_bad_days(item: Any) -> None:
    spec = [item]
    config_error(
        lambda: TimeWindow("10:00", "11:00", days=spec),
        "days",
        spec,
        f"{item!r} is not a weekday: use 0-6 (Monday is 0) or 'mon' ... 'sun'",
    )


def test_bad_day_specs() -> None:
    config_error(
        lambda: TimeWindow("10:00", "11:00", days=5),
        "days",
        5,  # type: ignore[arg-type]
        "must be a list of weekdays, a string, or None",
    )
    config_error(
        lambda: TimeWindow("10:00", "11:00", days=[]),
        "days",
        [],
        "must name a weekday (or be None for every day)",
    )
    config_error(
        lambda: TimeWindow("10:00", "11:00", days="mon-xx"),
        "days",
        "mon-xx",
        "'xx' is not a weekday: use 0-6 (Monday is 0) or 'mon' ... 'sun'",
    )
    assert TimeWindow("10:00", "11:00").days is None


def test_window_edges_and_next_open() -> None:
    window = TimeWindow("10:00", "11:00", days="mon")
    assert window.duration == timedelta(hours=1)
    assert window.contains(MONDAY + timedelta(hours=10))
    assert not window.contains(MONDAY + timedelta(hours=11))
    assert not window.contains(MONDAY + timedelta(days=1, hours=10))
    assert window.next_open(MONDAY + timedelta(hours=10)) == MONDAY + timedelta(days=7, hours=10)
    assert window.next_open(MONDAY + timedelta(hours=9)) == MONDAY + timedelta(hours=10)
    assert window.next_open(MONDAY - timedelta(days=1)) == MONDAY + timedelta(hours=10)
    ctx = PolicyContext.at(MONDAY + timedelta(hours=9, minutes=30))
    assert window.should_reconnect(ctx) == 1800.0
    assert window.should_disconnect(ctx) is True
    inside = PolicyContext.at(MONDAY + timedelta(hours=10, minutes=30))
    assert window.should_reconnect(inside) is True
    assert window.should_disconnect(inside) is False


def test_window_across_midnight_and_whole_days() -> None:
    window = TimeWindow("22:00", "02:00", days={"sun"})
    assert window.duration == timedelta(hours=4)
    assert window.contains(MONDAY + timedelta(hours=1))  # opened Sunday 22:00
    assert not window.contains(MONDAY + timedelta(hours=23))
    assert TimeWindow("10:00", "10:00").duration == timedelta(days=1)
    assert TimeWindow("10:00", "24:00").duration == timedelta(hours=14)


# -- MaxConnectionAge -----------------------------------------------------------------


def test_max_age() -> None:
    policy = MaxConnectionAge("1h", margin="5m")
    assert (policy.max_age, policy.margin, policy.recycle_after) == (3600.0, 300.0, 3300.0)
    assert MaxConnectionAge(10).margin == 0.0
    config_error(lambda: MaxConnectionAge(0), "max_age", 0, "must be a positive duration")
    config_error(
        lambda: MaxConnectionAge(10, margin=10), "margin", 10.0, "must be less than max_age (10 s)"
    )
    config_error(
        lambda: MaxConnectionAge(10, margin=11), "margin", 11.0, "must be less than max_age (10 s)"
    )
    assert MaxConnectionAge(10, margin=9.5).recycle_after == 0.5
    now = MONDAY
    assert policy.should_disconnect(PolicyContext.at(now, uptime=3300.0)) is True
    assert policy.should_disconnect(PolicyContext.at(now, uptime=3299.0)) is False
    assert MaxConnectionAge(10).should_disconnect(PolicyContext.at(now, uptime=10.0)) is True
    assert policy.should_disconnect(PolicyContext.at(now, state=State.PAUSED)) is False
    assert policy.should_reconnect(PolicyContext.at(now)) is True


# -- CandleAware ----------------------------------------------------------------------


def test_candle_validation() -> None:
    config_error(lambda: CandleAware(0), "interval", 0, "must be a positive duration")
    config_error(lambda: CandleAware(1e-7), "interval", 1e-7, "must be a positive duration")
    assert CandleAware(1e-6, stay_before=0, stay_after=0, lead=0).interval == 1e-6
    config_error(
        lambda: CandleAware("1m", stay_before=30, stay_after=30),
        "stay_before",
        30.0,
        "stay_before + stay_after (30 + 30 s) must be shorter than the interval (60 s)",
    )
    config_error(
        lambda: CandleAware("1m", stay_before=10, stay_after=10, lead=40),
        "lead",
        40.0,
        "stay_before + lead + stay_after must be shorter than the interval (60 s), "
        "or the connection is never dropped",
    )
    assert CandleAware("1m", stay_before=10, stay_after=10, lead=39).lead == 39.0


def test_candle_default_lead_and_week_offset() -> None:
    assert CandleAware("1h", stay_before=60, stay_after=30).effective_lead == 10.0
    assert CandleAware("1m", stay_before=20, stay_after=20).effective_lead == 10.0
    assert CandleAware("1m", stay_before=25, stay_after=25).effective_lead == 5.0
    weekly = CandleAware("1w", stay_before=60, stay_after=60)
    assert weekly.candle_open(MONDAY + timedelta(days=3)) == MONDAY
    assert weekly.next_close(MONDAY) == MONDAY + timedelta(days=7)
    daily = CandleAware("1d", stay_before=60, stay_after=60)
    assert daily.candle_open(MONDAY + timedelta(hours=5)) == MONDAY
    two_weeks = CandleAware("2w", stay_before=60, stay_after=60)
    assert two_weeks.candle_open(MONDAY).weekday() == 0


def test_candle_wait_is_exact() -> None:
    policy = CandleAware("1h", stay_before=60, stay_after=30, lead=10)
    middle = PolicyContext.at(MONDAY + timedelta(minutes=30))
    # close at 01:00; reconnect from 01:00 - 60 s - 10 s
    assert policy.should_reconnect(middle) == 30 * 60 - 70
    assert (
        policy.should_reconnect(PolicyContext.at(MONDAY + timedelta(minutes=58, seconds=50)))
        is True
    )
    assert policy.should_reconnect(PolicyContext.at(MONDAY + timedelta(seconds=30))) is True
    assert (
        policy.should_reconnect(PolicyContext.at(MONDAY + timedelta(seconds=31))) == 3600 - 31 - 70
    )
    assert policy.in_guard(MONDAY + timedelta(minutes=59))
    assert not policy.in_guard(MONDAY + timedelta(minutes=58, seconds=59))


def test_day_ranges_name_the_bad_part() -> None:
    config_error(
        lambda: TimeWindow("10:00", "11:00", days="mon-tue-wed"),
        "days",
        "mon-tue-wed",
        "'tue-wed' is not a weekday: use 0-6 (Monday is 0) or 'mon' ... 'sun'",
    )
    config_error(
        lambda: TimeWindow("10:00", "11:00", days="xx-mon"),
        "days",
        "xx-mon",
        "'xx' is not a weekday: use 0-6 (Monday is 0) or 'mon' ... 'sun'",
    )


def test_default_lead_is_whole_microseconds() -> None:
    policy = CandleAware("1m", stay_before=25, stay_after=24.999999)
    assert policy.effective_lead == 5.0
