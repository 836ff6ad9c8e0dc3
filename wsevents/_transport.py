"""Transports: the WebSocket client library under a connection (layer L3).

A :class:`Transport` opens WebSocket client connections for
:class:`wsevents.Connection`; the connection only ever uses the small
interface of :class:`TransportConnection` (and the exceptions below), so the
library underneath can change without touching the lifecycle code:

* :class:`WebsocketsTransport` (``transport="websockets"``, the default): the
  ``websockets`` asyncio client;
* :class:`PicowsTransport` (``transport="picows"``, extra ``wsevents[picows]``):
  picows' websockets-compatible client (``picows.websockets``), a Cython
  implementation about twice as fast per message.

The per-message path stays as short as before: a transport connection's
``recv`` *is* the library's own bound ``recv`` method (no wrapper in between),
and it raises the library's own "connection closed" exception, named by
``closed_error``; :meth:`TransportConnection.close_info` turns that exception
into the close frames exchanged, once per connection.

What ``open()`` raises is normalised for ``Connection._failure``:
:class:`HandshakeStatus` (the server answered the upgrade with another HTTP
status), :class:`HandshakeFailed` (an invalid or cut handshake),
``ssl.SSLError``, ``TimeoutError`` and ``OSError`` (network errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as _ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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

from .exceptions import ConfigError


__all__ = [
    "DEFAULT_TRANSPORT",
    "TRANSPORTS",
    "CloseInfo",
    "HandshakeFailed",
    "HandshakeStatus",
    "PicowsTransport",
    "Transport",
    "TransportConnection",
    "WebsocketsTransport",
    "resolve_transport",
]

#: the close code reported when a close frame carried no status code (RFC 6455 7.1.5)
_NO_STATUS_RCVD: Final = 1005
_PICOWS_MISSING: Final = "picows is not installed (pip install 'wsevents[picows]')"
_PICOWS_LOGGER: Final = logging.getLogger("picows.client")


class CloseInfo(NamedTuple):
    """The close frames of an ended connection, whatever the library."""

    rcvd_code: int | None
    rcvd_reason: str
    sent_code: int | None
    sent_reason: str
    #: True when the server's close frame came first (None: unknown)
    rcvd_then_sent: bool | None


class HandshakeStatus(Exception):
    """The server answered the opening handshake with an HTTP status other than 101.

    The library's own exception is chained as ``__cause__``.
    """

    def __init__(
        self, status: int, headers: dict[str, str], body: str, retry_after: str | None
    ) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {status}")
        self.status = status
        self.headers = headers
        self.body = body
        #: the raw ``Retry-After`` header (looked up case-insensitively), if any
        self.retry_after = retry_after


class HandshakeFailed(Exception):
    """The opening handshake failed otherwise.

    ``invalid`` is True for a response that can never work (bad upgrade
    headers, bad URI: not retried by default) and False for a cut or garbled
    response (retried like a network error).  The library's own exception is
    chained as ``__cause__``.
    """

    def __init__(self, message: str, *, invalid: bool) -> None:
        super().__init__(message)
        self.invalid = invalid


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


class Transport:
    """Opens WebSocket client connections (subclass and implement :meth:`open`)."""

    #: the name ``Connection(transport=...)`` accepts for this transport
    name = "custom"

    async def open(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        open_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float,
        max_size: int | None,
        ssl: _ssl.SSLContext | None,
        user_agent: str | None,
    ) -> TransportConnection:
        """Open a connection (handshake included) within ``open_timeout``.

        Raises:
            HandshakeStatus, HandshakeFailed, ssl.SSLError, TimeoutError, OSError.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<wsevents transport {self.name}>"


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


class WebsocketsTransport(Transport):
    """The ``websockets`` asyncio client (the default transport)."""

    name = "websockets"

    async def open(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        open_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float,
        max_size: int | None,
        ssl: _ssl.SSLContext | None,
        user_agent: str | None,
    ) -> TransportConnection:
        kwargs: dict[str, Any] = {
            "additional_headers": headers,
            "open_timeout": open_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_size": max_size,
        }
        if ssl is not None:
            kwargs["ssl"] = ssl
        if user_agent is not None:
            kwargs["user_agent_header"] = user_agent
        try:
            ws = await _ws_connect(url, **kwargs)
        except _WsInvalidStatus as exc:
            response = exc.response
            raise HandshakeStatus(
                response.status_code,
                {k: v for k, v in response.headers.raw_items()},
                response.body.decode("utf-8", "replace") if response.body else "",
                response.headers.get("Retry-After"),
            ) from exc
        except _WsInvalidMessage as exc:
            raise HandshakeFailed(str(exc), invalid=False) from exc
        except (_WsInvalidHandshake, _WsInvalidURI) as exc:
            raise HandshakeFailed(str(exc), invalid=True) from exc
        return _WebsocketsConnection(ws)


# -- picows -------------------------------------------------------------------------------


class _PicowsConnection:
    # picows.websockets' connection does not expose its picows transport: the
    # TCP connection is ended through the socket this module connected.
    __slots__ = ("_closed_state", "closed_error", "recv", "send", "sock", "ws")

    def __init__(self, ws: Any, sock: socket.socket, compat: Any) -> None:
        self.ws = ws
        self.sock = sock
        self.closed_error: type[BaseException] = compat.exceptions.ConnectionClosed
        self._closed_state = compat.State.CLOSED
        self.recv: Callable[[], Awaitable[str | bytes]] = ws.recv
        self.send: Callable[[str | bytes], Awaitable[None]] = ws.send

    @property
    def closed(self) -> bool:
        return bool(self.ws.state == self._closed_state)

    async def close(self) -> None:
        # Also when already closed: this collects the error picows keeps for a
        # connection it failed itself (an oversized frame), which it would
        # otherwise log as never retrieved.
        await self.ws.close()

    def abort(self) -> None:
        # The transport reads EOF at once and closes (within an iteration or two).
        _shutdown(self.sock)

    def close_rcvd_code(self) -> int | None:
        # The received code when there is one, else the code sent (never 1013).
        code = self.ws.close_code
        return None if code is None else _picows_code(code)

    def close_info(self, exc: BaseException) -> CloseInfo:
        rcvd, sent = getattr(exc, "rcvd", None), getattr(exc, "sent", None)
        return CloseInfo(
            rcvd_code=None if rcvd is None else _picows_code(rcvd.code),
            rcvd_reason="" if rcvd is None else rcvd.reason or "",
            sent_code=None if sent is None else _picows_code(sent.code),
            sent_reason="" if sent is None else sent.reason or "",
            rcvd_then_sent=getattr(exc, "rcvd_then_sent", None),
        )


def _picows_code(code: Any) -> int:
    """picows reports a close frame without a status as code 0; websockets as 1005."""
    value = int(code)
    return _NO_STATUS_RCVD if value == 0 else value


class PicowsTransport(Transport):
    """picows' websockets-compatible client (``picows.websockets``).

    Args:
        use_aiofastnet: passed to picows (None: aiofastnet when installed).

    Raises:
        ConfigError: picows is not installed.
    """

    name = "picows"

    def __init__(self, *, use_aiofastnet: bool | None = None) -> None:
        try:
            from picows import websockets as compat
        except ImportError as exc:
            raise ConfigError("transport", "picows", _PICOWS_MISSING) from exc
        self._compat = compat
        self._use_aiofastnet = use_aiofastnet

    async def open(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        open_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float,
        max_size: int | None,
        ssl: _ssl.SSLContext | None,
        user_agent: str | None,
    ) -> TransportConnection:
        compat = self._compat
        errors = compat.exceptions
        # The TCP connection is made here, so that a handshake cut short (open_timeout,
        # cancellation) can shut its socket down: picows would keep it until its own
        # handshake timer fired.
        sockets: list[socket.socket] = []

        async def socket_factory(parsed: Any) -> socket.socket:
            sock = await _connect_socket(parsed.host, parsed.port)
            sockets.append(sock)
            return sock

        kwargs: dict[str, Any] = {
            "additional_headers": headers,
            "open_timeout": open_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_size": max_size,
            "socket_factory": socket_factory,
            # picows' own logger name (picows.websockets would log as websockets.client)
            "logger": _PICOWS_LOGGER,
        }
        if ssl is not None:
            kwargs["ssl"] = ssl
        if user_agent is not None:
            kwargs["user_agent_header"] = user_agent
        if self._use_aiofastnet is not None:
            kwargs["use_aiofastnet"] = self._use_aiofastnet
        try:
            # Not asyncio.wait_for: on 3.11 it can swallow a cancellation that
            # arrives as the handshake completes (close() while connecting).
            async with _timeout(open_timeout):
                ws = await compat.connect(url, **kwargs)
        except BaseException as exc:
            for sock in sockets:
                _shutdown(sock)
            if isinstance(exc, errors.InvalidStatus):
                response = exc.response
                raw = response.headers
                # picows keeps the body it read with the headers on its own exception.
                body = response.body or getattr(exc.__cause__, "raw_body", None) or b""
                raise HandshakeStatus(
                    int(response.status_code),
                    {str(k): str(v) for k, v in raw.items()},
                    bytes(body).decode("utf-8", "replace"),
                    raw.get("Retry-After"),
                ) from exc
            if isinstance(exc, errors.InvalidMessage):
                raise HandshakeFailed(str(exc), invalid=False) from exc
            if isinstance(exc, (errors.InvalidHandshake, errors.InvalidURI)):
                raise HandshakeFailed(str(exc), invalid=True) from exc
            if isinstance(exc, AssertionError):
                # picows.websockets asserts it got a connection: the server closed
                # the TCP connection before answering the handshake.
                raise ConnectionResetError(
                    "connection closed during the opening handshake"
                ) from exc
            raise
        if ws is None or not sockets:  # the assertion above, under python -O
            for sock in sockets:
                _shutdown(sock)
            raise ConnectionResetError("connection closed during the opening handshake")
        return _PicowsConnection(ws, sockets[-1], compat)


async def _connect_socket(host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket; each address in turn, like asyncio's."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if not errors:
        raise OSError(f"getaddrinfo returned no address for {host}")
    if len({str(exc) for exc in errors}) == 1:
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(exc) for exc in errors)}")


if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def _timeout(delay: float | None) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = None if delay is None else asyncio.get_running_loop().call_later(delay, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            if handle is not None:
                handle.cancel()


def _shutdown(sock: socket.socket) -> None:
    """End a socket that picows' transport may own: its transport sees EOF and closes."""
    if sock.fileno() != -1:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# -- the option ---------------------------------------------------------------------------

#: ``transport=`` names and what they build
TRANSPORTS: Final[Mapping[str, Callable[[], Transport]]] = {
    "websockets": WebsocketsTransport,
    "picows": PicowsTransport,
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
