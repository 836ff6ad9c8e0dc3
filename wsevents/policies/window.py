"""Daily UTC time windows: be connected during trading hours, or away during maintenance."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time, timedelta, timezone
from typing import Final, final

import attrs

from ..exceptions import ConfigError
from ._base import Policy, PolicyContext, _to_utc


__all__ = ["DaysSpec", "TimeWindow"]

_DAY: Final = timedelta(days=1)
_TIME_RE = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")
_DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES: Final = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip

#: What ``days`` accepts: weekday numbers (Monday is 0, as ``date.weekday()``)
#: and names (``"mon"``, ``"Monday"``, ranges ``"mon-fri"``), in an iterable or
#: a comma-separated string.
DaysSpec = str | Iterable[int | str]


def _parse_time(value: object, key: str, *, allow_24: bool) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None and value.utcoffset() != timedelta(0):
            raise ConfigError(key, value, "must be a UTC time (or have no time zone)")
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        match = _TIME_RE.fullmatch(value)
        if match is not None:
            hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
            if allow_24 and (hour, minute, second) == (24, 0, 0):
                # "24:00" is the end of the day, i.e. the next midnight.
                return time(0, 0)
            if hour < 24 and minute < 60 and second < 60:
                return time(hour, minute, second)
    raise ConfigError(key, value, "must be a UTC time of day such as '09:30' or '16:00:00'")


def _start(value: str | time) -> time:
    return _parse_time(value, "start", allow_24=False)


def _end(value: str | time) -> time:
    return _parse_time(value, "end", allow_24=True)


def _day_number(item: object, spec: object) -> int:
    if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
        return item
    if isinstance(item, str):
        name = item.strip().lower()
        if name in _DAY_NAMES:
            return _DAY_NAMES.index(name)
        if name in _FULL_NAMES:
            return _FULL_NAMES.index(name)
    raise ConfigError(
        "days", spec, f"{item!r} is not a weekday: use 0-6 (Monday is 0) or 'mon' ... 'sun'"
    )


def _days(value: DaysSpec | None) -> frozenset[int] | None:
    if value is None:
        return None
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ConfigError("days", value, "must be a list of weekdays, a string, or None")
    days: set[int] = set()
    for item in items:
        if isinstance(item, str) and "-" in item:
            first, _, last = item.partition("-")
            lo, hi = _day_number(first, value), _day_number(last, value)
            # "sat-mon" wraps around the week
            days.update(d % 7 for d in range(lo, hi + 1 if hi >= lo else hi + 8))
        else:
            days.add(_day_number(item, value))
    if not days:
        raise ConfigError("days", value, "must name a weekday (or be None for every day)")
    return frozenset(days)


@final
@attrs.frozen
class TimeWindow(Policy):
    """Be connected inside a daily UTC window, disconnected outside it.

    The window opens every day at ``start`` (UTC) and lasts until ``end``; an
    ``end`` earlier than ``start`` crosses midnight (``"22:00"`` to
    ``"02:00"``), ``"24:00"`` is accepted as an end, and ``end == start``
    means a whole day.  The window includes ``start`` and excludes ``end``.
    ``days`` restricts the weekdays on which a window *opens*: with
    ``days={"fri"}``, the window ``"22:00"`` to ``"02:00"`` still covers
    Saturday 01:00.

    As ``should_disconnect`` it answers True outside the window; as
    ``should_reconnect`` True inside it and otherwise the seconds until it
    next opens.  ``~TimeWindow(...)`` is the opposite (a maintenance window to
    stay away from).

    Args:
        start: the opening time, ``"HH:MM"``, ``"HH:MM:SS"`` or a ``datetime.time``.
        end: the closing time, same forms.
        days: the weekdays on which the window opens (see :data:`DaysSpec`);
            None for every day.

    Raises:
        ConfigError: a time or a weekday is not understood, or ``days`` is
            empty (keys ``start``, ``end``, ``days``).
    """

    start: time = attrs.field(converter=_start)
    end: time = attrs.field(converter=_end)
    days: frozenset[int] | None = attrs.field(default=None, kw_only=True, converter=_days)

    @property
    def duration(self) -> timedelta:
        """How long each window lasts (a whole day when ``end == start``)."""
        day = datetime(2000, 1, 1)
        span = (datetime.combine(day, self.end) - datetime.combine(day, self.start)) % _DAY
        return span or _DAY

    def _opens_on(self, day: datetime) -> bool:
        return self.days is None or day.weekday() in self.days

    def _opening(self, now: datetime, days_ahead: int) -> datetime:
        date = now.date() + timedelta(days=days_ahead)
        return datetime.combine(date, self.start, tzinfo=timezone.utc)

    def contains(self, now: datetime) -> bool:
        """Whether ``now`` is inside a window.

        Args:
            now: a timezone-aware instant.
        """
        now = _to_utc(now)
        duration = self.duration
        for days_ahead in (-1, 0):
            opening = self._opening(now, days_ahead)
            if opening <= now < opening + duration and self._opens_on(opening):
                return True
        return False

    def next_open(self, now: datetime) -> datetime:
        """The first time a window opens strictly after ``now`` (UTC).

        Args:
            now: a timezone-aware instant.
        """
        now = _to_utc(now)
        for days_ahead in range(8):
            opening = self._opening(now, days_ahead)
            if opening > now and self._opens_on(opening):
                return opening
        raise AssertionError("unreachable: days is never empty")  # pragma: no cover

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """True outside the window.

        Args:
            ctx: the policy context (only ``ctx.now`` is used).
        """
        return not self.contains(ctx.now)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """True inside the window, else the seconds until it opens.

        Args:
            ctx: the policy context (only ``ctx.now`` is used).
        """
        if self.contains(ctx.now):
            return True
        return (self.next_open(ctx.now) - ctx.now).total_seconds()
