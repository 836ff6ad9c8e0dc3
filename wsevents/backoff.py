"""Delays between connection attempts.

A backoff is a small strategy object: :meth:`Backoff.delay` answers how long
to wait before failed attempt number *n* is retried.  The objects are frozen
and hold no state (the attempt counter lives in the lifecycle supervisor), so
one instance can be shared by many connections.  Randomness comes from an
injectable :class:`random.Random`, which tests seed or replace.
"""

from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

import attrs

from .exceptions import ConfigError


__all__ = [
    "Backoff",
    "ExponentialBackoff",
    "FixedDelay",
    "Immediate",
]


@runtime_checkable
class Backoff(Protocol):
    """What a backoff strategy implements."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based) of a reconnect run."""
        ...


def _non_negative(name: str) -> attrs._ValidatorType[float]:
    def check(_inst: object, _attr: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ConfigError(name, value, "must be a number >= 0")
        if value == float("inf"):
            raise ConfigError(name, value, "must be finite")

    return check


def _fraction(name: str) -> attrs._ValidatorType[float]:
    def check(_inst: object, _attr: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(name, value, "must be a number between 0 and 1")

    return check


@attrs.frozen
class ExponentialBackoff:
    """``initial * multiplier ** (attempt - 1)``, capped at ``maximum``, with jitter.

    ``jitter`` is the fraction of the delay that is randomised: 1.0 is *full
    jitter* (uniform between 0 and the capped delay, the AWS recommendation that
    spreads a crowd of clients reconnecting after the same outage), 0.0 is none.
    The first attempt after a connection that was up waits ``first`` seconds
    (default: no wait), so a single drop is repaired at once while a server
    that keeps refusing sees growing delays.

    Args:
        initial: delay before the second attempt, before jitter.
        maximum: the cap on any delay.
        multiplier: growth factor per failed attempt.
        jitter: randomised fraction, 0..1.
        first: delay before the first attempt of a reconnect run.
        rng: the random number generator (inject a seeded one in tests);
            None uses the :mod:`random` module's shared generator.
    """

    initial: float = attrs.field(default=0.5, validator=_non_negative("backoff.initial"))
    maximum: float = attrs.field(default=30.0, validator=_non_negative("backoff.maximum"))
    multiplier: float = attrs.field(default=2.0, validator=_non_negative("backoff.multiplier"))
    jitter: float = attrs.field(default=1.0, validator=_fraction("backoff.jitter"))
    first: float = attrs.field(default=0.0, validator=_non_negative("backoff.first"))
    rng: random.Random | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.multiplier < 1:
            raise ConfigError("backoff.multiplier", self.multiplier, "must be >= 1")
        if self.maximum < self.initial:
            raise ConfigError("backoff.maximum", self.maximum, "must be >= backoff.initial")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based)."""
        if attempt <= 1:
            base = self.first
        else:
            # Cap the exponent: 2.0 ** 10_000 overflows a float.
            exponent = min(attempt - 2, 1000)
            try:
                base = min(self.maximum, self.initial * self.multiplier**exponent)
            except OverflowError:
                base = self.maximum
        if self.jitter and base:
            # Without an injected generator, the random module's shared one: a
            # Random instance per backoff would cost 2.5 KiB per connection.
            draw = random.random() if self.rng is None else self.rng.random()
            return base * (1.0 - self.jitter) + base * self.jitter * draw
        return base


@attrs.frozen
class FixedDelay:
    """The same delay before every attempt (the first one included, unless ``first``)."""

    delay_s: float = attrs.field(
        default=1.0, alias="delay", validator=_non_negative("backoff.delay")
    )
    first: float | None = attrs.field(default=None)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based)."""
        if attempt <= 1 and self.first is not None:
            return self.first
        return self.delay_s


@attrs.frozen
class Immediate:
    """No delay at all.  Meant for tests and for local, trusted peers."""

    def delay(self, attempt: int) -> float:
        """Always 0."""
        return 0.0
