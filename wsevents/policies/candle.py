"""Candle-close-aware connection windows.

Market-data clients that only need candle closes (or that must not be
reconnecting when one happens) keep the connection up around each close and
drop it in the quiet middle of the candle.  :class:`CandleAware` does the
arithmetic for any interval from one minute to a week.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final, final

import attrs

from ..exceptions import ConfigError
from ._base import Duration, Policy, PolicyContext, _to_utc, parse_duration


__all__ = ["INTERVALS", "CandleAware"]

#: The candle intervals exchanges commonly offer; any ``"<n><s|m|h|d|w>"`` works.
INTERVALS: Final = (
    "1m", "3m", "5m", "15m", "30m",
    "1h", "2h", "4h", "6h", "8h", "12h",
    "1d", "3d", "1w",
)  # fmt: skip

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US: Final = timedelta(microseconds=1)
_WEEK_US: Final = 7 * 86_400 * 1_000_000
# 1970-01-01 was a Thursday: weekly candles open four days later, on Mondays.
_MONDAY_US: Final = 4 * 86_400 * 1_000_000
_DEFAULT_LEAD_US: Final = 10_000_000


def _us(seconds: float) -> int:
    # All the arithmetic is done in integer microseconds (datetime's
    # resolution), so boundaries are exact and waits land on them.
    return round(seconds * 1_000_000)


def _interval(value: Duration) -> float:
    seconds = parse_duration(value, key="interval")
    if _us(seconds) <= 0:
        raise ConfigError("interval", value, "must be a positive duration")
    return seconds


def _stay_before(value: Duration) -> float:
    return parse_duration(value, key="stay_before")


def _stay_after(value: Duration) -> float:
    return parse_duration(value, key="stay_after")


def _lead(value: Duration | None) -> float | None:
    return None if value is None else parse_duration(value, key="lead")


@final
@attrs.frozen
class CandleAware(Policy):
    """Stay connected around candle closes; disconnect in the quiet middle of a candle.

    Candles are aligned on the Unix epoch in UTC, as exchanges align them
    (Binance's ``3d`` candles included); intervals that are whole weeks open
    on Monday 00:00 UTC.  Around every close ``C`` the connection is wanted
    during ``[C - stay_before - lead, C + stay_after]``:

    * the *guard window* ``[C - stay_before, C + stay_after]`` protects the
      close itself (:meth:`in_guard`);
    * ``lead`` seconds before it leave time to reconnect, so that the
      connection is up when the guard window starts.

    As ``should_disconnect`` it answers True only outside that span, in the
    safe middle of a candle; as ``should_reconnect`` it answers True inside
    the span and otherwise the seconds left until the span starts.  Use the
    same instance for both options.

    Args:
        interval: the candle interval: ``"1m"`` … ``"1w"`` (see
            :data:`INTERVALS`), any ``"<n><s|m|h|d|w>"``, seconds, or a
            ``timedelta``.
        stay_before: seconds to be connected before each close.
        stay_after: seconds to stay connected after each close.
        lead: seconds to reconnect ahead of the guard window; by default
            10 s, or half the free time of a candle when that is shorter.

    Raises:
        ConfigError: a value is not a duration, or ``stay_before +
            stay_after (+ lead)`` does not leave any time in the candle to be
            disconnected (keys ``interval``, ``stay_before``, ``stay_after``,
            ``lead``).
    """

    interval: float = attrs.field(converter=_interval)
    stay_before: float = attrs.field(default=60.0, kw_only=True, converter=_stay_before)
    stay_after: float = attrs.field(default=30.0, kw_only=True, converter=_stay_after)
    lead: float | None = attrs.field(default=None, kw_only=True, converter=_lead)

    def __attrs_post_init__(self) -> None:
        interval, before, after = _us(self.interval), _us(self.stay_before), _us(self.stay_after)
        if before + after >= interval:
            raise ConfigError(
                "stay_before",
                self.stay_before,
                f"stay_before + stay_after ({self.stay_before:g} + {self.stay_after:g} s) "
                f"must be shorter than the interval ({self.interval:g} s)",
            )
        if self.lead is not None and before + after + _us(self.lead) >= interval:
            raise ConfigError(
                "lead",
                self.lead,
                f"stay_before + lead + stay_after must be shorter than the interval "
                f"({self.interval:g} s), or the connection is never dropped",
            )

    @property
    def effective_lead(self) -> float:
        """The lead in seconds: ``lead``, or the default chosen for this interval."""
        return self._spans()[4] / 1_000_000

    def _spans(self) -> tuple[int, int, int, int, int]:
        """(interval, offset, stay_before, stay_after, lead) in microseconds."""
        interval, before, after = _us(self.interval), _us(self.stay_before), _us(self.stay_after)
        if self.lead is None:
            lead = min(_DEFAULT_LEAD_US, (interval - before - after) // 2)
        else:
            lead = _us(self.lead)
        offset = _MONDAY_US % interval if interval % _WEEK_US == 0 else 0
        return interval, offset, before, after, lead

    def _position(self, now: datetime) -> tuple[int, int, int, int, int]:
        """(since the open, until the close, stay_before, stay_after, lead), in µs."""
        interval, offset, before, after, lead = self._spans()
        since = ((_to_utc(now) - _EPOCH) // _US - offset) % interval
        return since, interval - since, before, after, lead

    def candle_open(self, now: datetime) -> datetime:
        """When the candle containing ``now`` opened (UTC); a close is the next open.

        Args:
            now: a timezone-aware instant.
        """
        since = self._position(now)[0]
        return _to_utc(now) - timedelta(microseconds=since)

    def next_close(self, now: datetime) -> datetime:
        """When the candle containing ``now`` closes (UTC), strictly after ``now``.

        Args:
            now: a timezone-aware instant.
        """
        until = self._position(now)[1]
        return _to_utc(now) + timedelta(microseconds=until)

    def in_guard(self, now: datetime) -> bool:
        """Whether ``now`` is within ``stay_before`` before a close or ``stay_after`` after one.

        Both ends are included: at exactly ``close - stay_before`` and
        ``close + stay_after`` the guard is on.

        Args:
            now: a timezone-aware instant.
        """
        since, until, before, after, _lead = self._position(now)
        return since <= after or until <= before

    def wants_connection(self, now: datetime) -> bool:
        """Whether ``now`` is in the guard window or in the ``lead`` before it.

        Args:
            now: a timezone-aware instant.
        """
        since, until, before, after, lead = self._position(now)
        return since <= after or until <= before + lead

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """True in the safe middle of a candle: never in the guard window or the lead before it.

        Args:
            ctx: the policy context (only ``ctx.now`` is used).
        """
        return not self.wants_connection(ctx.now)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """True from ``close - stay_before - lead`` to ``close + stay_after``; else the wait.

        Args:
            ctx: the policy context (only ``ctx.now`` is used).

        Returns:
            True, or the seconds until ``next_close - stay_before - lead``.
        """
        since, until, before, after, lead = self._position(ctx.now)
        if since <= after or until <= before + lead:
            return True
        return (until - before - lead) / 1_000_000
