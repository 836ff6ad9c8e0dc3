"""A test-local stand-in for the engine's session wiring (issue 13), until
``Connection`` runs it: a raw ``websockets`` client, a protocol's ``on_open``,
``PendingRequests`` for ``request()``, and the ``HeartbeatScheduler``.

It does what DESIGN.md section 11 asks of the engine, in the order the engine
will: handshake, ``on_open`` (the reader already running, so the login's
acknowledgement can arrive), subscriptions, heartbeats; replies by key; every
pending request failed with ``ConnectionLost`` when the socket goes away.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wsevents import CONSUMED, ConnectionLost, Frame, FrameError, Protocol
from wsevents._heartbeat import HeartbeatScheduler
from wsevents._requests import PendingRequests


class Harness:
    """One connection of ``protocol`` to ``url``: ``await open()``, ``request()``, ``close()``."""

    def __init__(self, url: str, protocol: Protocol, subscriptions: tuple[str, ...] = ()) -> None:
        self.url = url
        self.protocol = protocol
        self.subscriptions = subscriptions
        self.pending = PendingRequests()
        self.heartbeat: HeartbeatScheduler | None = None
        self.messages: list[tuple[str | None, Any]] = []
        self.errors: list[Exception] = []
        self.handovers: list[Any] = []
        self.missed = asyncio.Event()
        self.closed = asyncio.Event()
        self.lost_at: float | None = None
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None
        return self._ws

    async def open(self) -> None:
        """Handshake, on_open (login), subscriptions, heartbeats; closes again on failure."""
        self._ws = await connect(self.url, open_timeout=5, close_timeout=1)
        self._reader = asyncio.create_task(self._read())
        try:
            await self.protocol.on_open(self)
            for frame in self.protocol.subscribe(list(self.subscriptions)):
                await self.send(frame)
        except BaseException:
            await self.close()
            raise
        spec = self.protocol.client_heartbeat
        if spec is not None:
            self.heartbeat = HeartbeatScheduler(spec, self.send, self.missed.set)
            self.heartbeat.start()

    async def send(self, frame: Frame) -> None:
        if isinstance(frame, (str, bytes)):
            await self.ws.send(frame)
        else:
            await self.ws.send(json.dumps(frame))

    async def request(self, frame: Frame, timeout: float = 10.0) -> Any:
        stamped, key = self.protocol.prepare_request(frame, next(self._ids))
        return await self.pending.request(self.send, stamped, key, timeout)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if self.heartbeat is not None:
                    self.heartbeat.activity()
                try:
                    channel, message = self.protocol.decode(raw)
                except FrameError as exc:
                    self.errors.append(exc)
                    continue
                if channel is CONSUMED:
                    if self.heartbeat is not None and self.heartbeat.check_answer(message):
                        continue
                    key = self.protocol.reply_id(message)
                    if key is not None:
                        self.pending.resolve(key, message, self.protocol.reply_error(message))
                    continue
                if self.protocol.wants_handover(message):
                    self.handovers.append(message)
                self.messages.append((channel, message))
        except ConnectionClosed:
            pass
        finally:
            self.lost_at = asyncio.get_running_loop().time()
            self.pending.fail_all(ConnectionLost("the connection was lost"))
            if self.heartbeat is not None:
                self.heartbeat.stop()
            self.closed.set()

    async def close(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
            await self.heartbeat.wait_stopped()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
