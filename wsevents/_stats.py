"""Counters kept by a connection, and their frozen public snapshot."""

from __future__ import annotations

import attrs


__all__ = ["Stats"]


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
        "proactive_disconnects",
        "queue_full_events",
        "queue_peak",
        "reactive_disconnects",
        "reconnects",
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
        )
