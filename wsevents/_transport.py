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
_PERMESSAGE_DEFLATE_REQUEST: Final = "permessage-deflate; client_max_window_bits"


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

#: Takes one complete text message from a transport's frame callback and returns
#: True, or returns False to leave it to ``recv()`` (see :meth:`TransportConnection`).
Receiver = Callable[[str], bool]


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


class _PicowsListenerConnection(_PicowsConnection):
    """A connection whose frames can reach a receiver straight from picows' callback.

    Its ``ws`` is a :func:`_listener_class` instance.  The frames the receiver
    does not take (binary, fragmented, compressed, invalid UTF-8, declined) go
    to picows.websockets' own queue and ``recv()``; while any message is
    there or in the caller's hands, new frames queue behind it, so the order
    of messages never changes.  A message counts as handled when the caller
    asks ``recv()`` for the next one.
    """

    __slots__ = ("_handed",)

    def __init__(self, ws: Any, sock: socket.socket, compat: Any) -> None:
        super().__init__(ws, sock, compat)
        self._handed = False
        self.recv = self._recv

    async def _recv(self) -> str | bytes:
        ws = self.ws
        if self._handed:
            self._handed = False
            ws.behind -= 1
        message: str | bytes = await ws.recv()
        self._handed = True
        return message

    def set_receiver(self, receiver: Receiver | None) -> None:
        """Offer complete text messages to ``receiver`` first (None: stop)."""
        self.ws.receiver = receiver


def _picows_code(code: Any) -> int:
    """picows reports a close frame without a status as code 0; websockets as 1005."""
    value = int(code)
    return _NO_STATUS_RCVD if value == 0 else value


class _PicowsParts(NamedTuple):
    """What opening a listener connection takes from picows (see ``_picows_parts``)."""

    picows: Any
    listener: type[Any]
    request: Any
    response: Any
    resolve_subprotocol: Callable[..., Any]
    configure_permessage_deflate: Callable[..., Any]
    default_user_agent: Callable[[], str]


def _picows_parts() -> _PicowsParts | None:
    """picows' pieces for :func:`_open_listener`, or None if this picows lacks one.

    picows.websockets does not let its ``connect()`` build a subclass of its
    connection, so the listener connection is opened the way ``connect()``
    opens its own, from the same pieces.
    """
    try:
        import picows
        from picows.websockets.asyncio.connection import ClientConnection
        from picows.websockets.asyncio.negotiation import (
            configure_permessage_deflate,
            resolve_subprotocol,
        )
        from picows.websockets.asyncio.utils import default_user_agent
        from picows.websockets.compat import Request, Response

        text, binary = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY
    except (ImportError, AttributeError):  # pragma: no cover - another picows layout
        return None

    base_on_frame = ClientConnection.on_ws_frame

    class _Listener(ClientConnection):
        __slots__ = ("behind", "limit", "receiver")

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            #: takes complete text frames first, when set
            self.receiver: Receiver | None = None
            #: messages given to picows.websockets' queue and not yet handled
            self.behind = 0
            #: the largest frame the receiver gets (picows.websockets fails larger ones)
            self.limit: int = kwargs["max_frame_size"]

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            receiver = self.receiver
            if (
                receiver is not None
                and not self.behind
                and frame.msg_type == text
                and frame.fin
                and not frame.rsv1
                and frame.payload_size <= self.limit
            ):
                try:
                    message = frame.get_payload_as_utf8_text()
                except UnicodeDecodeError:
                    pass  # picows.websockets fails the connection (1007)
                else:
                    if receiver(message):
                        return
            base_on_frame(self, transport, frame)
            kind = frame.msg_type
            if kind == text or kind == binary:
                self.behind += 1

    return _PicowsParts(
        picows=picows,
        listener=_Listener,
        request=Request,
        response=Response,
        resolve_subprotocol=resolve_subprotocol,
        configure_permessage_deflate=configure_permessage_deflate,
        default_user_agent=default_user_agent,
    )


class PicowsTransport(Transport):
    """picows' websockets-compatible client (``picows.websockets``).

    Complete, uncompressed text frames go from picows' frame callback straight
    to the connection's reader (no coroutine per message), which delivers them
    there when the dispatcher is idle and the handlers are plain functions;
    every other frame takes picows.websockets' ``recv()``.

    Args:
        use_aiofastnet: passed to picows (None: aiofastnet when installed).
        receiver: False keeps every frame on ``recv()`` (picows.websockets as it is).

    Raises:
        ConfigError: picows is not installed.
    """

    name = "picows"

    def __init__(self, *, use_aiofastnet: bool | None = None, receiver: bool = True) -> None:
        try:
            from picows import websockets as compat
        except ImportError as exc:
            raise ConfigError("transport", "picows", _PICOWS_MISSING) from exc
        self._compat = compat
        self._use_aiofastnet = use_aiofastnet
        self._parts = _picows_parts() if receiver else None

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
            "ssl": ssl,
            "user_agent_header": user_agent,
        }
        if self._use_aiofastnet is not None:
            kwargs["use_aiofastnet"] = self._use_aiofastnet
        parts = self._parts
        try:
            # Not asyncio.wait_for: on 3.11 it can swallow a cancellation that
            # arrives as the handshake completes (close() while connecting).
            async with _timeout(open_timeout):
                if parts is None:
                    if user_agent is None:
                        del kwargs["user_agent_header"]
                    if ssl is None:
                        del kwargs["ssl"]
                    ws = await compat.connect(url, **kwargs)
                else:
                    ws = await _open_listener(parts, url, **kwargs)
        except BaseException as exc:
            for sock in sockets:
                _shutdown(sock)
            mapped = _picows_open_error(exc, errors, None if parts is None else parts.picows)
            if mapped is None:
                raise
            raise mapped from exc
        if ws is None or not sockets:  # the assertion above, under python -O
            for sock in sockets:
                _shutdown(sock)
            raise ConnectionResetError("connection closed during the opening handshake")
        if parts is None:
            return _PicowsConnection(ws, sockets[-1], compat)
        return _PicowsListenerConnection(ws, sockets[-1], compat)


def _picows_open_error(exc: BaseException, errors: Any, core: Any) -> BaseException | None:
    """What ``open()`` raises for ``exc``, raised by picows.websockets (``errors``) or
    by picows itself (``core``, when the listener connection was opened); None: as is.
    """
    if isinstance(exc, errors.InvalidStatus):
        # picows keeps the body it read with the headers on its own exception.
        response = exc.response
        status, body = (
            response.status_code,
            response.body or getattr(exc.__cause__, "raw_body", None),
        )
    elif core is not None and isinstance(exc, core.WSInvalidStatusError):
        response = exc.response
        status, body = response.status, response.body or exc.raw_body
    elif isinstance(exc, errors.InvalidMessage) or (
        core is not None and isinstance(exc, core.WSInvalidMessageError)
    ):
        return HandshakeFailed(str(exc), invalid=False)
    elif isinstance(exc, (errors.InvalidHandshake, errors.InvalidURI)) or (
        core is not None and isinstance(exc, (core.WSHandshakeError, core.WSInvalidURL))
    ):
        return HandshakeFailed(str(exc), invalid=True)
    elif isinstance(exc, AssertionError):
        # picows.websockets asserts it got a connection: the server closed
        # the TCP connection before answering the handshake.
        return ConnectionResetError("connection closed during the opening handshake")
    else:
        return None
    headers = response.headers
    return HandshakeStatus(
        int(status),
        {str(k): str(v) for k, v in headers.items()},
        bytes(body or b"").decode("utf-8", "replace"),
        headers.get("Retry-After"),
    )


async def _open_listener(
    parts: _PicowsParts,
    url: str,
    *,
    additional_headers: Mapping[str, str] | None,
    open_timeout: float | None,
    ping_interval: float | None,
    ping_timeout: float | None,
    close_timeout: float,
    max_size: int | None,
    socket_factory: Callable[[Any], Awaitable[socket.socket]],
    logger: logging.Logger,
    ssl: _ssl.SSLContext | None,
    user_agent_header: str | None,
    use_aiofastnet: bool | None = None,
) -> Any:
    """Open a listener connection as ``picows.websockets.connect()`` opens its own.

    With the same defaults: permessage-deflate offered, a queue of 16 frames
    before reading pauses, a 32 KiB write limit, the proxy of the environment.
    """
    headers = list((additional_headers or {}).items())
    headers.append(("User-Agent", user_agent_header or parts.default_user_agent()))
    headers.append(("Sec-WebSocket-Extensions", _PERMESSAGE_DEFLATE_REQUEST))
    frame_limit = 2**31 - 1 if max_size is None else max_size

    def listener_factory(request: Any, response: Any) -> Any:
        wrapped = parts.response.from_picows(response)
        return parts.listener(
            request=parts.request.from_picows(request),
            response=wrapped,
            subprotocol=parts.resolve_subprotocol(None, wrapped),
            permessage_deflate=parts.configure_permessage_deflate(wrapped, "deflate"),
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=16,
            write_limit=32768,
            max_message_size=0 if max_size is None else max_size,
            max_frame_size=frame_limit,
            logger=logger,
        )

    kwargs: dict[str, Any] = {}
    if use_aiofastnet is not None:
        kwargs["use_aiofastnet"] = use_aiofastnet
    _, listener = await parts.picows.ws_connect(
        listener_factory,
        url,
        ssl_context=ssl,
        websocket_handshake_timeout=open_timeout,
        enable_auto_ping=False,
        enable_auto_pong=True,
        max_frame_size=frame_limit,
        extra_headers=headers,
        proxy=_environment_proxy(url),
        socket_factory=socket_factory,
        logger_name=logger,
        **kwargs,
    )
    return listener


def _environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (as websockets' ``proxy=True``),
    None when there is none or ``no_proxy`` exempts the host."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    secure = url[:4].lower() == "wss:"
    proxies = getproxies()
    found = proxies.get("wss" if secure else "ws") or proxies.get("https" if secure else "http")
    if not found:
        return None
    host = urlsplit(url).hostname
    if host and proxy_bypass(host):
        return None
    return found


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
