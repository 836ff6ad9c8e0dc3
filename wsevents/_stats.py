"""Counters kept by a connection, and their frozen public snapshot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import attrs


if TYPE_CHECKING:
    from ._latency import Timing

__all__ = ["Latency", "ReceiveTime", "Stats"]


class ReceiveTime(NamedTuple):
    """When the reader received the frame of a message (``ws.receive_time(message)``).

    .. versionadded:: 0.3
    """

    #: ``time.monotonic_ns()`` when the frame was read (read once per transport
    #: read: the frames of one read are 1 ns apart, in order)
    monotonic_ns: int
    #: nanoseconds since the epoch (the wall clock at the connection's opening,
    #: plus the monotonic time since)
    wall_ns: int

    @property
    def wall(self) -> float:
        """Seconds since the epoch."""
        return self.wall_ns / 1e9

    @property
    def monotonic(self) -> float:
        """Seconds on the monotonic clock's scale."""
        return self.monotonic_ns / 1e9


@attrs.frozen(kw_only=True)
class Latency:
    """A channel's feed latency over the sliding window (``ws.stats.latency``):
    receive time minus the venue's event time, seconds.

    It includes the clock offset between the venue and this machine (see
    ``Stats.clock_offset``).

    .. versionadded:: 0.3
    """

    #: samples in the window
    count: int
    p50: float
    p90: float
    p99: float
    max: float


#: the fields of :class:`Stats` that only grow (the counters), in their order
COUNTERS: Final = (
    "messages_received",
    "messages_delivered",
    "messages_dropped",
    "queue_full_events",
    "decode_errors",
    "handler_errors",
    "messages_sent",
    "connect_attempts",
    "connects",
    "reconnects",
    "failed_attempts",
    "disconnects",
    "proactive_disconnects",
    "reactive_disconnects",
    "gaps",
    "duplicates_dropped",
)


@attrs.frozen(kw_only=True)
class Stats:
    """A snapshot of a connection's counters (``ws.stats``).

    Counters only grow over the life of the ``Connection``; ``queue_depth`` is
    the delivery queue's length at the time of the snapshot.
    """

    #: data frames received from the server (all connections)
    messages_received: int = 0
    #: messages handed to the handlers
    messages_delivered: int = 0
    #: messages dropped because the delivery queue was full
    messages_dropped: int = 0
    #: times the delivery queue overflowed (one per ``queue_full`` report)
    queue_full_events: int = 0
    #: current number of messages waiting in the delivery queue
    queue_depth: int = 0
    #: the largest queue length seen (sampled every 16 deliveries, and on overflow)
    queue_peak: int = 0
    #: frames that could not be decoded or routed (each also an ``error`` event)
    decode_errors: int = 0
    #: exceptions raised by handlers (each also an ``error`` event)
    handler_errors: int = 0
    #: messages sent with ``send()`` and subscription frames
    messages_sent: int = 0
    #: connection attempts made (successful or not)
    connect_attempts: int = 0
    #: successful connections (the first one included)
    connects: int = 0
    #: successful connections after the first one
    reconnects: int = 0
    #: connection attempts that failed
    failed_attempts: int = 0
    #: disconnects of any kind
    disconnects: int = 0
    #: disconnects the client chose (policy, user request, handover)
    proactive_disconnects: int = 0
    #: disconnects the client suffered (server close, network, ping timeout, stale)
    reactive_disconnects: int = 0
    #: sequence gaps detected (``gap`` events)
    gaps: int = 0
    #: duplicate messages dropped (handover overlap, repeated sequence numbers)
    duplicates_dropped: int = 0
    #: monotonic time of the last data frame (resolution: ``check_interval``), or None
    last_message_at: float | None = None
    #: monotonic time the current connection opened, or None when not connected
    connected_since: float | None = None
    #: the last protocol ping's round trip on the current connection, seconds (None:
    #: none answered yet, or not connected)
    ping_rtt: float | None = None
    #: per channel, the latency over the last messages (``event_time=`` option;
    #: ``""`` for messages without a channel); empty when off
    latency: Mapping[str, Latency] = attrs.field(factory=dict, hash=False)
    #: the venue's clock minus this machine's, seconds (median of event time minus
    #: receive time, one-way network delay included); None without event times
    clock_offset: float | None = None


class Counters:
    """The mutable counters behind :class:`Stats`; private to the connection.

    A plain slotted class rather than attrs: its fields are bumped on the
    per-message path, where every attribute access counts.
    """

    __slots__ = (
        "connect_attempts",
        "connected_since",
        "connects",
        "decode_errors",
        "disconnects",
        "duplicates_dropped",
        "failed_attempts",
        "gaps",
        "handler_errors",
        "last_message_at",
        "messages_delivered",
        "messages_dropped",
        "messages_received",
        "messages_sent",
        "ping_rtt_source",
        "proactive_disconnects",
        "queue_full_events",
        "queue_peak",
        "reactive_disconnects",
        "reconnects",
        "timing",
    )

    messages_received: int
    messages_delivered: int
    messages_dropped: int
    queue_full_events: int
    queue_peak: int
    decode_errors: int
    handler_errors: int
    messages_sent: int
    connect_attempts: int
    connects: int
    reconnects: int
    failed_attempts: int
    disconnects: int
    proactive_disconnects: int
    reactive_disconnects: int
    gaps: int
    duplicates_dropped: int
    last_message_at: float | None
    connected_since: float | None
    #: the current transport connection's ping round trip (set by the reader)
    ping_rtt_source: Callable[[], float | None] | None
    #: receive times and latency samples (``timestamps`` / ``event_time``), or None
    timing: Timing | None

    def __init__(self) -> None:
        self.messages_received = 0
        self.messages_delivered = 0
        self.messages_dropped = 0
        self.queue_full_events = 0
        self.queue_peak = 0
        self.decode_errors = 0
        self.handler_errors = 0
        self.messages_sent = 0
        self.connect_attempts = 0
        self.connects = 0
        self.reconnects = 0
        self.failed_attempts = 0
        self.disconnects = 0
        self.proactive_disconnects = 0
        self.reactive_disconnects = 0
        self.gaps = 0
        self.duplicates_dropped = 0
        self.last_message_at = None
        self.connected_since = None
        self.ping_rtt_source = None
        self.timing = None

    def snapshot(self, queue_depth: int) -> Stats:
        """The frozen public view of these counters."""
        return Stats(
            messages_received=self.messages_received,
            messages_delivered=self.messages_delivered,
            messages_dropped=self.messages_dropped,
            queue_full_events=self.queue_full_events,
            queue_depth=queue_depth,
            queue_peak=self.queue_peak,
            decode_errors=self.decode_errors,
            handler_errors=self.handler_errors,
            messages_sent=self.messages_sent,
            connect_attempts=self.connect_attempts,
            connects=self.connects,
            reconnects=self.reconnects,
            failed_attempts=self.failed_attempts,
            disconnects=self.disconnects,
            proactive_disconnects=self.proactive_disconnects,
            reactive_disconnects=self.reactive_disconnects,
            gaps=self.gaps,
            duplicates_dropped=self.duplicates_dropped,
            last_message_at=self.last_message_at,
            connected_since=self.connected_since,
            **self._observed(),
        )

    def _observed(self) -> dict[str, Any]:
        """The figures read at snapshot time only: ping round trip, latency, offset."""
        found: dict[str, Any] = {}
        if self.ping_rtt_source is not None:
            found["ping_rtt"] = self.ping_rtt_source()
        timing = self.timing
        if timing is not None:
            found["latency"] = timing.latency()
            found["clock_offset"] = timing.clock_offset()
        return found
