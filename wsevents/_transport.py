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
import logging
import ssl as _ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, NamedTuple, Protocol

from websockets import State as _WsState
from websockets.asyncio.client import ClientConnection, connect as _ws_connect
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosed as _WsConnectionClosed,
    InvalidHandshake as _WsInvalidHandshake,
    InvalidMessage as _WsInvalidMessage,
    InvalidProxyStatus as _WsInvalidProxyStatus,
    InvalidStatus as _WsInvalidStatus,
    InvalidURI as _WsInvalidURI,
    ProxyError as _WsProxyError,
)
from websockets.frames import Frame as _WsFrame, Opcode as _WsOpcode

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
    "proxy_error",
    "ping_rtt",
    "resolve_transport",
]

#: Takes one complete text message from a transport's frame callback: returns None
#: when it took it, anything else to leave it to ``recv()``.
Receiver = Callable[[str], object]


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

    def handled(self) -> None:
        """With a receiver set: the message ``recv()`` returned last is handled (the
        frames behind it may reach the receiver again)."""


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


class _NoFrameTrace(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A library's logger that never traces frames: DEBUG is off, the rest passes."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


def quiet_logger(name: str) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """The logger ``name`` without its DEBUG frame trace (see ``trace_frames``)."""
    return _NoFrameTrace(logging.getLogger(name), {})


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


def proxy_error(exc: BaseException) -> ConnectError:
    """A proxy that failed otherwise: a garbled answer, a SOCKS refusal, or the
    package SOCKS needs missing (``pip install 'wsevents[proxy]'``)."""
    if isinstance(exc, ImportError):
        error = ConnectError(
            "a SOCKS proxy needs python-socks (pip install 'wsevents[proxy]')", kind="invalid"
        )
    else:
        error = ConnectError(f"proxy failed: {type(exc).__name__}: {exc}")
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

    def handled(self) -> None:
        pass

    @property
    def ping_rtt(self) -> float | None:
        """The last keepalive ping's round trip, seconds (None before the first pong)."""
        return ping_rtt(self.ws)


def ping_rtt(ws: Any) -> float | None:
    """``ws.latency`` (websockets, picows.websockets: 0 until a pong came) or None."""
    latency = getattr(ws, "latency", 0)
    return float(latency) if latency else None


_TEXT: Final = _WsOpcode.TEXT
_BINARY: Final = _WsOpcode.BINARY


class _Listener(ClientConnection):
    """A websockets client connection whose complete text frames reach a receiver
    first, from the protocol's own frame processing (no ``recv()`` per message).

    Frames the receiver does not take (binary, fragmented, invalid UTF-8,
    declined) go to websockets' own message queue and ``recv()``; while any
    message is there or in the caller's hands (:attr:`behind`), new frames queue
    behind it, so the order of messages never changes, and websockets' flow
    control (pause reading above ``max_queue``) still applies to them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: takes complete text messages first, when set
        self.receiver: Receiver | None = None
        #: messages given to websockets' queue and not yet handled
        self.behind = 0

    def process_event(self, event: Any) -> None:
        receiver = self.receiver
        if (
            receiver is not None
            and not self.behind
            and event.__class__ is _WsFrame
            and event.opcode is _TEXT
            and event.fin
        ):
            try:
                text = str(event.data, "utf-8")
            except UnicodeDecodeError:
                pass  # websockets fails the connection (1007)
            else:
                if receiver(text) is None:
                    return
        super().process_event(event)
        if event.__class__ is _WsFrame and (event.opcode is _TEXT or event.opcode is _BINARY):
            self.behind += 1



class _WebsocketsListenerConnection(_WebsocketsConnection):
    """The connection of a :class:`_Listener`."""

    __slots__ = ()

    def set_receiver(self, receiver: Receiver | None) -> bool:
        ws = self.ws
        assert isinstance(ws, _Listener)
        ws.receiver = receiver
        return True

    def handled(self) -> None:
        ws = self.ws
        assert isinstance(ws, _Listener)
        ws.behind -= 1


class WebsocketsTransport(Transport):
    """The ``websockets`` asyncio client (the default transport).

    Complete text frames go from websockets' frame processing straight to the
    connection's reader (no ``recv()`` coroutine step per message), which
    delivers them there when the dispatcher is idle and the handlers are plain
    functions; every other frame takes websockets' ``recv()``.

    Args:
        receiver: False keeps every frame on ``recv()`` (websockets as it is).
    """

    name = "websockets"

    def __init__(self, *, receiver: bool = True) -> None:
        self._receiver = receiver

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
        if self._receiver:
            kwargs["create_connection"] = _Listener
        if not options.trace_frames:
            kwargs["logger"] = _QUIET
        if options.ssl is not None:
            kwargs["ssl"] = options.ssl
        if options.proxy is not True:
            kwargs["proxy"] = options.proxy
        if options.subprotocols is not None:
            kwargs["subprotocols"] = list(options.subprotocols)
        if options.local_addr is not None:
            kwargs["local_addr"] = options.local_addr
        if options.compression is None:
            kwargs["compression"] = None
        if options.user_agent is not None:
            kwargs["user_agent_header"] = options.user_agent
        try:
            ws = await _ws_connect(url, **kwargs)
        except _WsInvalidProxyStatus as exc:
            response = exc.response
            error = rejected(
                response.status_code,
                dict(response.headers.raw_items()),
                bytes(response.body or b""),
                exc,
            )
            error.args = (f"the proxy refused the connection with HTTP {response.status_code}",)
            raise error from exc
        except (_WsProxyError, ImportError) as exc:
            raise proxy_error(exc) from exc
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
        _forget_handshake(ws)
        if isinstance(ws, _Listener):
            return _WebsocketsListenerConnection(ws)
        return _WebsocketsConnection(ws)


_NO_HEADERS: Final = Headers()
_QUIET: Final = quiet_logger("websockets.client")


def _forget_handshake(ws: ClientConnection) -> None:
    """Drop the handshake's header lists, which websockets keeps for the life of the
    connection and never reads again (about 3 KiB per connection): a pool of idle
    shards should not pay for them.  The request's path and the response's
    status stay."""
    if ws.request is not None:
        ws.request.headers = _NO_HEADERS
    if ws.response is not None:
        ws.response.headers = _NO_HEADERS


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
