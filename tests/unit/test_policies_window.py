"""TimeWindow: daily UTC windows, across midnight and on chosen weekdays."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from wsevents.exceptions import ConfigError
from wsevents.policies import PolicyContext, TimeWindow


UTC = timezone.utc
US = timedelta(microseconds=1)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def ctx(now: datetime) -> PolicyContext:
    """A context at ``now``."""
    return PolicyContext.at(now)


HOURS = TimeWindow("09:30", "16:00")
NIGHT = TimeWindow("22:00", "02:00")


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (at(2024, 1, 2, 9, 30), True),
        (at(2024, 1, 2, 9, 29, 59), False),
        (at(2024, 1, 2, 12), True),
        (at(2024, 1, 2, 15, 59, 59), True),
        (at(2024, 1, 2, 16), False),
        (at(2024, 1, 2, 23), False),
    ],
)
def test_day_window(now: datetime, inside: bool) -> None:
    """The window includes its start and excludes its end."""
    assert HOURS.contains(now) is inside
    assert HOURS.should_disconnect(ctx(now)) is not inside


def test_day_window_waits() -> None:
    """Outside the window, should_reconnect is the time until it opens."""
    assert HOURS.should_reconnect(ctx(at(2024, 1, 2, 9, 29))) == 60.0
    assert HOURS.should_reconnect(ctx(at(2024, 1, 2, 16))) == 17.5 * 3600
    assert HOURS.should_reconnect(ctx(at(2024, 1, 2, 10))) is True


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (at(2024, 1, 2, 21, 59), False),
        (at(2024, 1, 2, 22), True),
        (at(2024, 1, 2, 23, 59, 59), True),
        (at(2024, 1, 3, 0, 0), True),
        (at(2024, 1, 3, 1, 59, 59), True),
        (at(2024, 1, 3, 2, 0), False),
        (at(2024, 1, 3, 12), False),
    ],
)
def test_window_across_midnight(now: datetime, inside: bool) -> None:
    """An end before the start crosses midnight."""
    assert NIGHT.contains(now) is inside
    assert NIGHT.duration == timedelta(hours=4)


def test_across_midnight_wait() -> None:
    """The wait from after the end runs to the same evening's start."""
    assert NIGHT.should_reconnect(ctx(at(2024, 1, 3, 2))) == 20 * 3600
    assert NIGHT.next_open(at(2024, 1, 2, 23)) == at(2024, 1, 3, 22)


def test_days_refer_to_the_opening_day() -> None:
    """A Friday-night window still covers early Saturday, and no other night."""
    friday_night = TimeWindow("22:00", "02:00", days=["fri"])
    assert friday_night.contains(at(2024, 1, 5, 23))  # Friday
    assert friday_night.contains(at(2024, 1, 6, 1))  # Saturday, same window
    assert not friday_night.contains(at(2024, 1, 6, 23))  # Saturday night
    assert not friday_night.contains(at(2024, 1, 5, 1))  # Thursday's night
    wait = friday_night.should_reconnect(ctx(at(2024, 1, 6, 23)))
    assert wait == (at(2024, 1, 12, 22) - at(2024, 1, 6, 23)).total_seconds()


def test_weekdays_only() -> None:
    """A weekday window is closed all weekend and reopens on Monday."""
    weekdays = TimeWindow("09:00", "17:00", days="mon-fri")
    assert weekdays.contains(at(2024, 1, 5, 10))  # Friday
    assert not weekdays.contains(at(2024, 1, 6, 10))  # Saturday
    assert weekdays.next_open(at(2024, 1, 5, 18)) == at(2024, 1, 8, 9)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (None, None),
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat-mon", {5, 6, 0}),
        ("Sat,sunday", {5, 6}),
        ([0, "tue", "Wednesday"], {0, 1, 2}),
        ({6}, {6}),
        (("fri-fri",), {4}),
    ],
)
def test_days_forms(days: object, expected: set[int] | None) -> None:
    """Weekdays by number, name, full name, range (wrapping) or comma-separated string."""
    window = TimeWindow("00:00", "01:00", days=days)  # type: ignore[arg-type]
    assert window.days == (None if expected is None else frozenset(expected))


def test_whole_day_windows() -> None:
    """end == start is a whole day; "24:00" ends at midnight."""
    weekend = TimeWindow("00:00", "00:00", days=["sat", "sun"])
    assert weekend.duration == timedelta(days=1)
    assert weekend.contains(at(2024, 1, 6, 0))
    assert weekend.contains(at(2024, 1, 7, 23, 59, 59))
    assert not weekend.contains(at(2024, 1, 8, 0))
    evening = TimeWindow("18:00", "24:00")
    assert evening.contains(at(2024, 1, 8, 23, 59, 59))
    assert not evening.contains(at(2024, 1, 9, 0))


def test_time_objects() -> None:
    """datetime.time values work, naive or UTC."""
    assert TimeWindow(time(9, 30), time(16, 0, tzinfo=UTC)) == HOURS
    assert TimeWindow("09:30:00", "16:00:00") == HOURS


@pytest.mark.parametrize(
    ("args", "kwargs", "key"),
    [
        (("9h", "16:00"), {}, "start"),
        (("24:00", "16:00"), {}, "start"),
        (("09:60", "16:00"), {}, "start"),
        (("09:00", "25:00"), {}, "end"),
        (("09:00", 16), {}, "end"),
        ((time(9, tzinfo=timezone(timedelta(hours=1))), "16:00"), {}, "start"),
        (("09:00", "16:00"), {"days": []}, "days"),
        (("09:00", "16:00"), {"days": ["funday"]}, "days"),
        (("09:00", "16:00"), {"days": [7]}, "days"),
        (("09:00", "16:00"), {"days": [True]}, "days"),
        (("09:00", "16:00"), {"days": 3}, "days"),
    ],
)
def test_validation(args: tuple[object, ...], kwargs: dict[str, object], key: str) -> None:
    """Bad times and weekdays raise ConfigError naming the option."""
    with pytest.raises(ConfigError) as raised:
        TimeWindow(*args, **kwargs)  # type: ignore[arg-type]
    assert raised.value.key == key


def test_negated_window_is_a_maintenance_window() -> None:
    """~TimeWindow stays away during the window and comes back as soon as it ends."""
    maintenance = ~TimeWindow("02:00", "02:30")
    assert maintenance.should_disconnect(ctx(at(2024, 1, 2, 2, 10))) is True
    assert maintenance.should_disconnect(ctx(at(2024, 1, 2, 3))) is False
    assert maintenance.should_reconnect(ctx(at(2024, 1, 2, 2, 10))) is False
    assert maintenance.should_reconnect(ctx(at(2024, 1, 2, 2, 30))) is True


windows = st.builds(
    TimeWindow,
    st.times(),
    st.times(),
    days=st.none() | st.frozensets(st.integers(0, 6), min_size=1),
)
instants = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(2150, 1, 1), timezones=st.just(UTC)
)


@given(window=windows, now=instants)
def test_waits_land_on_an_opening(window: TimeWindow, now: datetime) -> None:
    """A wait ends exactly when a window opens; just before, it is still closed."""
    answer = window.should_reconnect(ctx(now))
    assert window.should_disconnect(ctx(now)) is (answer is not True)
    if answer is True:
        assert window.contains(now)
        return
    assert isinstance(answer, float)
    opening = now + timedelta(seconds=answer)
    assert opening == window.next_open(now)
    assert window.contains(opening)
    assert not window.contains(opening - US)
    assert opening.time() == window.start


@given(window=windows, now=instants)
def test_next_open_is_on_an_allowed_day(window: TimeWindow, now: datetime) -> None:
    """next_open is after now, within a week, at the start time on an allowed weekday."""
    opening = window.next_open(now)
    assert now < opening <= now + timedelta(days=7)
    assert window.days is None or opening.weekday() in window.days
