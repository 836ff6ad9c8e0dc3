"""Replaying a recording from a FakeServer (the logic behind ``FakeServer.replay``).

A recording (:mod:`wsevents.record`) holds the frames of each connection the
client had, and how each one ended.  :class:`Replay` serves them to real clients
over real sockets: the n-th connection a client opens gets the n-th recorded
connection's frames, in order, at the recorded pace times ``1 / speed`` (None:
as fast as the client reads them), and then ends the way it ended: the
server's close code and reason, a broken TCP connection (no close frame), or
nothing when the client closed it (it stays open for the client to close).
Connections past the recorded ones stay open without frames.

Without permessage-deflate, frames are framed once, up front, and written to the
socket in large writes with the transport's flow control (the speed a replay
server needs for a benchmark); with it, they go through ``send()``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs
from websockets.exceptions import ConnectionClosed

from .record import read_recording


if TYPE_CHECKING:
    from .testing import FakeClient


__all__ = ["Replay", "Session", "load_sessions"]

#: bytes written to the socket at once (speed None)
_CHUNK: Final = 256 * 1024


@attrs.frozen
class Session:
    """One recorded connection: its frames, their times (ns), how it ended."""

    frames: tuple[str | bytes, ...]
    times: tuple[int, ...]
    #: the server's close code (None: none received)
    rcvd_code: int | None = None
    rcvd_reason: str = ""
    #: True when the recording saw the connection end; False when it ended open
    ended: bool = False
    #: True when it ended without any close frame (a broken TCP connection)
    broken: bool = False
    #: frames the client sent while opening it (subscriptions, login): the replay
    #: waits for them before it plays the frames
    opening: int = 0


def load_sessions(path: str | os.PathLike[str]) -> list[Session]:
    """The recorded connections of ``path``, in the order they opened.

    Raises:
        ValueError: the file is not a wsevents recording.
    """
    frames: dict[int, list[str | bytes]] = {}
    times: dict[int, list[int]] = {}
    ends: dict[int, dict[str, Any]] = {}
    opening: dict[int, int] = {}
    sent = 0
    live: set[int] = set()
    for line in read_recording(path):
        kind = line.get("kind")
        conn: int = line.get("conn", 0)
        if kind in ("open", "frame") and conn not in frames:
            if live:
                # it opened while another was open (a handover): its frames came
                # at once, whatever the client had sent
                opening[conn] = 0
            live.add(conn)
        if kind == "open":
            frames.setdefault(conn, [])
            times.setdefault(conn, [])
            opening.setdefault(conn, max(0, line.get("sent", 0) - sent))
        elif kind == "frame":
            text = line.get("text")
            frames.setdefault(conn, []).append(
                base64.b64decode(line["bytes"]) if text is None else text
            )
            times.setdefault(conn, []).append(line["t"])
        elif kind == "close":
            ends[conn] = line
            live.discard(conn)
            sent = line.get("sent", sent)
    sessions = []
    for conn in sorted(frames):
        end = ends.get(conn) or {}
        # the server's code, unless it only answered the client's close frame
        server_closed = end.get("rcvd_code") is not None and end.get("rcvd_then_sent") is not False
        sessions.append(
            Session(
                frames=tuple(frames[conn]),
                times=tuple(times[conn]),
                rcvd_code=end.get("rcvd_code") if server_closed else None,
                rcvd_reason=end.get("rcvd_reason") or "" if server_closed else "",
                ended=bool(end),
                broken=bool(end) and end.get("rcvd_code") is None and end.get("sent_code") is None,
                opening=opening.get(conn, 0),
            )
        )
    return sessions


def frame_bytes(data: str | bytes) -> bytes:
    """One unmasked, unfragmented server frame (RFC 6455 5.2)."""
    if isinstance(data, str):
        payload, head = data.encode("utf-8"), 0x81
    else:
        payload, head = data, 0x82
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", head, size) + payload
    if size < 65536:
        return struct.pack("!BBH", head, 126, size) + payload
    return struct.pack("!BBQ", head, 127, size) + payload


def _chunks(frames: Iterable[str | bytes]) -> list[bytes]:
    chunks: list[bytes] = []
    part: list[bytes] = []
    size = 0
    for frame in frames:
        encoded = frame_bytes(frame)
        part.append(encoded)
        size += len(encoded)
        if size >= _CHUNK:
            chunks.append(b"".join(part))
            part, size = [], 0
    if part:
        chunks.append(b"".join(part))
    return chunks


class Replay:
    """Serves recorded connections to the clients of a FakeServer, in order.

    Args:
        sessions: the recorded connections (:func:`load_sessions`).
        speed: the recorded pace times ``1 / speed``; None: as fast as possible.

    Raises:
        ValueError: ``speed`` is not a positive number or None.
    """

    def __init__(self, sessions: list[Session], speed: float | None = 1.0) -> None:
        if speed is not None and (
            isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0
        ):
            msg = f"speed must be a positive number or None, not {speed!r}"
            raise ValueError(msg)
        self.sessions = sessions
        self.speed = speed
        #: seconds to wait for a client's opening frames (subscriptions) before playing
        self.opening_timeout = 5.0
        #: the connections served so far
        self.served = 0
        #: recorded connections played to their end (frames sent, end carried out)
        self.finished = 0
        self._changed = asyncio.Event()

    def __call__(self, client: FakeClient) -> None:
        """The FakeServer's ``on_connect`` callback: play the next recorded connection."""
        index = self.served
        self.served += 1
        if index < len(self.sessions):
            client._spawn(self._play(client, self.sessions[index]))

    async def wait_finished(self, timeout: float | None = 10.0) -> None:
        """Wait until every recorded connection was played to its end.

        Raises:
            TimeoutError: not within ``timeout`` seconds (None: no bound).
        """

        async def finished() -> None:
            while self.finished < len(self.sessions):
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(finished(), timeout)
        except asyncio.TimeoutError:
            msg = f"replay: {self.finished} of {len(self.sessions)} connections after {timeout}s"
            raise TimeoutError(msg) from None

    async def _play(self, client: FakeClient, session: Session) -> None:
        connection = client.websocket
        try:
            if session.opening:
                # as live: the frames came once the client had subscribed
                await client.wait_received(count=session.opening, timeout=self.opening_timeout)
            if self.speed is None and not connection.protocol.extensions:
                for chunk in _chunks(session.frames):
                    connection.transport.write(chunk)
                    await connection.drain()
            else:
                await self._paced(connection, session)
            if session.broken:
                connection.transport.abort()
            elif session.rcvd_code is not None:
                await connection.close(session.rcvd_code, session.rcvd_reason)
        except (ConnectionClosed, ConnectionError, TimeoutError):
            pass  # the client went away (or never opened): nothing left to play
        finally:
            self.finished += 1
            self._changed.set()

    async def _paced(self, connection: Any, session: Session) -> None:
        loop = asyncio.get_running_loop()
        speed = self.speed
        start = loop.time()
        first = session.times[0] if session.times else 0
        for frame, at in zip(session.frames, session.times, strict=True):
            if speed is not None:
                delay = start + (at - first) / 1e9 / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await connection.send(frame)
