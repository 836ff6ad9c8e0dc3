"""Exceptions raised by wsevents.

Every exception wsevents raises on purpose derives from :class:`WSEventsError`;
where a builtin fits, the exception inherits it too, so ``except ValueError``
keeps working for configuration mistakes::

    WSEventsError
    ├── ConfigError (ValueError)          a bad option: names the key and the value
    ├── FrameError (ValueError)           a frame could not be decoded or routed
    ├── ConnectError (ConnectionError)    could not connect (network, TLS, timeout)
    │   ├── HandshakeRejected             the server answered the handshake with an HTTP status
    │   └── ReconnectExhausted            max_reconnect_attempts consecutive failed attempts
    ├── NotConnected (RuntimeError)       send() while there is no open connection
    ├── BusError (ConnectionError)        wsevents.bus: Redis failed, or entries were dropped
    └── PolicyError (RuntimeError)        a should_disconnect / should_reconnect policy raised

Network failures that reach user code unwrapped stay builtins
(``OSError``, ``TimeoutError``), as in ``websockets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


__all__ = [
    "BusError",
    "ConfigError",
    "ConnectError",
    "FrameError",
    "HandshakeRejected",
    "NotConnected",
    "PolicyError",
    "ReconnectExhausted",
    "WSEventsError",
]


class WSEventsError(Exception):
    """Root of every exception raised by wsevents."""


class ConfigError(WSEventsError, ValueError):
    """A configuration value is invalid.

    Args:
        key: the option's name, or a dotted path into a configuration mapping
            (``should_disconnect.interval``).
        value: the offending value.
        why: what is wrong with it.
    """

    def __init__(self, key: str, value: Any, why: str) -> None:
        self.key = key
        self.value = value
        self.why = why
        super().__init__(f"{key}={value!r}: {why}")


class ConnectError(WSEventsError, ConnectionError):
    """The client could not connect (DNS, TCP, TLS, handshake timeout, ...).

    The underlying exception is chained as ``__cause__``.
    """


class HandshakeRejected(ConnectError):
    """The server answered the opening handshake with an HTTP status other than 101.

    Args:
        status: the HTTP status code (401, 403, 429, 503, ...).
        headers: the response headers (``Retry-After`` is among them when sent).
        body: the start of the response body, for the error message.
    """

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: str = "",
    ) -> None:
        self.status = status
        self.headers: Mapping[str, str] = dict(headers or {})
        self.body = body
        folded = " ".join(body.split())  # HTML and multi-line bodies on one line
        detail = f": {folded[:200]}" if folded else ""
        super().__init__(f"server rejected the WebSocket handshake with HTTP {status}{detail}")


class ReconnectExhausted(ConnectError):
    """``max_reconnect_attempts`` consecutive attempts failed.

    The last failure is chained as ``__cause__`` and kept in :attr:`last_error`.
    """

    def __init__(self, attempts: int, last_error: BaseException | None = None) -> None:
        self.attempts = attempts
        self.last_error = last_error
        why = f" (last error: {last_error!r})" if last_error is not None else ""
        super().__init__(f"gave up after {attempts} failed connection attempts{why}")


class NotConnected(WSEventsError, RuntimeError):
    """An operation needs an open connection and there is none right now."""


class PolicyError(WSEventsError, RuntimeError):
    """A ``should_disconnect`` / ``should_reconnect`` policy raised or answered nonsense.

    The original exception is chained as ``__cause__``.
    """


class FrameError(WSEventsError, ValueError):
    """A frame could not be decoded or routed; it is reported as an ``error`` event.

    Args:
        message: what was wrong.
        frame: the offending frame (kept whole in :attr:`frame`; shortened in the message).
    """

    def __init__(self, message: str, frame: str | bytes | None = None) -> None:
        self.frame = frame
        if frame is not None:
            shown = frame if len(frame) <= 120 else frame[:120]
            message = f"{message}: {shown!r}" + ("..." if len(frame) > 120 else "")
        super().__init__(message)


class BusError(WSEventsError, ConnectionError):
    """A ``wsevents.bus`` publisher or consumer could not do its work.

    Reported as an ``error`` event: Redis is unreachable or refused a command,
    the publisher's buffer overflowed and dropped entries, or an entry was
    moved to the dead-letter stream.  The Redis failure, if any, is chained as
    ``__cause__``.
    """
