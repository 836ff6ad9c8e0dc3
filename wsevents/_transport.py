"""Transports: the WebSocket client library under a connection (layer L3).

A :class:`Transport` opens WebSocket client connections for
:class:`wsevents.Connection`; the connection only ever uses the small
interface of :class:`TransportConnection`, so the library underneath can
change without touching the lifecycle code:

* :class:`WebsocketsTransport` (``transport="websockets"``, the default): the
  ``websockets`` asyncio client;
* :class:`~wsevents._picows.PicowsTransport` (``transport="picows"``, extra
  ``wsevents[picows]``): picows' websockets-compatible client, a Cython
  implementation about twice as fast per message.

This module is the one failure boundary: :meth:`Transport.open` raises
wsevents' own errors only — :class:`~wsevents.HandshakeRejected` for an HTTP
status, :class:`~wsevents.ConnectError` with its ``kind`` for everything else
(:func:`connect_error` maps what the libraries raise) — and the connection
classifies them without mapping them again.

The per-message path stays short: a transport connection's ``recv`` *is* the
library's own bound ``recv`` method (no wrapper in between), and it raises the
library's own "connection closed" exception, named by ``closed_error``;
:meth:`TransportConnection.close_info` turns that exception into the close
frames exchanged, once per connection.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, NamedTuple, Protocol

from websockets import State as _WsState
from websockets.asyncio.client import ClientConnection, connect as _ws_connect
from websockets.exceptions import (
    ConnectionClosed as _WsConnectionClosed,
    InvalidHandshake as _WsInvalidHandshake,
    InvalidMessage as _WsInvalidMessage,
    InvalidStatus as _WsInvalidStatus,
    InvalidURI as _WsInvalidURI,
)

from ._options import TransportOptions
from .exceptions import ConfigError, ConnectError, HandshakeRejected


__all__ = [
    "DEFAULT_TRANSPORT",
    "TRANSPORTS",
    "CloseInfo",
    "Receiver",
    "Transport",
    "TransportConnection",
    "WebsocketsTransport",
    "connect_error",
    "resolve_transport",
]

#: Takes one complete text message from a transport's frame callback and returns
#: True, or returns False to leave it to ``recv()``.
Receiver = Callable[[str], bool]


class CloseInfo(NamedTuple):
    """The close frames of an ended connection, whatever the library."""

    rcvd_code: int | None
    rcvd_reason: str
    sent_code: int | None
    sent_reason: str
    #: True when the server's close frame came first (None: unknown)
    rcvd_then_sent: bool | None


class TransportConnection(Protocol):
    """One open WebSocket client connection, as ``Connection`` uses it."""

    #: the next data message: ``str`` for a text frame, ``bytes`` for a binary one
    recv: Callable[[], Awaitable[str | bytes]]
    #: send one text (``str``) or binary (``bytes``) message
    send: Callable[[str | bytes], Awaitable[None]]

    @property
    def closed_error(self) -> type[BaseException]:
        """The exception ``recv`` and ``send`` raise once the connection is closed."""

    @property
    def closed(self) -> bool:
        """True once the TCP connection is closed."""

    async def close(self) -> None:
        """The closing handshake, bounded by the ``close_timeout`` given to ``open``."""

    def abort(self) -> None:
        """Drop the TCP connection now."""

    def close_rcvd_code(self) -> int | None:
        """The code of the server's close frame, if one was received."""

    def close_info(self, exc: BaseException) -> CloseInfo:
        """The close frames behind ``exc`` (an instance of ``closed_error``)."""

    def set_receiver(self, receiver: Receiver | None) -> bool:
        """Offer complete text messages to ``receiver`` from the library's own frame
        callback, before ``recv()`` (None: stop).  Returns False when this
        transport has no such callback (every frame then takes ``recv()``)."""


class Transport:
    """Opens WebSocket client connections (subclass and implement :meth:`open`)."""

    #: the name ``Connection(transport=...)`` accepts for this transport
    name = "custom"

    async def open(
        self, url: str, options: TransportOptions, headers: Mapping[str, str] | None
    ) -> TransportConnection:
        """Open a connection (handshake included) within ``options.open_timeout``.

        Raises:
            HandshakeRejected: the server answered with an HTTP status.
            ConnectError: anything else (its ``kind`` says what).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<wsevents transport {self.name}>"


def connect_error(exc: BaseException) -> ConnectError:
    """The wsevents error for what opening a connection raised (the failure boundary).

    ``exc`` is chained as ``__cause__`` of the returned error.
    """
    if isinstance(exc, ConnectError):
        return exc
    error: ConnectError
    if isinstance(exc, _ssl.SSLError):
        error = ConnectError(f"TLS failure: {exc}", kind="tls")
    elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        error = ConnectError(f"opening handshake timed out: {exc}", kind="timeout")
    elif isinstance(exc, OSError):
        error = ConnectError(f"cannot connect: {exc}")
    elif isinstance(exc, ConfigError):
        error = ConnectError(f"cannot connect: {exc}", kind="invalid")
    else:
        error = ConnectError(f"cannot connect: {exc!r}", kind="invalid")
    error.__cause__ = exc
    return error


def handshake_error(message: str, *, invalid: bool, cause: BaseException) -> ConnectError:
    """An opening handshake that failed without a status: ``invalid`` for a response
    that can never work (bad upgrade headers, bad URI: not retried), otherwise a
    cut or garbled response (retried like a network error)."""
    if invalid:
        error = ConnectError(f"handshake failed: {message}", kind="invalid")
    else:
        error = ConnectError(f"invalid handshake: {message}")
    error.__cause__ = cause
    return error


def rejected(
    status: int, headers: Mapping[str, str], body: bytes | None, cause: BaseException
) -> HandshakeRejected:
    """The error for a handshake answered with HTTP ``status``."""
    error = HandshakeRejected(status, headers, (body or b"").decode("utf-8", "replace"))
    error.__cause__ = cause
    return error


# -- websockets ---------------------------------------------------------------------------


class _WebsocketsConnection:
    __slots__ = ("recv", "send", "ws")

    closed_error: Final[type[BaseException]] = _WsConnectionClosed

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.recv: Callable[[], Awaitable[str | bytes]] = ws.recv
        self.send: Callable[[str | bytes], Awaitable[None]] = ws.send

    @property
    def closed(self) -> bool:
        return self.ws.state is _WsState.CLOSED

    async def close(self) -> None:
        await self.ws.close()

    def abort(self) -> None:
        self.ws.transport.abort()

    def close_rcvd_code(self) -> int | None:
        rcvd = self.ws.protocol.close_rcvd
        return None if rcvd is None else int(rcvd.code)

    def close_info(self, exc: BaseException) -> CloseInfo:
        assert isinstance(exc, _WsConnectionClosed)
        rcvd, sent = exc.rcvd, exc.sent
        return CloseInfo(
            rcvd_code=None if rcvd is None else int(rcvd.code),
            rcvd_reason="" if rcvd is None else rcvd.reason,
            sent_code=None if sent is None else int(sent.code),
            sent_reason="" if sent is None else sent.reason,
            rcvd_then_sent=exc.rcvd_then_sent,
        )

    def set_receiver(self, receiver: Receiver | None) -> bool:
        return False


class WebsocketsTransport(Transport):
    """The ``websockets`` asyncio client (the default transport)."""

    name = "websockets"

    async def open(
        self, url: str, options: TransportOptions, headers: Mapping[str, str] | None
    ) -> TransportConnection:
        kwargs: dict[str, Any] = {
            "additional_headers": headers,
            "open_timeout": options.open_timeout,
            "ping_interval": options.ping_interval,
            "ping_timeout": options.ping_timeout,
            "close_timeout": options.close_timeout,
            "max_size": options.max_size,
        }
        if options.ssl is not None:
            kwargs["ssl"] = options.ssl
        if options.user_agent is not None:
            kwargs["user_agent_header"] = options.user_agent
        try:
            ws = await _ws_connect(url, **kwargs)
        except _WsInvalidStatus as exc:
            response = exc.response
            raise rejected(
                response.status_code,
                dict(response.headers.raw_items()),
                bytes(response.body or b""),
                exc,
            ) from exc
        except _WsInvalidMessage as exc:
            raise handshake_error(str(exc), invalid=False, cause=exc) from exc
        except (_WsInvalidHandshake, _WsInvalidURI) as exc:
            raise handshake_error(str(exc), invalid=True, cause=exc) from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise connect_error(exc) from exc
        return _WebsocketsConnection(ws)


# -- the option ---------------------------------------------------------------------------


def _picows() -> Transport:
    from ._picows import PicowsTransport

    return PicowsTransport()


#: ``transport=`` names and what they build
TRANSPORTS: Final[Mapping[str, Callable[[], Transport]]] = {
    "websockets": WebsocketsTransport,
    "picows": _picows,
}

#: the transport of ``Connection(transport=None)`` (the test suite may switch it)
DEFAULT_TRANSPORT = "websockets"


def resolve_transport(value: object) -> Transport:
    """``transport=`` (a name, a :class:`Transport`, or None for the default) to a transport.

    Raises:
        ConfigError: an unknown name, another type, or picows missing.
    """
    if value is None:
        value = DEFAULT_TRANSPORT
    if isinstance(value, Transport):
        return value
    if isinstance(value, str):
        factory = TRANSPORTS.get(value)
        if factory is None:
            raise ConfigError(
                "transport", value, f"must be one of {', '.join(map(repr, TRANSPORTS))}"
            )
        return factory()
    raise ConfigError(
        "transport", value, "must be 'websockets', 'picows' or a wsevents transport instance"
    )
