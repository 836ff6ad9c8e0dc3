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
    ├── PolicyError (RuntimeError)        a should_disconnect / should_reconnect policy raised
    ├── AuthenticationError               the venue rejected the login sent on connect
    ├── RequestError                      the venue answered a request with an error reply
    └── ConnectionLost (ConnectionError)  the connection dropped while a request was pending

Network failures that reach user code unwrapped stay builtins
(``OSError``, ``TimeoutError``), as in ``websockets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


__all__ = [
    "AuthenticationError",
    "BusError",
    "ConfigError",
    "ConnectError",
    "ConnectionLost",
    "FrameError",
    "HandshakeRejected",
    "NotConnected",
    "PolicyError",
    "PoolFull",
    "ReconnectExhausted",
    "RequestError",
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


class PoolFull(ConfigError):
    """A pool cannot take more channels: every connection ``max_connections``
    allows is full (``key`` is ``"max_connections"``, ``value`` the limit).

    .. versionadded:: 0.2
    """


class ConnectError(WSEventsError, ConnectionError):
    """The client could not connect (DNS, TCP, TLS, handshake timeout, ...).

    The underlying exception is chained as ``__cause__``.

    Args:
        kind: what failed, for the retry decision: ``"network"`` (retried),
            ``"timeout"`` (retried), ``"tls"`` (not retried by default),
            ``"invalid"`` (a response that can never work: not retried),
            ``"status"`` (:class:`HandshakeRejected`).
    """

    def __init__(self, *args: object, kind: str = "network") -> None:
        super().__init__(*args)
        self.kind = kind


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
        super().__init__(
            f"server rejected the WebSocket handshake with HTTP {status}{detail}", kind="status"
        )

    @property
    def retry_after(self) -> str | None:
        """The raw ``Retry-After`` header, if the server sent one."""
        for key, value in self.headers.items():
            if key.lower() == "retry-after":
                return value
        return None


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


class RequestError(WSEventsError):
    """The venue answered a request with an error reply.

    The message names the venue's code and message only; the whole reply is
    kept in :attr:`reply` (it never holds a secret: secrets are signed, not
    sent back).

    Args:
        code: the venue's error code (``-1013``, ``"60009"``, ``10003``), or
            None when the reply has none.
        message: the venue's error message (``"Invalid API-key"``).
        reply: the decoded error reply.
    """

    def __init__(self, code: object, message: str, reply: Any = None) -> None:
        self.code = code
        self.message = message
        self.reply = reply
        detail = f"code {code}: {message}" if code is not None else message
        super().__init__(f"error reply: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.reply))


class AuthenticationError(WSEventsError):
    """The venue rejected the login a protocol sent when the connection opened.

    Fatal for a connection: retrying with the same credentials would only be
    rejected again.  The venue's answer, when there is one, is chained as
    ``__cause__`` (a :class:`RequestError`).

    Args:
        message: what was rejected and why (never the credentials).
        code: the venue's error code, when it gave one.
    """

    def __init__(self, message: str, code: object = None) -> None:
        self.code = code
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.code))


class ConnectionLost(WSEventsError, ConnectionError):
    """The connection was lost while a request was waiting for its reply.

    The request may or may not have reached the venue: it is never sent again
    behind the caller's back (an order must not be placed twice).

    Args:
        message: what happened to the connection.
    """

    def __init__(self, message: str = "the connection was lost before the reply arrived") -> None:
        super().__init__(message)
class BusError(WSEventsError, ConnectionError):
    """A ``wsevents.bus`` publisher or consumer could not do its work.

    Reported as an ``error`` event: Redis is unreachable or refused a command,
    the publisher's buffer overflowed and dropped entries, or an entry was
    moved to the dead-letter stream.  The Redis failure, if any, is chained as
    ``__cause__``.
    """
