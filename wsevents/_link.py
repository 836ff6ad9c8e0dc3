"""The link: one connection's socket side (L3).

A :class:`Link` opens transport connections (handshake headers resolved
afresh, subscriptions sent), sends on them, answers protocol traffic, runs the
:class:`~wsevents._reader.Reader` on the current one until it ends and names
how it ended, and closes it on purpose with a reason.  It owns the current
transport connection; the :class:`~wsevents._runner.Runner` decides what to do
with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import _config as cfg
from ._delivery import Dispatcher
from ._lane import Lane
from ._options import Options
from ._reader import Reader
from ._session import ConnectionSession, overrides
from ._stats import Counters
from ._supervisor import Failure, Loss, classify_close, classify_failure
from ._tracking import SequenceTracker
from ._transport import Transport, TransportConnection, connect_error
from .events import DisconnectReason
from .exceptions import (
    AuthenticationError,
    ConfigError,
    ConnectError,
    ConnectionLost,
    NotConnected,
)
from .ratelimit import RateLimit, chunks
from .routing import Frame, Protocol


__all__ = ["Link", "abort", "subscribe_frames", "unsubscribe_frames", "venue_limit"]


class Link:
    """Opens, feeds and closes the transport connections of one ``Connection``.

    Args:
        url: the URL to connect to.
        options: the connection's validated options.
        transport: opens connections.
        delivery: where the reader offers what it reads.
        counters: the connection's counters.
        subscriptions: the live subscription set, sent on every open.
        tracker: the sequence numbers to follow across connections, or None.
    """

    __slots__ = (
        "_connect_limit",
        "_counters",
        "_initiated",
        "_missed",
        "_options",
        "_send_limit",
        "_sessions",
        "_sessions_on",
        "_subscriptions",
        "_transport",
        "_url",
        "early",
        "on_handover_wanted",
        "reader",
        "ws",
    )

    def __init__(
        self,
        *,
        url: str,
        options: Options,
        transport: Transport,
        delivery: Dispatcher | Lane,
        counters: Counters,
        subscriptions: Mapping[str, None],
        tracker: SequenceTracker | None,
    ) -> None:
        self._url = url
        self._options = options
        self._transport = transport
        self._counters = counters
        self._subscriptions = subscriptions
        #: why the client is closing the current connection, if it is
        self._initiated: DisconnectReason | None = None
        #: the current transport connection (None between connections)
        self.ws: TransportConnection | None = None
        #: reads every transport connection of this link
        self.reader = Reader(
            options.protocol, delivery, counters, tracker=tracker, reply=self.reply
        )
        protocol = options.protocol
        #: the protocol logs in, answers requests or sends heartbeats: sessions needed
        self._sessions_on = (
            overrides(protocol, "on_open")
            or overrides(protocol, "prepare_request")
            or overrides(protocol, "reply_id")
            or protocol.client_heartbeat is not None
        )
        #: the session of each open transport connection
        self._sessions: dict[TransportConnection, ConnectionSession] = {}
        #: what arrived during a login, delivered once connected
        self.early: list[tuple[str | None, str | None, Any]] = []
        #: called when a message asks for a new connection (Binance's serverShutdown)
        self.on_handover_wanted: Callable[[], object] | None = None
        if self._sessions_on:
            self.reader.take = self._take
        #: the disconnects a missed heartbeat answer started
        self._missed: set[asyncio.Task[None]] = set()
        #: every frame sent waits its turn here (None: unpaced)
        self._send_limit = venue_limit(options.send_limit, protocol.send_limit)
        #: every connection attempt takes a slot here (None: unpaced)
        self._connect_limit = venue_limit(options.connect_limit, protocol.connect_limit)

    async def open(self) -> TransportConnection | Failure:
        """Open a WebSocket connection and send the subscriptions."""
        if self._connect_limit is not None:
            await self._connect_limit.acquire()
        try:
            ws = await self._transport.open(
                self._url, self._options.transport, self._headers()
            )
        except ConnectError as exc:
            return classify_failure(exc, now_epoch=time.time())
        except Exception as exc:  # noqa: BLE001 - a custom transport broke the contract
            return classify_failure(connect_error(exc), now_epoch=time.time())
        protocol = self._options.protocol
        session = None
        if self._sessions_on:
            session = self._sessions[ws] = ConnectionSession(
                protocol, functools.partial(self.send_on, ws)
            )
        try:
            if session is not None and overrides(protocol, "on_open"):
                failure = await self._log_in(ws, session)
                if failure is not None:
                    await self.abort(ws)
                    return failure
            sent: set[str] = set()
            while True:
                # Channels added while paced frames go out are sent too.
                pending = [c for c in self._subscriptions if c not in sent]
                if not pending:
                    break
                sent.update(pending)
                for frame in subscribe_frames(protocol, pending):
                    await self.send_on(ws, frame)
        except (NotConnected, OSError) as exc:
            close_code = ws.close_rcvd_code()
            await self.abort(ws)
            error = ConnectError(f"connection lost while subscribing: {exc}")
            error.__cause__ = exc
            return classify_failure(error, now_epoch=time.time(), close_code=close_code)
        except BaseException:
            await self.abort(ws)
            raise
        if session is not None:
            session.start_heartbeat(functools.partial(self._heartbeat_missed, ws))
        return ws

    async def _log_in(self, ws: TransportConnection, session: ConnectionSession) -> Failure | None:
        """Run the protocol's ``on_open`` on ``ws`` (a login), reading its replies
        meanwhile; what else arrives is kept in :attr:`early`.  None when it
        succeeded, else the failure: a rejected login is fatal, a timeout or a lost
        connection an ordinary failed attempt."""
        early: list[tuple[str | None, str | None, Any]] = []

        async def read() -> None:
            decode = self.reader.decode
            with contextlib.suppress(ws.closed_error):
                while True:
                    decoded = decode(await ws.recv())
                    ws.handled()
                    if decoded is None:
                        continue
                    if decoded[1] is None:
                        await self.reply(ws, decoded[2])
                    else:
                        early.append(decoded)
            session.end("the connection was lost during the login")

        reader = asyncio.get_running_loop().create_task(read(), name="wsevents-login")
        try:
            await self._options.protocol.on_open(session)
        except AuthenticationError as exc:
            return Failure(error=exc, kind="auth")
        except (TimeoutError, asyncio.TimeoutError, ConnectionLost, NotConnected) as exc:
            error = ConnectError(f"login failed: {exc!r}")
            error.__cause__ = exc
            timed_out = isinstance(exc, (TimeoutError, asyncio.TimeoutError))
            return Failure(error=error, kind="timeout" if timed_out else "network")
        except Exception as exc:  # noqa: BLE001 - a broken on_open is not retried
            error = ConnectError(f"the protocol's on_open raised {exc!r}", kind="invalid")
            error.__cause__ = exc
            return Failure(error=error, kind="invalid")
        finally:
            reader.cancel()
            await asyncio.wait({reader})
        self.early = early
        return None

    def _take(self, message: Any) -> bool:
        """The reader's synchronous hand-over of protocol traffic on the current
        connection: a request's reply or a heartbeat's answer (no coroutine step)."""
        ws = self.ws
        session = None if ws is None else self._sessions.get(ws)
        return session is not None and session.take_reply(message)

    def _heartbeat_missed(self, ws: TransportConnection) -> None:
        """No answer to a client heartbeat: the feed is stale, replace the connection."""
        if self.ws is ws:
            task = asyncio.get_running_loop().create_task(
                self.disconnect(DisconnectReason.STALE), name="wsevents-heartbeat-missed"
            )
            self._missed.add(task)
            task.add_done_callback(self._missed.discard)

    async def request(self, ws: TransportConnection, frame: Frame, timeout: float) -> Any:
        """Send ``frame`` as a request on ``ws`` and return its reply.

        Raises:
            RequestError, TimeoutError, ConnectionLost: see ``Connection.request``.
            ConfigError: the protocol has no requests.
        """
        session = self._sessions.get(ws)
        if session is None:
            raise ConfigError(
                "protocol",
                type(self._options.protocol).__name__,
                "has no requests (it does not override prepare_request and reply_id)",
            )
        return await session.request(frame, timeout)

    def _headers(self) -> Mapping[str, str] | None:
        headers = self._options.headers
        if headers is None or not callable(headers):
            return headers
        try:
            value = headers()
        except Exception as exc:
            raise ConnectError(f"the headers callable raised {exc!r}") from exc
        return cfg.validate_header_mapping(value, name="headers()")


    def adopt(self, ws: TransportConnection) -> None:
        """``ws`` is the current connection from now on (a new one, a handover's)."""
        self._initiated = None
        self.ws = ws

    async def ended(self, ws: TransportConnection, exc: BaseException | None) -> Loss:
        """``ws`` ended (``exc``: the library's "closed" exception the reader met, or
        None when reading stopped otherwise): close it (bounded by ``close_timeout``)
        and say how it ended."""
        self.ws = None
        self._counters.connected_since = None
        initiated, self._initiated = self._initiated, None
        session = self._sessions.pop(ws, None)
        if session is not None:
            session.end("the connection was lost before the reply arrived")
        await self.abort(ws)
        if exc is None:
            return Loss(reason=initiated or DisconnectReason.NETWORK_ERROR, code=1006)
        info = ws.close_info(exc)
        return classify_close(
            rcvd_code=info.rcvd_code,
            rcvd_reason=info.rcvd_reason,
            sent_code=info.sent_code,
            sent_reason=info.sent_reason,
            rcvd_then_sent=info.rcvd_then_sent,
            initiated=initiated,
        )

    async def disconnect(self, reason: DisconnectReason) -> None:
        """Close the current connection on purpose (:meth:`ended` then reports ``reason``)."""
        ws = self.ws
        if ws is None:
            return
        self._initiated = reason
        await self.abort(ws)

    async def send_on(self, ws: TransportConnection, message: Frame) -> None:
        """Send one frame on ``ws``: dict/list as JSON text (the ``encoder``), str, bytes.

        Raises:
            NotConnected: the connection closed meanwhile.
            TypeError: ``message`` is of another type.
        """
        if isinstance(message, (str, bytes)):
            data: str | bytes = message
        elif isinstance(message, (Mapping, list, tuple)):
            data = self._options.encoder(message)
        else:
            raise TypeError(
                f"cannot send {type(message).__name__}: give a dict, list, str or bytes"
            )
        if self._send_limit is not None:
            await self._send_limit.acquire()  # in order, in front of the writer
        try:
            await ws.send(data)
        except ws.closed_error as exc:
            raise NotConnected(f"connection closed while sending: {exc}") from exc
        self._counters.messages_sent += 1

    async def reply(self, ws: TransportConnection, message: Any) -> None:
        """Protocol traffic: a heartbeat's answer or a request's reply (handed to its
        caller), a message asking for a new connection, or something to answer
        (an application pong)."""
        session = self._sessions.get(ws)
        if session is not None and session.take_reply(message):
            return
        protocol = self._options.protocol
        if self.on_handover_wanted is not None and protocol.wants_handover(message):
            self.on_handover_wanted()
        answer = protocol.reply(message)
        if answer is not None:
            with contextlib.suppress(NotConnected):
                await self.send_on(ws, answer)

    async def abort(self, ws: TransportConnection) -> None:
        """Close ``ws`` within ``close_timeout`` (aborted past it); its session ends."""
        session = self._sessions.pop(ws, None)
        if session is not None:
            session.end("the connection was closed before the reply arrived")
        await abort(ws, self._options.transport.close_timeout)



def subscribe_frames(protocol: Protocol, channels: list[str]) -> list[Frame]:
    """The protocol's subscribe frames for ``channels``, at most
    ``protocol.max_channels_per_frame`` channels in each."""
    return _split(protocol.subscribe, protocol.max_channels_per_frame, channels)


def unsubscribe_frames(protocol: Protocol, channels: list[str]) -> list[Frame]:
    """Likewise for unsubscribe frames."""
    return _split(protocol.unsubscribe, protocol.max_channels_per_frame, channels)


def _split(
    build: Callable[[list[str]], list[Frame]], most: int | None, channels: list[str]
) -> list[Frame]:
    if most is None or len(channels) <= most:
        return build(channels)
    frames: list[Frame] = []
    for chunk in chunks(channels, most):
        frames.extend(build(chunk))
    return frames


def venue_limit(given: Any, default: tuple[int, float] | None) -> Any:
    """``given``, else a limit for the protocol's venue default ``(n, per)`` with a 10 %
    margin on the window (a frame's trip to the venue varies: pacing exactly at
    the limit gets flagged now and then)."""
    if given is not None or default is None:
        return given
    n, per = default
    return RateLimit(n, per=per * 1.1)


async def abort(ws: TransportConnection, timeout: float) -> None:
    """Close ``ws`` within ``timeout``, aborting the TCP connection if needed.

    Also called on a connection that is already closed (it returns at once),
    so that the transport can finish its own bookkeeping.
    """
    with contextlib.suppress(TimeoutError, asyncio.TimeoutError, OSError, ws.closed_error):
        await asyncio.wait_for(ws.close(), timeout)
    if not ws.closed:
        ws.abort()
