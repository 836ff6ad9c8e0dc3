"""A real WebSocket server on loopback that tests drive to script server faults.

:class:`FakeServer` is a ``websockets.asyncio.server`` server bound to
``127.0.0.1`` on a free port. Tests (wsevents' own and users') publish on
channels through it and make it misbehave the way real feeds do: drop the TCP
connection, close with any code, refuse the opening handshake with an HTTP
status, accept and close at once, stop answering pings, or cut connections
after a maximum age::

    async with FakeServer() as server:
        async with websockets.asyncio.client.connect(server.url) as ws:
            client = await server.wait_for_client()
            await server.publish("trades", {"price": 1})
            await server.drop()            # TCP reset, no close frame

Wire protocol, matching the default ``JsonProtocol(channel_key="channel")``:

* published messages are JSON text frames ``{"channel": <channel>, **data}``;
* ``{"op": "subscribe", "channels": [...]}`` and ``{"op": "unsubscribe",
  "channels": [...]}`` from a client update :attr:`FakeClient.subscriptions`;
* every frame a client sends is recorded, in order, in :attr:`FakeServer.received`
  and :attr:`FakeClient.received`: text frames as decoded JSON when they parse,
  else as the raw ``str``; binary frames as the raw ``bytes``.

Venue limits, off by default, let tests check that a client stays within an
exchange's rules:

* ``max_channels=N``: a subscribe that would take a connection over ``N``
  channels is refused whole, with an error reply frame or a close
  (``on_excess``);
* ``client_rate_limit=(n, per)``: a connection that sends more than ``n``
  frames in any window of ``per`` seconds (pings and pongs included, as on
  Binance) is closed with code 1008;
* :attr:`FakeServer.attempts` records the time of every connection attempt and
  :attr:`FakeClient.frame_times` of every frame, for checking a budget with
  :func:`busiest_window`; :attr:`FakeServer.violations` records every limit a
  client broke.

Every wait is bounded: each waiting method takes ``timeout`` (seconds, default
5.0) and raises the builtin :exc:`TimeoutError`, with a message saying what was
awaited, when it expires. Nothing here synchronises by sleeping.

This module uses only the standard library, ``websockets`` and the pure window
arithmetic of wsevents (``wsevents._window``, shared with
:class:`wsevents.RateLimit`); it never imports the client side of wsevents, so
it can test any WebSocket client.
"""

from __future__ import annotations

import asyncio
import http
import inspect
import json
import logging
import os
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, TypeVar, final

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event

from ._replay import Replay, load_sessions
from ._window import Window, busiest, check_limit


__all__ = [
    "FakeClient",
    "FakeServer",
    "RequestInfo",
    "Violation",
    "busiest_window",
]

_logger = logging.getLogger("wsevents.testing")

_S = TypeVar("_S", bound="FakeServer")

_ProcessRequest = Callable[
    [ServerConnection, Request], Awaitable[Response | None] | Response | None
]
"""Signature of a ``websockets`` ``process_request`` hook."""


@dataclass(frozen=True)
class RequestInfo:
    """One opening handshake request seen by a :class:`FakeServer`.

    Args:
        path: Request target, including the query string (``"/ws?token=1"``).
        headers: Request headers (case-insensitive, ``websockets`` ``Headers``).
        refused_with: HTTP status the server refused the handshake with, or
            ``None`` when it let the handshake proceed.
    """

    path: str
    headers: Headers
    refused_with: int | None


@dataclass(frozen=True)
class Violation:
    """One venue limit a client broke (see :attr:`FakeServer.violations`).

    Args:
        client: :attr:`FakeClient.id` of the offending connection.
        limit: ``"client_rate_limit"`` or ``"max_channels"``.
        at: Event-loop time (monotonic seconds) of the offending frame.
        detail: What happened, e.g. ``"6 frames in 1 s (limit 5)"``.
    """

    client: int
    limit: str
    at: float
    detail: str


def busiest_window(times: Iterable[float], per: float) -> int:
    """The largest number of ``times`` in any window of ``per`` seconds.

    Windows are half-open (``[t, t + per)``), as :class:`wsevents.RateLimit`
    and ``client_rate_limit`` count them. For example, a connect budget of
    300 attempts per 5 minutes held::

        assert busiest_window(server.attempts, 300) <= 300

    Args:
        times: Times in seconds, in any order (:attr:`FakeServer.attempts`,
            :attr:`FakeClient.frame_times`).
        per: The window's length, in seconds.

    Raises:
        ValueError: When ``per`` is not a positive number.
    """
    _check_positive("per", per)
    return busiest(times, per)


class _MeteredConnection(ServerConnection):
    """A server connection that tells its :class:`FakeServer` of every attempt and
    every frame, control frames included (``recv()`` never sees pings and pongs).
    """

    fake: ClassVar[FakeServer]
    """The server; set on the per-server subclass made by :meth:`FakeServer.start`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frame_times: list[float] = []
        self.frame_window: Window | None = None
        self.exceeded = asyncio.Event()
        self.exceeded_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.fake._attempt(self)
        super().connection_made(transport)

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode is not Opcode.CLOSE:
            self.fake._frame(self)
        super().process_event(event)


@dataclass
class _Refusal:
    status: http.HTTPStatus
    headers: tuple[tuple[str, str], ...]
    body: str
    remaining: int | None


@dataclass
class _CloseAfterAccept:
    code: int
    reason: str
    remaining: int | None


def _decode(message: str | bytes) -> Any:
    """Decode a received frame: JSON text when it parses, else the raw data."""
    if isinstance(message, str):
        try:
            return json.loads(message)
        except ValueError:
            return message
    return message


def _encode(obj: object) -> str | bytes:
    """Encode ``obj`` for sending: dict/list as JSON text, str as text, bytes as binary."""
    if isinstance(obj, (str, bytes)):
        return obj
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, (dict, list)):
        return json.dumps(obj, separators=(",", ":"))
    msg = f"cannot send {type(obj).__name__!r}: expected dict, list, str or bytes"
    raise TypeError(msg)


async def _send_quietly(connection: ServerConnection, data: str | bytes) -> None:
    """Send unless the connection closed meanwhile (a reply nobody waits for)."""
    try:
        await connection.send(data)
    except ConnectionClosed:
        pass


async def _send_later(connection: ServerConnection, data: str | bytes, delay: float) -> None:
    await asyncio.sleep(delay)
    await _send_quietly(connection, data)


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        msg = f"{name} must be a positive number of seconds or None, got {value!r}"
        raise ValueError(msg)


def _check_count(count: int | None) -> None:
    if count is not None and (isinstance(count, bool) or count < 1):
        msg = f"count must be a positive integer or None, got {count!r}"
        raise ValueError(msg)


class _Changes:
    """Wakes every waiter whenever the server's recorded state changes.

    An :class:`asyncio.Event` that is replaced on each notification, so
    :meth:`notify` works from plain callbacks (no lock to acquire) and a waiter
    re-checks its predicate after every change.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float, what: Callable[[], str]
    ) -> None:
        if predicate():
            return

        async def until() -> None:
            while not predicate():
                await self._event.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        # asyncio.TimeoutError is not the builtin TimeoutError on Python 3.10.
        except asyncio.TimeoutError:
            msg = f"FakeServer: timed out after {timeout}s waiting for {what()}"
            raise TimeoutError(msg) from None


@final
class FakeClient:
    """The server side of one accepted connection to a :class:`FakeServer`.

    Created by the server; get one from :attr:`FakeServer.clients`,
    :attr:`FakeServer.all_clients` or :meth:`FakeServer.wait_for_client`.

    Args:
        server: The server that accepted the connection.
        connection: The ``websockets`` server connection.
        id: 1-based number of the connection among all accepted connections.
        opened_at: Event-loop time (``asyncio.get_running_loop().time()``)
            when the handshake completed.
    """

    def __init__(
        self, server: FakeServer, connection: ServerConnection, id: int, opened_at: float
    ) -> None:
        request = connection.request
        if request is None:  # pragma: no cover - the handler runs after the handshake
            msg = "FakeClient needs a connection that completed its handshake"
            raise RuntimeError(msg)
        self.id = id
        """1-based number of this connection among all accepted connections."""
        self.path: str = request.path
        """Request target of the handshake, including the query string."""
        self.request_headers: Headers = request.headers
        """Headers of the handshake request."""
        self.received: list[Any] = []
        """Frames this client sent, in order (decoded JSON when possible)."""
        self.subscriptions: set[str] = set()
        """Channels this client subscribed to and did not unsubscribe from."""
        self.opened_at = opened_at
        """Event-loop time when the handshake completed."""
        self.websocket = connection
        """The underlying ``websockets`` connection (escape hatch)."""
        self.frame_times: list[float] = (
            connection.frame_times if isinstance(connection, _MeteredConnection) else []
        )
        """Event-loop time of every frame this client sent, in order: data
        frames, pings and pongs (close frames excluded), as a venue counts them."""
        self._server = server
        self._tasks: set[asyncio.Task[None]] = set()
        self._frozen = False
        self._closed = False
        self._expired = asyncio.Event()
        self._expiry: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "frozen" if self._frozen else "open"
        return f"<FakeClient #{self.id} {self.path!r} {state}>"

    @property
    def closed(self) -> bool:
        """Whether the TCP connection is closed and the server forgot this client."""
        return self._closed

    @property
    def frozen(self) -> bool:
        """Whether the server stopped reading from this client (see :meth:`freeze`)."""
        return self._frozen

    @property
    def close_code(self) -> int | None:
        """Close code once closed, else ``None``.

        The code of the close frame the client sent (its echo of the server's
        code when the server closed first), or 1006 when there was none (a drop).
        """
        return self.websocket.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """Close reason of the client's close frame once closed, else ``None``."""
        return self.websocket.protocol.close_reason

    async def send(self, obj: object) -> None:
        """Send one frame to this client.

        Args:
            obj: A dict or list (sent as JSON text), a str (text frame) or
                bytes (binary frame).

        Raises:
            TypeError: When ``obj`` has another type.
            websockets.exceptions.ConnectionClosed: When the connection is closed.
        """
        await self.websocket.send(_encode(obj))

    async def publish(self, channel: str, data: Mapping[str, Any] | None = None) -> None:
        """Send one message on ``channel`` to this client.

        Args:
            channel: Channel name, stored under the server's ``channel_key``.
            data: Other fields of the message.
        """
        await self.websocket.send(self._server._message(channel, data))

    def freeze(self) -> None:
        """Stop reading from this client: its pings go unanswered, its frames unread.

        The transport stops reading, so the client's keepalive pings time out
        as on a hung server. Sending to the client still works.
        """
        self._frozen = True
        self.websocket.transport.pause_reading()

    def unfreeze(self) -> None:
        """Read from this client again; buffered pings are answered at once."""
        self._frozen = False
        self.websocket.transport.resume_reading()

    async def drop(self, timeout: float = 5.0) -> None:
        """Abort the TCP connection (RST, no close frame) and wait until it is gone.

        Args:
            timeout: Seconds to wait for the server to forget the connection.

        Raises:
            TimeoutError: When the connection is still known after ``timeout``.
        """
        self.websocket.transport.abort()
        await self.wait_closed(timeout)

    async def close(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", timeout: float = 5.0
    ) -> None:
        """Close the connection with a close handshake and wait until it is gone.

        The wait for the client's close frame is bounded by the server's
        ``close_timeout``, after which the TCP connection is aborted.

        Args:
            code: Close code to send (a code valid on the wire: 1000-1003,
                1007-1014, 3000-4999).
            reason: Close reason to send.
            timeout: Seconds to wait for the server to forget the connection.

        Raises:
            TimeoutError: When the connection is still known after ``timeout``.
        """
        try:
            await asyncio.wait_for(self.websocket.close(code, reason), timeout)
        except asyncio.TimeoutError:
            msg = f"FakeServer: timed out after {timeout}s closing connection #{self.id}"
            raise TimeoutError(msg) from None
        await self.wait_closed(timeout)

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Wait until the connection is closed and the server forgot it.

        Args:
            timeout: Seconds to wait.

        Raises:
            TimeoutError: When the connection is still open after ``timeout``.
        """
        await self._server._changes.wait_until(
            lambda: self._closed, timeout, lambda: f"connection #{self.id} to close"
        )

    async def wait_received(
        self,
        predicate: Callable[[list[Any]], bool] | None = None,
        *,
        count: int | None = None,
        timeout: float = 5.0,
    ) -> list[Any]:
        """Wait until the frames from this client satisfy a condition.

        Args:
            predicate: Called with :attr:`received` (do not mutate it) after
                every change; waiting ends when it returns true.
            count: Wait until at least this many frames were received. Defaults
                to 1 when ``predicate`` is not given.
            timeout: Seconds to wait.

        Returns:
            A copy of :attr:`received`.

        Raises:
            TimeoutError: When the condition does not hold after ``timeout``.
        """
        await self._server._wait_frames(self.received, predicate, count, timeout, f"#{self.id}")
        return list(self.received)

    async def wait_subscribed(self, *channels: str, timeout: float = 5.0) -> None:
        """Wait until this client subscribed to every one of ``channels``.

        Args:
            channels: Channel names.
            timeout: Seconds to wait.

        Raises:
            TimeoutError: When a channel is still missing after ``timeout``.
        """
        wanted = set(channels)
        await self._server._changes.wait_until(
            lambda: wanted <= self.subscriptions,
            timeout,
            lambda: (
                f"connection #{self.id} to subscribe to {sorted(wanted)} "
                f"(subscribed: {sorted(self.subscriptions)})"
            ),
        )

    # Called by FakeServer.

    def _spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` in a task owned by this connection (cancelled when it ends)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule_expiry(self, max_age: float | None) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if max_age is not None and not self._expired.is_set() and not self._closed:
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_at(self.opened_at + max_age, self._expired.set)


class FakeServer:
    """A real WebSocket server on loopback with scriptable faults.

    Use it as an async context manager, or call :meth:`start` and
    :meth:`stop`. After :meth:`stop`, :meth:`start` binds the same port again,
    so clients can reconnect to the same :attr:`url`.

    Args:
        host: Interface to bind. Keep the default loopback address.
        port: TCP port; 0 picks a free one.
        channel_key: Key of the channel name in published messages.
        ping_interval: Seconds between the server's own keepalive pings;
            ``None`` (default) disables them.
        ping_timeout: Seconds the server waits for a pong to its own pings.
        max_age: Close each connection this many seconds after its handshake
            (like an exchange's forced 24 h cut); ``None`` disables it.
        max_age_code: Close code used when ``max_age`` elapses.
        max_age_reason: Close reason used when ``max_age`` elapses.
        max_size: Largest frame accepted from a client, in bytes.
        close_timeout: Seconds the server waits for a client's close frame
            before aborting the TCP connection.
        open_timeout: Seconds a client has to complete its opening handshake.
        compression: ``"deflate"`` (default) or ``None`` to disable
            permessage-deflate.
        process_request: A ``websockets`` ``process_request`` hook, called
            for handshakes the server does not refuse itself; it may return a
            ``Response`` to answer instead of accepting.
        ssl: A server-side :class:`ssl.SSLContext`: the server then speaks
            ``wss://`` (for TLS tests, e.g. with a ``trustme`` certificate).
        max_channels: Most channels one connection may subscribe to; a
            subscribe that would go over is refused whole (its channels are
            not added) and recorded in :attr:`violations`. ``None`` (default):
            no limit.
        on_excess: What a refused subscribe gets: ``"error"`` (default), a
            reply frame ``{"op": "error", "code": excess_code, "reason":
            excess_reason, "channels": [...refused], "max_channels": N}`` (with
            the request's ``"id"`` when it had one), or ``"close"``, a close
            with ``excess_code`` and ``excess_reason``.
        excess_code: Code of the error reply or close (default 1008).
        excess_reason: Reason of the error reply or close.
        client_rate_limit: ``(n, per)``: close with code 1008 a connection
            that sends more than ``n`` frames in any window of ``per`` seconds,
            pings and pongs included (close frames are not counted), and record
            it in :attr:`violations`. ``None`` (default): no limit.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        channel_key: str = "channel",
        ping_interval: float | None = None,
        ping_timeout: float | None = 20.0,
        max_age: float | None = None,
        max_age_code: int = CloseCode.NORMAL_CLOSURE,
        max_age_reason: str = "",
        max_size: int | None = 2**20,
        close_timeout: float = 1.0,
        open_timeout: float = 5.0,
        compression: str | None = "deflate",
        process_request: _ProcessRequest | None = None,
        ssl: _ssl.SSLContext | None = None,
        max_channels: int | None = None,
        on_excess: Literal["error", "close"] = "error",
        excess_code: int = CloseCode.POLICY_VIOLATION,
        excess_reason: str = "too many channels",
        client_rate_limit: tuple[int, float] | None = None,
    ) -> None:
        if max_channels is not None and (
            isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1
        ):
            msg = f"max_channels must be a positive integer or None, got {max_channels!r}"
            raise ValueError(msg)
        if on_excess not in ("error", "close"):
            msg = f"on_excess must be 'error' or 'close', got {on_excess!r}"
            raise ValueError(msg)
        if client_rate_limit is not None:
            try:
                n, per = client_rate_limit
            except (TypeError, ValueError):
                msg = f"client_rate_limit must be a pair (n, per), got {client_rate_limit!r}"
                raise ValueError(msg) from None
            client_rate_limit = check_limit("client_rate_limit", n, per)
        _check_positive("ping_interval", ping_interval)
        _check_positive("ping_timeout", ping_timeout)
        _check_positive("max_age", max_age)
        _check_positive("close_timeout", close_timeout)
        _check_positive("open_timeout", open_timeout)
        self.host = host
        """Interface the server binds to."""
        self.channel_key = channel_key
        """Key of the channel name in published messages."""
        self.max_age_code = max_age_code
        """Close code used when :attr:`max_age` elapses."""
        self.max_age_reason = max_age_reason
        """Close reason used when :attr:`max_age` elapses."""
        self.received: list[Any] = []
        """Frames received from all clients, in order (decoded JSON when possible)."""
        self.requests: list[RequestInfo] = []
        """One entry per opening handshake request, refused ones included."""
        self.errors: list[Exception] = []
        """Exceptions raised by ``on_connect``/``on_message`` callbacks."""
        self.attempts: list[float] = []
        """Event-loop time (monotonic seconds) of every connection attempt: each
        TCP connection accepted, whatever became of its handshake."""
        self.violations: list[Violation] = []
        """Every venue limit a client broke, in order."""
        self.max_channels = max_channels
        """Most channels per connection, or ``None``; applies to later subscribes."""
        self.on_excess = on_excess
        """``"error"`` or ``"close"``: what a subscribe over :attr:`max_channels` gets."""
        self.excess_code = excess_code
        """Code of the error reply or close of a refused subscribe."""
        self.excess_reason = excess_reason
        """Reason of the error reply or close of a refused subscribe."""
        self.client_rate_limit: tuple[int, float] | None = client_rate_limit
        """``(n, per)`` frames per connection, or ``None``; applies to new connections."""
        self._port = port
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_age = max_age
        self._max_size = max_size
        self._close_timeout = close_timeout
        self._open_timeout = open_timeout
        self._compression = compression
        self._process_request = process_request
        self._ssl = ssl
        self._server: Server | None = None
        self._handshakes = 0
        self._history: list[FakeClient] = []
        self._open: list[FakeClient] = []
        self._frozen = False
        self._refusal: _Refusal | None = None
        self._close_after_accept: _CloseAfterAccept | None = None
        self._on_connect: list[Callable[[FakeClient], object]] = []
        self._on_message: list[Callable[[FakeClient, Any], object]] = []
        self._changes = _Changes()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port else self.host
        state = "serving" if self._server is not None else "stopped"
        return f"<FakeServer {where} {state}, {len(self._open)} open>"

    # Lifecycle

    async def start(self) -> None:
        """Start listening.

        Raises:
            RuntimeError: When the server is already started.
            OSError: When the address cannot be bound.
        """
        if self._server is not None:
            msg = "FakeServer is already started"
            raise RuntimeError(msg)
        self._changes = _Changes()
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            process_request=self._handshake,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            close_timeout=self._close_timeout,
            open_timeout=self._open_timeout,
            max_size=self._max_size,
            compression=self._compression,
            logger=_logger,
            ssl=self._ssl,
            create_connection=type(
                "FakeServerConnection", (_MeteredConnection,), {"fake": self}
            ),
        )
        # Remember the bound port so that a restart keeps the same URL.
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every connection, in bounded time.

        Open connections get a close frame with code 1001 (going away); frozen
        ones are aborted at once, since they would not read the answer. Any
        connection still open after ``close_timeout`` is aborted. Does nothing
        when the server is not started.

        Raises:
            TimeoutError: In the unlikely case that connections in the middle of
                their opening handshake outlive ``open_timeout``.
        """
        server = self._server
        if server is None:
            return
        self._server = None
        for client in list(self._open):
            if client._frozen:
                client.websocket.transport.abort()
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), self._close_timeout + 1.0)
        except asyncio.TimeoutError:
            for client in list(self._open):
                client.websocket.transport.abort()
            abort_clients = getattr(server.server, "abort_clients", None)
            if abort_clients is not None:  # Python 3.13+
                abort_clients()
            try:
                await asyncio.wait_for(server.wait_closed(), self._open_timeout + 1.0)
            except asyncio.TimeoutError:
                msg = "FakeServer: timed out while stopping"
                raise TimeoutError(msg) from None

    async def __aenter__(self: _S) -> _S:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # Addresses and counters

    @property
    def port(self) -> int:
        """The bound TCP port.

        Raises:
            RuntimeError: When the server was never started (with port 0).
        """
        if not self._port:
            msg = "FakeServer is not started: no port yet"
            raise RuntimeError(msg)
        return self._port

    @property
    def url(self) -> str:
        """``ws://<host>:<port>/`` (``wss://`` when the server has an ``ssl`` context)."""
        return self.url_for("/")

    def url_for(self, path: str = "/") -> str:
        """URL of ``path`` on this server.

        Args:
            path: Path and query string, e.g. ``"/x?token=1"``.

        Returns:
            ``ws://<host>:<port><path>``.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        if not path.startswith("/"):
            path = "/" + path
        scheme = "wss" if self._ssl is not None else "ws"
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def serving(self) -> bool:
        """Whether the server is started."""
        return self._server is not None

    @property
    def clients(self) -> list[FakeClient]:
        """Connections whose TCP connection is still open, in order of connection."""
        return list(self._open)

    @property
    def all_clients(self) -> list[FakeClient]:
        """Every accepted connection ever, closed ones included, in order."""
        return list(self._history)

    @property
    def handshakes(self) -> int:
        """Number of opening handshake requests seen, refused ones included."""
        return self._handshakes

    @property
    def connections(self) -> int:
        """Number of connections ever accepted."""
        return len(self._history)

    @property
    def frozen(self) -> bool:
        """Whether :meth:`freeze` is in effect."""
        return self._frozen

    @property
    def max_age(self) -> float | None:
        """Seconds after its handshake at which each connection is closed, or ``None``.

        Setting it applies at once to open connections too, counted from each
        connection's :attr:`FakeClient.opened_at`.
        """
        return self._max_age

    @max_age.setter
    def max_age(self, value: float | None) -> None:
        _check_positive("max_age", value)
        self._max_age = value
        for client in self._open:
            client._schedule_expiry(value)

    # Waiting

    async def wait_for_client(self, n: int = 1, timeout: float = 5.0) -> FakeClient:
        """Wait until the ``n``-th connection was accepted.

        Args:
            n: 1-based number of the connection among all accepted ones.
            timeout: Seconds to wait.

        Returns:
            That connection (which may have closed since).

        Raises:
            TimeoutError: When fewer than ``n`` connections were accepted after
                ``timeout``.
        """
        if n < 1:
            msg = f"n must be at least 1, got {n!r}"
            raise ValueError(msg)
        await self._changes.wait_until(
            lambda: len(self._history) >= n,
            timeout,
            lambda: (
                f"connection #{n} (accepted: {len(self._history)}, handshakes: {self._handshakes})"
            ),
        )
        return self._history[n - 1]

    async def wait_received(
        self,
        predicate: Callable[[list[Any]], bool] | None = None,
        *,
        count: int | None = None,
        timeout: float = 5.0,
    ) -> list[Any]:
        """Wait until the frames received from all clients satisfy a condition.

        Args:
            predicate: Called with :attr:`received` (do not mutate it) after
                every change; waiting ends when it returns true.
            count: Wait until at least this many frames were received. Defaults
                to 1 when ``predicate`` is not given.
            timeout: Seconds to wait.

        Returns:
            A copy of :attr:`received`.

        Raises:
            TimeoutError: When the condition does not hold after ``timeout``.
        """
        await self._wait_frames(self.received, predicate, count, timeout, "any client")
        return list(self.received)

    async def _wait_frames(
        self,
        frames: list[Any],
        predicate: Callable[[list[Any]], bool] | None,
        count: int | None,
        timeout: float,
        source: str,
    ) -> None:
        if predicate is None and count is None:
            count = 1

        def done() -> bool:
            if count is not None and len(frames) < count:
                return False
            return predicate is None or bool(predicate(frames))

        def what() -> str:
            wanted = f"{count} frame(s)" if count is not None else "frames"
            if predicate is not None:
                wanted += " matching the predicate"
            return f"{wanted} from {source} (received {len(frames)}: {frames[-3:]!r})"

        await self._changes.wait_until(done, timeout, what)

    # Sending

    def _message(self, channel: str, data: Mapping[str, Any] | None) -> str:
        return json.dumps({self.channel_key: channel, **(data or {})}, separators=(",", ":"))

    async def publish(
        self,
        channel: str,
        data: Mapping[str, Any] | None = None,
        *,
        only_subscribed: bool = False,
    ) -> int:
        """Send ``{channel_key: channel, **data}`` as a JSON text frame.

        Args:
            channel: Channel name.
            data: Other fields of the message.
            only_subscribed: Send only to clients subscribed to ``channel``
                (default: to every open client).

        Returns:
            The number of clients the message was sent to (closing clients
            are skipped).
        """
        message = self._message(channel, data)
        targets = [
            client
            for client in self._open
            if not only_subscribed or channel in client.subscriptions
        ]
        return await self._send_to(targets, message)

    async def send_raw(self, data: str | bytes) -> int:
        """Send one frame as is to every open client.

        Args:
            data: A str (text frame, need not be JSON) or bytes (binary frame).

        Returns:
            The number of clients the frame was sent to.
        """
        return await self._send_to(list(self._open), data)

    async def _send_to(self, clients: Iterable[FakeClient], data: str | bytes) -> int:
        sent = 0
        for client in clients:
            try:
                await client.websocket.send(data)
            except ConnectionClosed:
                continue
            sent += 1
        return sent

    # Faults

    async def drop(self, timeout: float = 5.0) -> None:
        """Abort the TCP connection of every open client (RST, no close frame).

        Args:
            timeout: Seconds to wait until the server forgot the connections.

        Raises:
            TimeoutError: When a connection is still known after ``timeout``.
        """
        clients = list(self._open)
        for client in clients:
            client.websocket.transport.abort()
        for client in clients:
            await client.wait_closed(timeout)

    async def close_clients(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", timeout: float = 5.0
    ) -> None:
        """Close every open client with a close handshake carrying ``code``.

        Args:
            code: Close code to send (a code valid on the wire).
            reason: Close reason to send.
            timeout: Seconds to wait until the server forgot the connections.

        Raises:
            TimeoutError: When a connection is still known after ``timeout``.
        """
        clients = list(self._open)
        if clients:
            await asyncio.gather(*(client.close(code, reason, timeout) for client in clients))

    def refuse(
        self,
        status: int = http.HTTPStatus.SERVICE_UNAVAILABLE,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        count: int | None = None,
    ) -> None:
        """Answer the next opening handshakes with an HTTP error instead of 101.

        Args:
            status: HTTP status, e.g. 503, 429, 401, 403, 404.
            headers: Extra response headers, e.g. ``{"Retry-After": "2"}``.
            body: Response body (text); defaults to the status phrase.
            count: Number of handshakes to refuse; ``None`` refuses until
                :meth:`accept_handshakes`.

        Raises:
            ValueError: When ``status`` is not a known HTTP status or is 101,
                or when ``count`` is not positive.
        """
        code = http.HTTPStatus(status)
        if code is http.HTTPStatus.SWITCHING_PROTOCOLS:
            msg = "refuse() needs an error status, not 101; use accept_handshakes()"
            raise ValueError(msg)
        _check_count(count)
        self._refusal = _Refusal(
            status=code,
            headers=tuple((headers or {}).items()),
            body=f"{code.phrase}\n" if body is None else body,
            remaining=count,
        )

    def accept_handshakes(self) -> None:
        """Stop refusing handshakes (undo :meth:`refuse`)."""
        self._refusal = None

    def accept_then_close(
        self, code: int = CloseCode.INTERNAL_ERROR, reason: str = "", count: int | None = None
    ) -> None:
        """Accept the next handshakes, then close each connection at once.

        Args:
            code: Close code to send right after the handshake.
            reason: Close reason to send.
            count: Number of connections to treat so; ``None`` until
                :meth:`cancel_accept_then_close`.

        Raises:
            ValueError: When ``count`` is not positive.
        """
        _check_count(count)
        self._close_after_accept = _CloseAfterAccept(code=code, reason=reason, remaining=count)

    def cancel_accept_then_close(self) -> None:
        """Keep new connections open again (undo :meth:`accept_then_close`)."""
        self._close_after_accept = None

    def freeze(self) -> None:
        """Stop reading from every open and future connection.

        Pings go unanswered and frames unread, so clients see a keepalive ping
        timeout as with a hung server. Sending to clients still works. The
        server's own pings (``ping_interval``) keep running and would time out.

        Like a half-open TCP connection, a frozen connection whose client went
        away stays in :attr:`clients` until :meth:`unfreeze` or :meth:`stop`.
        """
        self._frozen = True
        for client in self._open:
            client.freeze()

    def unfreeze(self) -> None:
        """Read from every connection again (undo :meth:`freeze`)."""
        self._frozen = False
        for client in self._open:
            client.unfreeze()

    # Hooks

    def replay(self, path: str | os.PathLike[str], speed: float | None = 1.0) -> Replay:
        """Serve a recording (:mod:`wsevents.record`) to the clients that connect.

        The n-th connection gets the n-th recorded connection's frames, at the
        recorded pace divided by ``speed`` (None: as fast as the client reads),
        and ends as it ended: the server's close code, a broken TCP connection,
        or left open when the client had closed it.

        Args:
            path: the recording (``.gz`` too).
            speed: how many times faster than recorded; None: no pacing.

        Returns:
            The :class:`~wsevents._replay.Replay`; ``await
            replay.wait_finished()`` waits until every recorded connection ended.

        Raises:
            ValueError: not a recording, or a bad ``speed``.
        """
        replay = Replay(load_sessions(path), speed)
        self.on_connect(replay)
        return replay

    def on_connect(
        self, callback: Callable[[FakeClient], object]
    ) -> Callable[[FakeClient], object]:
        """Call ``callback(client)`` after each accepted handshake.

        The callback may be a coroutine function. Usable as a decorator. An
        exception is logged, appended to :attr:`errors`, and closes that
        connection with code 1011.

        Args:
            callback: Called with the new :class:`FakeClient`.

        Returns:
            ``callback``.
        """
        self._on_connect.append(callback)
        return callback

    def on_message(
        self, callback: Callable[[FakeClient, Any], object]
    ) -> Callable[[FakeClient, Any], object]:
        """Call ``callback(client, message)`` for every frame a client sends.

        Called after the frame was recorded, before the next frame is read, so
        it can answer (``await client.send(...)``). The callback may be a
        coroutine function. Usable as a decorator. An exception is logged,
        appended to :attr:`errors`, and closes that connection with code 1011.

        Args:
            callback: Called with the :class:`FakeClient` and the decoded frame.

        Returns:
            ``callback``.
        """
        self._on_message.append(callback)
        return callback

    def reply_to(
        self,
        match: Mapping[str, Any] | Callable[[Any], bool],
        answer: object,
        *,
        delay: float = 0.0,
        count: int | None = None,
    ) -> None:
        """Answer the frames that match, like a venue acknowledging requests.

        For example, Binance's answer to a subscribe request, echoing its id::

            server.reply_to(
                {"method": "SUBSCRIBE"},
                lambda request: {"result": None, "id": request["id"]},
                delay=0.05,
            )

        Args:
            match: A mapping matches a decoded JSON object that holds all of
                its items; a callable is called with each decoded frame.
            answer: The frame to send (dict or list as JSON text, str, bytes),
                or a callable that makes it from the matched frame (``None``:
                no answer).
            delay: Seconds before answering; frames keep being read meanwhile.
                With 0 (default) the answer goes out before the next frame is
                read.
            count: Answer this many matching frames, then stop; ``None``
                (default) answers all.

        Raises:
            ValueError: When ``delay`` is negative or ``count`` not positive.
        """
        if not delay >= 0:
            msg = f"delay must be a number of seconds >= 0, got {delay!r}"
            raise ValueError(msg)
        _check_count(count)
        left = [count]

        def matches(message: Any) -> bool:
            if callable(match):
                return bool(match(message))
            return isinstance(message, dict) and all(
                k in message and message[k] == v for k, v in match.items()
            )

        async def reply(client: FakeClient, message: Any) -> None:
            if left[0] == 0 or not matches(message):
                return
            if left[0] is not None:
                left[0] -= 1
            frame = answer(message) if callable(answer) else answer
            if frame is None:
                return
            data = _encode(frame)
            if delay:
                client._spawn(_send_later(client.websocket, data, delay))
            else:
                await _send_quietly(client.websocket, data)

        self._on_message.append(reply)

    # websockets callbacks

    def _attempt(self, connection: _MeteredConnection) -> None:
        self.attempts.append(connection.loop.time())
        if self.client_rate_limit is not None:
            connection.frame_window = Window(*self.client_rate_limit)
        self._changes.notify()

    def _frame(self, connection: _MeteredConnection) -> None:
        now = connection.loop.time()
        connection.frame_times.append(now)
        window = connection.frame_window
        if window is not None and not connection.exceeded.is_set() and not window.try_grant(now):
            connection.exceeded_at = now
            connection.exceeded.set()
        self._changes.notify()

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        self._handshakes += 1
        try:
            refusal = self._refusal
            if refusal is not None:
                if refusal.remaining is not None:
                    refusal.remaining -= 1
                    if refusal.remaining <= 0:
                        self._refusal = None
                response = connection.respond(refusal.status, refusal.body)
                for name, value in refusal.headers:
                    if name in response.headers:
                        del response.headers[name]
                    response.headers[name] = value
                self.requests.append(RequestInfo(request.path, request.headers, refusal.status))
                return response
            answer: Response | None = None
            if self._process_request is not None:
                result = self._process_request(connection, request)
                answer = await result if inspect.isawaitable(result) else result
            refused = None if answer is None or answer.status_code == 101 else answer.status_code
            self.requests.append(RequestInfo(request.path, request.headers, refused))
            return answer
        finally:
            self._changes.notify()

    async def _handle(self, connection: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        client = FakeClient(self, connection, len(self._history) + 1, loop.time())
        self._history.append(client)
        self._open.append(client)
        try:
            try:
                await self._serve(client)
            except Exception as exc:
                _logger.error("FakeServer callback failed on %r", client, exc_info=True)
                self.errors.append(exc)
                await connection.close(CloseCode.INTERNAL_ERROR, "FakeServer callback failed")
            else:
                # A no-op once the connection is closed; otherwise wait for it.
                await connection.close()
        finally:
            if client._expiry is not None:
                client._expiry.cancel()
            for task in list(client._tasks):
                task.cancel()
            if client._tasks:
                await asyncio.wait(client._tasks)
            client._closed = True
            self._open.remove(client)
            self._changes.notify()

    async def _serve(self, client: FakeClient) -> None:
        connection = client.websocket
        close_after_accept = self._close_after_accept
        if close_after_accept is not None:
            if close_after_accept.remaining is not None:
                close_after_accept.remaining -= 1
                if close_after_accept.remaining <= 0:
                    self._close_after_accept = None
            self._changes.notify()
            await connection.close(close_after_accept.code, close_after_accept.reason)
            return
        if self._frozen:
            client.freeze()
        client._schedule_expiry(self._max_age)
        self._changes.notify()
        for on_connect in list(self._on_connect):
            result = on_connect(client)
            if inspect.isawaitable(result):
                await result

        reader = asyncio.create_task(self._read(client))
        expired = asyncio.create_task(client._expired.wait())
        exceeded = asyncio.create_task(self._exceeded(client))
        try:
            await asyncio.wait({reader, expired, exceeded}, return_when=asyncio.FIRST_COMPLETED)
            if exceeded.done():
                await connection.close(CloseCode.POLICY_VIOLATION, "too many frames")
            elif not reader.done():
                await connection.close(self.max_age_code, self.max_age_reason)
            await reader
        finally:
            expired.cancel()
            exceeded.cancel()
            reader.cancel()
            await asyncio.wait({reader, expired, exceeded})

    async def _exceeded(self, client: FakeClient) -> None:
        """Return once the client broke ``client_rate_limit``, after recording it."""
        connection = client.websocket
        if not isinstance(connection, _MeteredConnection):  # pragma: no cover - always is
            await asyncio.Event().wait()
            return
        await connection.exceeded.wait()
        window = connection.frame_window
        assert window is not None
        self._violate(
            client,
            "client_rate_limit",
            connection.exceeded_at,
            f"{window.n + 1} frames in {window.per:g} s (limit {window.n})",
        )

    def _violate(self, client: FakeClient, limit: str, at: float, detail: str) -> None:
        self.violations.append(Violation(client.id, limit, at, detail))
        _logger.info("FakeServer: connection #%d broke %s: %s", client.id, limit, detail)
        self._changes.notify()

    async def _read(self, client: FakeClient) -> None:
        connection = client.websocket
        while True:
            try:
                message = await connection.recv()
            except ConnectionClosed:
                return
            if client._frozen:
                # Consuming a frame may let websockets resume reading when its
                # own flow control had paused the transport; keep it frozen.
                connection.transport.pause_reading()
            decoded = _decode(message)
            client.received.append(decoded)
            self.received.append(decoded)
            refused = self._track_subscriptions(client, decoded, self.max_channels)
            self._changes.notify()
            if refused and await self._refuse_channels(client, decoded, refused):
                return
            for on_message in list(self._on_message):
                result = on_message(client, decoded)
                if inspect.isawaitable(result):
                    await result

    @staticmethod
    def _track_subscriptions(
        client: FakeClient, message: Any, max_channels: int | None
    ) -> list[str]:
        """Apply a (un)subscribe request; the channels refused for ``max_channels``."""
        if not isinstance(message, dict):
            return []
        op = message.get("op")
        if op not in ("subscribe", "unsubscribe"):
            return []
        channels = message.get("channels")
        if isinstance(channels, str):
            channels = [channels]
        if not isinstance(channels, list):
            return []
        names = {channel for channel in channels if isinstance(channel, str)}
        if op == "unsubscribe":
            client.subscriptions.difference_update(names)
            return []
        if max_channels is not None and len(client.subscriptions | names) > max_channels:
            return [c for c in dict.fromkeys(channels) if c in names - client.subscriptions]
        client.subscriptions.update(names)
        return []

    async def _refuse_channels(self, client: FakeClient, request: Any, refused: list[str]) -> bool:
        """Answer a subscribe over ``max_channels``; whether the connection was closed."""
        limit = self.max_channels
        self._violate(
            client,
            "max_channels",
            asyncio.get_running_loop().time(),
            f"subscribe to {len(refused)} more channel(s) with {len(client.subscriptions)} "
            f"of {limit} taken",
        )
        if self.on_excess == "close":
            await client.websocket.close(self.excess_code, self.excess_reason)
            return True
        reply: dict[str, Any] = {
            "op": "error",
            "code": self.excess_code,
            "reason": self.excess_reason,
            "channels": refused,
            "max_channels": limit,
        }
        if "id" in request:
            reply["id"] = request["id"]
        await _send_quietly(client.websocket, _encode(reply))
        return False
