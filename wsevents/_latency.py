"""Receive times, feed latency and the clock offset: the arithmetic (pure, L1).

The reader (with ``timestamps=True`` or ``event_time=``) stamps every frame with
the monotonic clock, in nanoseconds, read once per transport read (a turn of the
event loop): the frames of one read were received together, the n-th message
of a read at the read's stamp + n ns.  The wall-clock time
is derived from it with the offset between the two clocks taken when the
transport connection opened (receive times never go backwards within a
connection).

With an event time (a key path such as ``"E"``, or a callable ``message ->
milliseconds since the epoch``), :class:`Timing` keeps, per channel, the last
:data:`WINDOW` ``(event time, receive time)`` pairs exactly as read (numbers or
numeric strings, converted only when read): the per-message cost is one
``append``.  :meth:`Timing.latency` and :meth:`Timing.clock_offset` do the
arithmetic when ``stats`` is read.
"""

from __future__ import annotations

import operator
import statistics
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._stats import Latency, ReceiveTime
from .exceptions import ConfigError


__all__ = ["WINDOW", "EventTime", "StampLog", "Timing", "event_time_getter", "percentile"]

#: the samples kept per channel (the sliding window of the latency summary)
WINDOW: Final = 1024

#: the ``event_time`` option: a key path (``"E"``, ``"data.0.ts"``) or a callable
#: ``message -> milliseconds since the epoch`` (a number or a numeric string; None
#: for a message without one)
EventTime = str | Callable[[Any], Any]


def event_time_getter(value: object) -> Callable[[Any], Any] | None:
    """The ``event_time`` option as a callable ``message -> raw event time``.

    A key path is split on dots; a part made of digits indexes a list.  The
    getter raises (``KeyError``, ``IndexError``, ``TypeError``) on a message
    without that path: the caller skips such messages.

    Raises:
        ConfigError: neither a non-empty key path nor a callable.
    """
    if value is None:
        return None
    if callable(value):
        return value
    if not isinstance(value, str) or not value or "" in value.split("."):
        why = "must be a key path ('E', 'data.0.ts') or a callable message -> epoch milliseconds"
        raise ConfigError("event_time", value, why)
    parts = [int(part) if part.isdigit() else part for part in value.split(".")]
    if len(parts) == 1:
        return operator.itemgetter(parts[0])

    def get(message: Any) -> Any:
        for part in parts:
            message = message[part]
        return message

    return get


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of a non-empty sorted list."""
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


class Timing:
    """The receive times and latency samples of one connection.

    Args:
        wall_base_ns: ``time.time_ns() - time.monotonic_ns()`` now (taken again
            by :meth:`rebase` on every new transport connection).
    """

    __slots__ = ("samples", "wall_base_ns")

    def __init__(self, wall_base_ns: int) -> None:
        #: the wall clock minus the monotonic clock, nanoseconds
        self.wall_base_ns = wall_base_ns
        #: channel -> the last WINDOW (raw event time, receive monotonic ns) pairs
        self.samples: dict[str | None, deque[tuple[Any, int]]] = {}

    def rebase(self, wall_base_ns: int) -> None:
        """A new transport connection: the wall clock's offset, read afresh."""
        self.wall_base_ns = wall_base_ns

    def window(self, channel: str | None) -> deque[tuple[Any, int]]:
        """The sample window of ``channel`` (made on its first sample)."""
        found = self.samples.get(channel)
        if found is None:
            found = self.samples[channel] = deque(maxlen=WINDOW)
        return found

    def receive_time(self, monotonic_ns: int) -> ReceiveTime:
        """The receive time of a frame read at ``monotonic_ns``."""
        return ReceiveTime(monotonic_ns, monotonic_ns + self.wall_base_ns)

    def _delays(self, window: deque[tuple[Any, int]]) -> list[float]:
        """Receive wall time minus event time, seconds, of the valid samples."""
        base = self.wall_base_ns
        delays = []
        for event, received in tuple(window):
            try:
                event_ms = float(event)
            except (TypeError, ValueError):
                continue  # not a time: skipped, as a message without one
            if event_ms == event_ms:  # not NaN
                delays.append((received + base) / 1e9 - event_ms / 1e3)
        return delays

    def latency(self) -> Mapping[str, Latency]:
        """Per channel (``""`` for messages without one): the latency summary over
        the window, receive time minus event time (the network's delay plus the
        clock offset)."""
        found: dict[str, Latency] = {}
        for channel, window in tuple(self.samples.items()):
            delays = sorted(self._delays(window))
            if delays:
                found["" if channel is None else channel] = Latency(
                    count=len(delays),
                    p50=percentile(delays, 0.50),
                    p90=percentile(delays, 0.90),
                    p99=percentile(delays, 0.99),
                    max=delays[-1],
                )
        return found

    def clock_offset(self) -> float | None:
        """The venue's clock minus yours, seconds: the median of event time minus
        receive time over every channel's window (None without samples).

        Robust to a few late messages; it includes the one-way network delay
        (a venue whose clock is exact shows as slightly behind).
        """
        delays = [d for window in tuple(self.samples.values()) for d in self._delays(window)]
        return -statistics.median(delays) if delays else None


class StampLog:
    """The receive times of the queued messages of recent reads, found by id.

    Per queued message the reader appends ``id(message)`` and its stamp to
    :attr:`entries` (two appends: no lookup).  The id -> position index is built
    only when :meth:`find` is called: nothing is paid while nobody asks.
    """

    __slots__ = ("_index", "_indexed", "entries")

    def __init__(self) -> None:
        #: ``id(message), stamp, id(message), stamp, ...`` of every message logged
        self.entries: list[int] = []
        self._index: dict[int, int] = {}
        self._indexed = 0

    def __len__(self) -> int:
        """The messages logged."""
        return len(self.entries) // 2

    def find(self, key: int) -> int | None:
        """The stamp of the message whose ``id`` is ``key`` (None: not in this log)."""
        entries, index = self.entries, self._index
        for position in range(self._indexed, len(entries), 2):
            index[entries[position]] = position
        self._indexed = len(entries)
        at = index.get(key)
        return None if at is None else entries[at + 1]
