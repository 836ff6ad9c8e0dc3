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
import time
from collections.abc import Mapping
from typing import Any

from . import _config as cfg
from ._delivery import Dispatcher
from ._options import Options
from ._reader import Reader
from ._stats import Counters
from ._supervisor import Failure, Loss, classify_close, classify_failure
from ._tracking import SequenceTracker
from ._transport import Transport, TransportConnection, connect_error
from .events import DisconnectReason
from .exceptions import ConnectError, NotConnected
from .routing import Frame


__all__ = ["Link", "abort"]


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
        "_counters",
        "_initiated",
        "_options",
        "_subscriptions",
        "_transport",
        "_url",
        "reader",
        "ws",
    )

    def __init__(
        self,
        *,
        url: str,
        options: Options,
        transport: Transport,
        delivery: Dispatcher,
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

    async def open(self) -> TransportConnection | Failure:
        """Open a WebSocket connection and send the subscriptions."""
        close_timeout = self._options.transport.close_timeout
        try:
            ws = await self._transport.open(
                self._url, self._options.transport, self._headers()
            )
        except ConnectError as exc:
            return classify_failure(exc, now_epoch=time.time())
        except Exception as exc:  # noqa: BLE001 - a custom transport broke the contract
            return classify_failure(connect_error(exc), now_epoch=time.time())
        try:
            for frame in self._options.protocol.subscribe(list(self._subscriptions)):
                await self.send_on(ws, frame)
        except (NotConnected, OSError) as exc:
            close_code = ws.close_rcvd_code()
            await abort(ws, close_timeout)
            error = ConnectError(f"connection lost while subscribing: {exc}")
            error.__cause__ = exc
            return classify_failure(error, now_epoch=time.time(), close_code=close_code)
        except BaseException:
            await abort(ws, close_timeout)
            raise
        return ws

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

    async def serve(self, ws: TransportConnection) -> Loss:
        """Run the reader on ``ws`` until the connection ends; how it ended.

        The connection is closed (bounded by ``close_timeout``) when it returns.
        """
        try:
            await self.reader.run(ws)
        except ws.closed_error as exc:
            info = ws.close_info(exc)
            initiated, self._initiated = self._initiated, None
            return classify_close(
                rcvd_code=info.rcvd_code,
                rcvd_reason=info.rcvd_reason,
                sent_code=info.sent_code,
                sent_reason=info.sent_reason,
                rcvd_then_sent=info.rcvd_then_sent,
                initiated=initiated,
            )
        finally:
            self.ws = None
            self._counters.connected_since = None
            await self.abort(ws)
        raise AssertionError("the reader returned without the connection closing")

    async def disconnect(self, reason: DisconnectReason) -> None:
        """Close the current connection on purpose (``serve`` then reports ``reason``)."""
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
        try:
            await ws.send(data)
        except ws.closed_error as exc:
            raise NotConnected(f"connection closed while sending: {exc}") from exc
        self._counters.messages_sent += 1

    async def reply(self, ws: TransportConnection, message: Any) -> None:
        """Answer protocol traffic (an application pong), if the protocol says so."""
        answer = self._options.protocol.reply(message)
        if answer is not None:
            with contextlib.suppress(NotConnected):
                await self.send_on(ws, answer)

    async def abort(self, ws: TransportConnection) -> None:
        """Close ``ws`` within ``close_timeout`` (aborted past it)."""
        await abort(ws, self._options.transport.close_timeout)

    # -- the ticker ----------------------------------------------------------------------


async def abort(ws: TransportConnection, timeout: float) -> None:
    """Close ``ws`` within ``timeout``, aborting the TCP connection if needed.

    Also called on a connection that is already closed (it returns at once),
    so that the transport can finish its own bookkeeping.
    """
    with contextlib.suppress(TimeoutError, asyncio.TimeoutError, OSError, ws.closed_error):
        await asyncio.wait_for(ws.close(), timeout)
    if not ws.closed:
        ws.abort()
