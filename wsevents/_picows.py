"""The picows transport: picows' websockets-compatible client (layer L3).

``transport="picows"`` (extra ``wsevents[picows]``): a Cython implementation
about twice as fast per message as ``websockets``.  Complete, uncompressed text
frames go from picows' frame callback straight to the connection's reader
(:meth:`TransportConnection.set_receiver <wsevents._transport.TransportConnection.set_receiver>`),
with no coroutine step per message; every other frame takes picows.websockets'
``recv()``.  What opening a connection raises is mapped to wsevents' errors
here, as in :mod:`wsevents._transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl as _ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final, NamedTuple, NoReturn

from websockets.asyncio.messages import MAX_FRAGMENTS as _MAX_FRAGMENTS

from ._bounded import bound_reads
from ._options import TransportOptions
from ._transport import (
    CloseInfo,
    Receiver,
    Transport,
    TransportConnection,
    connect_error,
    handshake_error,
    ping_rtt,
    proxy_error,
    quiet_logger,
    rejected,
)
from .exceptions import ConfigError, ConnectError


__all__ = ["PicowsTransport"]

#: the close code reported when a close frame carried no status code (RFC 6455 7.1.5)
_NO_STATUS_RCVD: Final = 1005
_PICOWS_MISSING: Final = "picows is not installed (pip install 'wsevents[picows]')"
_PICOWS_LOGGER: Final = logging.getLogger("picows.client")
_PICOWS_QUIET: Final = quiet_logger("picows.client")
_PERMESSAGE_DEFLATE_REQUEST: Final = "permessage-deflate; client_max_window_bits"

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
        failure = getattr(getattr(self, "ws", None), "failure", None)
        if failure is not None:
            # A check of ours failed the connection (RSV bits, an invalid close code,
            # too many fragments), or picows' parser refused a frame, or a fault came
            # before a close frame picows had read ahead: picows' own record says less.
            return CloseInfo(None, "", failure[0], failure[1], False)
        rcvd, sent = getattr(exc, "rcvd", None), getattr(exc, "sent", None)
        return CloseInfo(
            rcvd_code=None if rcvd is None else _picows_code(rcvd.code),
            rcvd_reason="" if rcvd is None else rcvd.reason or "",
            sent_code=None if sent is None else _picows_code(sent.code),
            sent_reason="" if sent is None else sent.reason or "",
            rcvd_then_sent=getattr(exc, "rcvd_then_sent", None),
        )

    def set_receiver(self, receiver: Receiver | None) -> bool:
        return False

    def handled(self) -> None:
        pass

    @property
    def ping_rtt(self) -> float | None:
        """The last keepalive ping's round trip, seconds (None before the first pong)."""
        return ping_rtt(self.ws)


class _PicowsListenerConnection(_PicowsConnection):
    """A connection whose frames can reach a receiver straight from picows' callback.

    Its ``ws`` is a :func:`_listener_class` instance.  The frames the receiver
    does not take (binary, fragmented, compressed, invalid UTF-8, declined) go
    to picows.websockets' own queue and ``recv()``; while any message is
    there or in the caller's hands, new frames queue behind it, so the order
    of messages never changes.  A message counts as handled when the caller
    says so (:meth:`handled`).
    """

    __slots__ = ()

    def set_receiver(self, receiver: Receiver | None) -> bool:
        """Offer complete text messages to ``receiver`` first (None: stop)."""
        if not self.ws.ended:
            self.ws.receiver = receiver
        return True

    def handled(self) -> None:
        self.ws.behind -= 1


def _valid_close_code(code: Any) -> bool:
    """A close code a peer may send (RFC 6455 7.4.1-2): 1000-1003, 1007-1014, 3000-4999."""
    value = int(code)
    return 1000 <= value <= 1003 or 1007 <= value <= 1014 or 3000 <= value <= 4999


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
        continuation = picows.WSMsgType.CONTINUATION
        close, ping = picows.WSMsgType.CLOSE, picows.WSMsgType.PING
        control = frozenset({close, ping, picows.WSMsgType.PONG})
        # (type, payload, fin, rsv1) -> a frame: what a message inflated here and
        # declined by the receiver reaches picows.websockets' queue as
        make_frame: Callable[..., Any] | None = getattr(
            picows.picows, "_make_test_ws_frame", None
        )
        close_code = picows.WSCloseCode
        protocol_error = picows.WSProtocolError
    except (ImportError, AttributeError):  # pragma: no cover - another picows layout
        return None

    base_on_frame = ClientConnection.on_ws_frame

    class _Listener(ClientConnection):
        __slots__ = (
            "behind",
            "deflate",
            "ended",
            "failure",
            "fragments",
            "inflater",
            "limit",
            "max_message",
            "receiver",
            "wire",
        )

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            #: takes complete text frames first, when set
            self.receiver: Receiver | None = None
            #: messages given to picows.websockets' queue and not yet handled
            self.behind = 0
            #: the largest frame the receiver gets (picows.websockets fails larger ones)
            self.limit: int = kwargs["max_frame_size"]
            #: permessage-deflate negotiated (RSV1 allowed on data frames)
            self.deflate = kwargs.get("permessage_deflate") is not None
            #: picows.websockets' own inflater (its context shared with its recv()
            #: path: every compressed frame goes through it once, in order), when
            #: compressed text frames are inflated here for the receiver
            self.inflater: Any = kwargs.get("permessage_deflate") if make_frame else None
            #: the largest message, inflated (0: no limit)
            self.max_message: int = kwargs["max_message_size"]
            #: a close frame or a protocol error was seen: later frames are ignored
            self.ended = False
            #: the close code and reason the connection failed with (a check of ours,
            #: a fault picows.websockets raised, a frame picows' parser refused)
            self.failure: tuple[int, str] | None = None
            #: frames of the fragmented message under way (0: none)
            self.fragments = 0
            #: picows' transport (picows.websockets keeps its own private)
            self.wire: Any = None

        def on_ws_connected(self, transport: Any) -> None:
            self.wire = transport
            bound_reads(transport)
            super().on_ws_connected(transport)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            receiver = self.receiver
            if (
                receiver is not None
                and not self.behind
                and frame.msg_type == text
                and frame.fin
                and not frame.rsv2
                and not frame.rsv3
                and frame.payload_size <= self.limit
            ):
                if not frame.rsv1:
                    try:
                        message = frame.get_payload_as_utf8_text()
                    except UnicodeDecodeError:
                        pass  # picows.websockets fails the connection (1007)
                    else:
                        if receiver(message) is None:
                            return
                elif self.inflater is not None:
                    self.inflate(transport, frame, receiver)
                    return
            self.other_frame(transport, frame)

        def inflate(self, transport: Any, frame: Any, receiver: Receiver) -> None:
            """A complete compressed text frame: inflated here, then offered to the
            receiver as an uncompressed one is (RFC 7692 context takeover holds:
            the inflater is picows.websockets' own)."""
            try:
                data = self.inflater.decode_frame(frame, self.max_message)
                # decode_frame enforces the limit but for the tail its flush adds
                if self.max_message and len(data) > self.max_message:  # pragma: no cover
                    raise protocol_error(close_code.MESSAGE_TOO_BIG, "message too big")
            except Exception:
                self.end()  # picows would fail the connection the same way
                raise
            try:
                message = data.decode()
            except UnicodeDecodeError:
                pass  # picows.websockets fails the connection (1007)
            else:
                if receiver(message) is None:
                    return
            # Declined (or not UTF-8): to picows.websockets' queue, already inflated.
            assert make_frame is not None
            self.other_frame(transport, make_frame(text, data, True, False))

        def fail(self, code: Any, reason: str) -> NoReturn:
            """Fail the connection with ``code`` (picows sends the close frame), and
            remember why: its own record would say 1006 or the code received."""
            self.end()
            self.failure = (int(code), reason)
            raise protocol_error(code, reason)

        def other_frame(self, transport: Any, frame: Any) -> None:
            """Every frame the receiver did not take, with RFC 6455's checks that
            picows leaves out (the receiver's frames passed them on the way)."""
            if self.ended:
                return  # nothing after a close frame or a protocol error (5.5.1, 7.1.7)
            kind = frame.msg_type
            if frame.rsv2 or frame.rsv3 or (frame.rsv1 and (kind in control or not self.deflate)):
                self.fail(close_code.PROTOCOL_ERROR, "reserved bits set")
            if kind == ping:
                # picows' auto-pong is off, so that a ping is checked like any frame
                # (a ping over 125 bytes or fragmented never gets here: picows'
                # parser refuses it)
                transport.send_pong(frame.get_payload_as_bytes())
                return
            if kind == close:
                self.end()
                if frame.payload_size >= 2 and not _valid_close_code(frame.get_close_code()):
                    self.fail(close_code.PROTOCOL_ERROR, "invalid close code")
            elif kind == continuation:
                # websockets' cap on the frames of one message (1009), the same here
                if self.fragments >= _MAX_FRAGMENTS:
                    self.fail(close_code.MESSAGE_TOO_BIG, "too many fragments")
                self.fragments = 0 if frame.fin else self.fragments + 1
            elif (kind == text or kind == binary) and not frame.fin:
                self.fragments = 1
            try:
                base_on_frame(self, transport, frame)
            except Exception as exc:
                self.end()  # picows fails the connection: nothing more is delivered
                if isinstance(exc, protocol_error):
                    # the first fault in the stream's order: a close frame picows
                    # read after this one may already be in its close record
                    self.failure = (int(exc.code), str(exc.args[1]))
                raise
            if kind == text or kind == binary:
                self.behind += 1

        def refused(self) -> None:
            """picows' parser refused a frame (it logs an error, then sends the close
            frame itself; the frame never reaches :meth:`on_ws_frame`).

            The frame picows read before it is still delivered, within the same
            read (picows parses one frame ahead); nothing after it is, though
            picows would go on parsing what follows it in its buffer on the next
            read.  The connection then ends with the code picows sent.  (The
            settle runs before the next read on asyncio's loops; uvloop reads
            again within one callback when a read fills picows' whole buffer,
            and frames of that second read could still be delivered.)
            """
            if not self.ended and self.wire is not None and not self.wire.is_disconnected:
                asyncio.get_running_loop().call_soon(self.settle)

        def settle(self) -> None:
            """After the read in which picows refused a frame: the end, with picows'
            code (unless the frame read before it ended the connection first)."""
            if not self.ended:
                self.end()
                # picows sends its close frame right after it logs the refusal
                sent = self.wire.close_handshake.sent
                self.failure = (int(sent.code), sent.reason or "")

        def end(self) -> None:
            """A close frame or a protocol error: no frame is taken any more."""
            self.ended = True
            self.receiver = None

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
        self, url: str, options: TransportOptions, headers: Mapping[str, str] | None
    ) -> TransportConnection:
        open_timeout, ssl, user_agent = options.open_timeout, options.ssl, options.user_agent
        compat = self._compat
        errors = compat.exceptions
        # The TCP connection is made here, so that a handshake cut short (open_timeout,
        # cancellation) can shut its socket down: picows would keep it until its own
        # handshake timer fired.
        sockets: list[socket.socket] = []

        local_addr = options.local_addr

        async def socket_factory(parsed: Any) -> socket.socket:
            sock = await _connect_socket(parsed.host, parsed.port, local_addr)
            sockets.append(sock)
            return sock

        kwargs: dict[str, Any] = {
            "additional_headers": headers,
            "open_timeout": open_timeout,
            "ping_interval": options.ping_interval,
            "ping_timeout": options.ping_timeout,
            "close_timeout": options.close_timeout,
            "max_size": options.max_size,
            "socket_factory": socket_factory,
            # picows' own logger name (picows.websockets would log as websockets.client)
            "logger": _PICOWS_LOGGER if options.trace_frames else _PICOWS_QUIET,
            "ssl": ssl,
            "user_agent_header": user_agent,
        }
        if self._use_aiofastnet is not None:
            kwargs["use_aiofastnet"] = self._use_aiofastnet
        proxy = options.proxy
        kwargs["proxy"] = _environment_proxy(url) if proxy is True else proxy
        kwargs["subprotocols"] = options.subprotocols
        kwargs["compression"] = options.compression
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
            if isinstance(exc, asyncio.CancelledError) or not isinstance(exc, Exception):
                raise
            raise _picows_open_error(exc, errors, None if parts is None else parts.picows) from exc
        if ws is None or not sockets:  # the assertion above, under python -O
            for sock in sockets:
                _shutdown(sock)
            raise ConnectError("cannot connect: connection closed during the opening handshake")
        if parts is None:
            return _PicowsConnection(ws, sockets[-1], compat)
        return _PicowsListenerConnection(ws, sockets[-1], compat)


def _picows_open_error(exc: Exception, errors: Any, core: Any) -> ConnectError:
    """What ``open()`` raises for ``exc``, raised by picows.websockets (``errors``) or
    by picows itself (``core``, when the listener connection was opened).
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
        return handshake_error(str(exc), invalid=False, cause=exc)
    elif isinstance(exc, (errors.InvalidHandshake, errors.InvalidURI)) or (
        core is not None and isinstance(exc, (core.WSHandshakeError, core.WSInvalidURL))
    ):
        return handshake_error(str(exc), invalid=True, cause=exc)
    elif type(exc).__name__ == "ProxyError":  # python-socks' (picows' proxy layer)
        status = re.search(r"status (\d{3})", str(exc))
        if status is None:
            return proxy_error(exc)
        refused = rejected(int(status.group(1)), {}, b"", exc)
        refused.args = (f"the proxy refused the connection with HTTP {status.group(1)}",)
        return refused
    elif isinstance(exc, AssertionError):
        # picows.websockets asserts it got a connection: the server closed
        # the TCP connection before answering the handshake.
        error = ConnectError("cannot connect: connection closed during the opening handshake")
        error.__cause__ = exc
        return error
    else:
        return connect_error(exc)
    headers = {str(k): str(v) for k, v in response.headers.items()}
    return rejected(int(status), headers, bytes(body or b""), exc)


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
    proxy: str | None,
    subprotocols: tuple[str, ...] | None,
    compression: str | None,
    use_aiofastnet: bool | None = None,
) -> Any:
    """Open a listener connection as ``picows.websockets.connect()`` opens its own.

    With the same defaults: permessage-deflate offered, a queue of 16 frames
    before reading pauses, a 32 KiB write limit, the proxy of the environment.
    """
    headers = list((additional_headers or {}).items())
    headers.append(("User-Agent", user_agent_header or parts.default_user_agent()))
    if compression is not None:
        headers.append(("Sec-WebSocket-Extensions", _PERMESSAGE_DEFLATE_REQUEST))
    if subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    frame_limit = 2**31 - 1 if max_size is None else max_size
    watch = _RefusalWatch(logger)

    def listener_factory(request: Any, response: Any) -> Any:
        wrapped = parts.response.from_picows(response)
        listener = watch.listener = parts.listener(
            request=parts.request.from_picows(request),
            response=wrapped,
            subprotocol=parts.resolve_subprotocol(subprotocols, wrapped),
            permessage_deflate=parts.configure_permessage_deflate(wrapped, compression),
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=16,
            write_limit=32768,
            max_message_size=0 if max_size is None else max_size,
            max_frame_size=frame_limit,
            logger=logger,
        )
        return listener

    kwargs: dict[str, Any] = {}
    if use_aiofastnet is not None:
        kwargs["use_aiofastnet"] = use_aiofastnet
    _, listener = await parts.picows.ws_connect(
        listener_factory,
        url,
        ssl_context=ssl,
        websocket_handshake_timeout=open_timeout,
        enable_auto_ping=False,
        # pings are answered by the listener, after its checks (RSV bits)
        enable_auto_pong=False,
        max_frame_size=frame_limit,
        extra_headers=headers,
        proxy=proxy,
        socket_factory=socket_factory,
        logger_name=watch,
        **kwargs,
    )
    return listener


class _RefusalWatch(logging.LoggerAdapter):  # type: ignore[type-arg]
    """picows' logger for one connection, which also tells its listener when
    picows' own parser refuses a frame.

    picows has no callback for that: it logs an error, sends the close frame
    and drops the connection a moment later (its protocol logs at ERROR level
    only when it fails the connection).
    """

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter) -> None:  # type: ignore[type-arg]
        super().__init__(logger, {})
        #: the listener of the connection, once picows made it
        self.listener: Any = None

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and self.listener is not None:
            self.listener.refused()
        super().log(level, msg, *args, **kwargs)


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


async def _connect_socket(
    host: str, port: int, local_addr: tuple[str, int] | None = None
) -> socket.socket:
    """A connected non-blocking TCP socket (bound to ``local_addr`` if given); each
    address in turn, like asyncio's."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            if local_addr is not None:
                sock.bind(local_addr)
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


