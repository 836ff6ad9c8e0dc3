"""Recycle a connection before the server's forced cut.

Many platforms close every WebSocket connection after a fixed time (Binance:
24 hours).  Reconnecting on our own schedule, a little before that, turns a
surprise disconnect in the middle of a burst into a planned one.
"""

from __future__ import annotations

from typing import final

import attrs

from ..exceptions import ConfigError
from ._base import Duration, Policy, PolicyContext, parse_duration


__all__ = ["MaxConnectionAge"]


def _max_age(value: Duration) -> float:
    seconds = parse_duration(value, key="max_age")
    if seconds <= 0:
        raise ConfigError("max_age", value, "must be a positive duration")
    return seconds


def _margin(value: Duration) -> float:
    return parse_duration(value, key="margin")


@final
@attrs.frozen
class MaxConnectionAge(Policy):
    """Disconnect once a connection has been up for ``max_age - margin``; reconnect at once.

    As ``should_disconnect`` it answers True when ``ctx.uptime >= max_age -
    margin`` (never when not connected); as ``should_reconnect`` it always
    answers True, so a recycled connection comes straight back.

    Args:
        max_age: the server's limit: seconds, a ``timedelta``, or ``"24h"``.
        margin: how long before the limit to recycle.

    Raises:
        ConfigError: a value is not a duration, ``max_age`` is 0, or
            ``margin >= max_age`` (keys ``max_age``, ``margin``).
    """

    max_age: float = attrs.field(converter=_max_age)
    margin: float = attrs.field(default=0.0, kw_only=True, converter=_margin)

    def __attrs_post_init__(self) -> None:
        if self.margin >= self.max_age:
            raise ConfigError(
                "margin", self.margin, f"must be less than max_age ({self.max_age:g} s)"
            )

    @property
    def recycle_after(self) -> float:
        """Seconds of uptime after which the connection is recycled (``max_age - margin``)."""
        return self.max_age - self.margin

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """True once the connection's uptime reaches ``max_age - margin``.

        Args:
            ctx: the policy context (only ``ctx.uptime`` is used).
        """
        return ctx.uptime is not None and ctx.uptime >= self.max_age - self.margin

    def should_reconnect(self, ctx: PolicyContext) -> bool:
        """Always True: a recycled connection is replaced at once.

        Args:
            ctx: the policy context (unused).
        """
        return True
