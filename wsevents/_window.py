"""The arithmetic of a strict rolling window, with time passed in.

"At most ``n`` events in any window of ``per`` seconds" holds exactly when any
``n + 1`` consecutive events span at least ``per`` seconds: an event may
happen at ``now`` only if the ``n``-th most recent one happened at
``now - per`` or earlier.  So the window only needs the last ``n`` event
times.  There is no burst allowance beyond ``n`` (a token bucket with a burst
lets ``2 n`` events through in a window straddling a refill).

:class:`Window` is shared by :class:`wsevents.RateLimit` (which waits for it)
and :class:`wsevents.testing.FakeServer` (which enforces a venue's limit with
it), so the client and the test server agree on what the limit means.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from .exceptions import ConfigError


__all__ = ["Window", "busiest", "check_limit"]


def check_limit(name: str, n: object, per: object) -> tuple[int, float]:
    """Validate ``n`` events per ``per`` seconds.

    Args:
        name: the option's name, for the error (``"rate_limit"``).
        n: an int >= 1.
        per: a finite number of seconds > 0.

    Returns:
        ``(n, float(per))``.

    Raises:
        ConfigError: naming ``name.n`` or ``name.per`` and the bad value.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{name}.n", n, "must be an integer >= 1")
    if isinstance(per, bool) or not isinstance(per, (int, float)):
        raise ConfigError(f"{name}.per", per, "must be a number of seconds")
    if not math.isfinite(per) or per <= 0:
        raise ConfigError(f"{name}.per", per, "must be a finite number of seconds > 0")
    return n, float(per)


class Window:
    """At most ``n`` grants in any window of ``per`` seconds, time passed in.

    The times given to :meth:`delay`, :meth:`grant` and :meth:`try_grant`
    come from one monotonic clock and never decrease.

    Args:
        n: grants allowed in any window of ``per`` seconds.
        per: the window's length, in seconds.
    """

    __slots__ = ("_recent", "n", "per")

    def __init__(self, n: int, per: float) -> None:
        self.n = n
        self.per = per
        self._recent: deque[float] = deque(maxlen=n)

    def __repr__(self) -> str:
        return f"Window(n={self.n}, per={self.per:g}, recent={len(self._recent)})"

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until a grant is allowed (0.0: allowed now)."""
        if len(self._recent) < self.n:
            return 0.0
        # The same comparison as try_grant (``now >= oldest + per``), so that a
        # delay of 0.0 always means a grant succeeds.
        allowed_at = self._recent[0] + self.per
        return allowed_at - now if now < allowed_at else 0.0

    def grant(self, now: float) -> None:
        """Record a grant at ``now``; the caller checked :meth:`delay` is 0.

        Raises:
            RuntimeError: the grant would break the limit.
        """
        if not self.try_grant(now):
            msg = f"no grant allowed at {now!r}: {self.n} in the last {self.per:g} s"
            raise RuntimeError(msg)

    def try_grant(self, now: float) -> bool:
        """Record a grant at ``now`` if one is allowed; whether it was."""
        recent = self._recent
        if len(recent) == self.n and now < recent[0] + self.per:
            return False
        recent.append(now)
        return True

    def in_window(self, now: float) -> int:
        """Grants in the window ending at ``now`` (the last ``per`` seconds)."""
        return sum(1 for t in self._recent if now < t + self.per)


def busiest(times: Iterable[float], per: float) -> int:
    """The largest number of ``times`` in any window of ``per`` seconds.

    A window is half-open, ``[t, t + per)``: events exactly ``per`` apart are
    in different windows, as :class:`Window` counts them.

    Args:
        times: event times in seconds, in any order.
        per: the window's length, in seconds.
    """
    ordered = sorted(times)
    most = 0
    start = 0
    for end, t in enumerate(ordered):
        while t >= ordered[start] + per:
            start += 1
        most = max(most, end - start + 1)
    return most
