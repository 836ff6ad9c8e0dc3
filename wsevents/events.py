"""Event names, connection states and the frozen payloads carried by events.

Every event emitted by a :class:`wsevents.Connection` has exactly one payload
argument.  Lifecycle payloads are the frozen attrs classes below; ``message``
and ``message:<channel>`` carry the decoded message itself and ``error``
carries the exception (pyee's convention).
"""

from __future__ import annotations

import enum
from typing import Final

import attrs


__all__ = [
    "CLOSED",
    "CONNECT",
    "DISCONNECT",
    "ERROR",
    "GAP",
    "HANDOVER",
    "MESSAGE",
    "MESSAGE_PREFIX",
    "QUEUE_FULL",
    "RECONNECTING",
    "CloseReason",
    "Closed",
    "Connected",
    "DisconnectReason",
    "Disconnected",
    "Gap",
    "Handover",
    "QueueFull",
    "Reconnecting",
    "State",
]

CONNECT: Final = "connect"
DISCONNECT: Final = "disconnect"
RECONNECTING: Final = "reconnecting"
MESSAGE: Final = "message"
MESSAGE_PREFIX: Final = "message:"
QUEUE_FULL: Final = "queue_full"
ERROR: Final = "error"
CLOSED: Final = "closed"
HANDOVER: Final = "handover"
GAP: Final = "gap"


class State(enum.Enum):
    """Where a connection is in its lifecycle.

    ``IDLE → CONNECTING → CONNECTED → (RECONNECTING | PAUSED → CONNECTING →
    CONNECTED)* → CLOSING → CLOSED``
    """

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    PAUSED = "paused"
    CLOSING = "closing"
    CLOSED = "closed"


class DisconnectReason(enum.Enum):
    """Why a connection ended.  :attr:`proactive` tells who decided it."""

    #: the server sent a close frame (see ``Disconnected.code``)
    SERVER_CLOSE = "server_close"
    #: the TCP connection broke (reset, EOF without a close frame, I/O error)
    NETWORK_ERROR = "network_error"
    #: the peer stopped answering protocol pings within ``ping_timeout``
    PING_TIMEOUT = "ping_timeout"
    #: no data message for ``stale_after`` seconds
    STALE = "stale"
    #: the peer violated the protocol (bad frame, bad UTF-8, oversized frame)
    PROTOCOL_ERROR = "protocol_error"
    #: a ``should_disconnect`` policy asked for it
    POLICY = "policy"
    #: the user called ``request_disconnect()``
    USER = "user"
    #: a planned make-before-break switch to a new connection
    HANDOVER = "handover"
    #: ``close()``: the connection is shutting down for good
    SHUTDOWN = "shutdown"

    @property
    def proactive(self) -> bool:
        """True when the client chose to disconnect, False when it suffered it."""
        return self in _PROACTIVE


_PROACTIVE: Final = frozenset(
    {
        DisconnectReason.POLICY,
        DisconnectReason.USER,
        DisconnectReason.HANDOVER,
        DisconnectReason.SHUTDOWN,
    }
)


@attrs.frozen(kw_only=True)
class Connected:
    """Payload of ``connect``: emitted after every successful (re)connect, once
    the subscriptions have been sent."""

    #: the URL connected to (secrets in the query string masked)
    url: str
    #: 1 for the first attempt after a disconnect (or at start), 2 for the next, ...
    attempt: int
    #: False for the first connection of this ``Connection``, True afterwards
    is_reconnect: bool
    #: seconds without a connection before this one (0.0 for the first one)
    downtime: float
    #: the last sequence number seen per channel before the outage (when tracked)
    last_sequences: dict[str, int] = attrs.field(factory=dict, eq=False)
    #: the pool shard this happened on (``Pool``); None on a plain ``Connection``
    shard: int | None = None


@attrs.frozen(kw_only=True)
class Disconnected:
    """Payload of ``disconnect``: the connection was lost or closed."""

    reason: DisconnectReason
    #: the WebSocket close code, when a close frame was exchanged
    code: int | None = None
    #: the close frame's reason text, or a description of the network error
    reason_text: str = ""
    #: True when the client chose to disconnect (policy, user, handover, shutdown)
    proactive: bool = False
    #: seconds the connection had been up
    uptime: float = 0.0
    #: the pool shard this happened on (``Pool``); None on a plain ``Connection``
    shard: int | None = None


@attrs.frozen(kw_only=True)
class Reconnecting:
    """Payload of ``reconnecting``: emitted before each reconnect attempt."""

    #: the attempt about to be made (1 for the first after a disconnect)
    attempt: int
    #: seconds that will be waited before the attempt
    delay: float
    #: why the connection is down
    reason: DisconnectReason
    #: the failure of the previous attempt, if it was a failed attempt
    error: BaseException | None = attrs.field(default=None, eq=False)
    #: the pool shard this happened on (``Pool``); None on a plain ``Connection``
    shard: int | None = None


@attrs.frozen(kw_only=True)
class QueueFull:
    """Payload of ``queue_full``: the delivery queue overflowed.

    Emitted once per overflow episode (when the queue first fills up) and then
    at most once per second while it stays full, with aggregated counts.
    """

    #: channel of the last message dropped (or blocked on); None if unrouted
    channel: str | None
    #: the queue's bound
    size: int
    #: messages dropped in this report (0 in ``block`` mode)
    dropped: int
    #: the overflow mode: ``"drop_oldest"``, ``"drop_newest"`` or ``"block"``
    overflow: str
    #: messages dropped since the connection was created
    total_dropped: int = 0


class CloseReason(str, enum.Enum):
    """Why a connection closed for good (:attr:`Closed.reason`).

    A ``str`` enum: each member compares equal to its value
    (``CloseReason.USER == "close() called"``).
    """

    #: ``close()`` was called
    USER = "close() called"
    #: ``max_reconnect_attempts`` consecutive attempts failed
    EXHAUSTED = "reconnect attempts exhausted"
    #: the server refused the handshake with a status that is not retried (401, 403, ...)
    REJECTED = "handshake rejected"
    #: the venue rejected the protocol's login (``AuthenticationError``)
    AUTHENTICATION = "login rejected"
    #: an attempt failed in a way that is not retried (TLS, an invalid handshake)
    FAILED = "connection failed"
    #: the server closed cleanly (1000/1001) and ``reconnect_on_clean_close`` is False
    SERVER_CLOSED = "server closed the connection"
    #: the connection was lost and ``max_reconnect_attempts=0`` says never reconnect
    NOT_RECONNECTING = "connection lost, not reconnecting"
    #: a bug in wsevents' own connection loop (logged with its traceback)
    INTERNAL_ERROR = "internal error"


@attrs.frozen(kw_only=True)
class Closed:
    """Payload of ``closed``: the connection is closed for good."""

    #: what ended it
    reason: CloseReason
    #: the fatal error, or None after a requested close
    error: BaseException | None = attrs.field(default=None, eq=False)
    #: a readable account (``"handshake rejected with HTTP 401"``)
    detail: str = ""
    #: the pool shard whose failure closed the pool; None on a plain ``Connection``
    #: and after ``close()``
    shard: int | None = None


@attrs.frozen(kw_only=True)
class Handover:
    """Payload of ``handover``: a make-before-break reconnect switched connections."""

    #: seconds both connections were open
    overlap: float
    #: messages received on both connections and delivered once
    duplicates_dropped: int
    #: the pool shard this happened on (``Pool``); None on a plain ``Connection``
    shard: int | None = None


@attrs.frozen(kw_only=True)
class Gap:
    """Payload of ``gap``: a tracked sequence number was skipped, repeated or out of order."""

    channel: str
    expected: int
    received: int
    #: how many sequence numbers are missing (0 for a repeat or a step back)
    missing: int
    #: the pool shard this happened on (``Pool``); None on a plain ``Connection``
    shard: int | None = None
