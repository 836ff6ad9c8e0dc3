"""One transport connection's session: login, requests in flight, client heartbeats (L3).

A :class:`ConnectionSession` lives as long as one transport connection and is
what :meth:`Protocol.on_open <wsevents.Protocol.on_open>` is given: ``send``
and ``request`` work on the connection being opened (before ``connect``
fires).  It owns the requests waiting for their replies
(:class:`~wsevents._requests.PendingRequests`: ids from
:meth:`~wsevents.Protocol.prepare_request`, replies matched by
:meth:`~wsevents.Protocol.reply_id`) and the client-sent heartbeat
(:class:`~wsevents._heartbeat.HeartbeatScheduler`).  When the connection ends,
:meth:`ConnectionSession.end` fails every waiting request at once with
:class:`~wsevents.ConnectionLost`: nothing is resent on the next connection.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ._heartbeat import HeartbeatScheduler
from ._requests import PendingRequests
from .exceptions import ConnectionLost
from .routing import Frame, Protocol


__all__ = ["ConnectionSession", "overrides"]


def overrides(protocol: Protocol, name: str) -> bool:
    """True when ``protocol``'s class overrides :class:`Protocol`'s method ``name``
    (the engine then pays for the feature; otherwise not even a call)."""
    return getattr(type(protocol), name) is not getattr(Protocol, name)


class ConnectionSession:
    """The session of one transport connection.

    Args:
        protocol: assigns request ids and recognises replies and heartbeat answers.
        send: sends one frame on this connection.
    """

    __slots__ = ("_ids", "_protocol", "_send", "heartbeat", "pending")

    def __init__(self, protocol: Protocol, send: Callable[[Frame], Awaitable[None]]) -> None:
        self._protocol = protocol
        self._send = send
        self._ids: Iterator[int] = itertools.count(1)
        self.pending = PendingRequests()
        self.heartbeat: HeartbeatScheduler | None = None

    # -- what on_open and Connection.request() use -----------------------------------------

    async def send(self, frame: Frame) -> None:
        """Send ``frame`` on this connection."""
        await self._send(frame)

    async def request(self, frame: Frame, timeout: float = 10.0) -> Any:
        """Send ``frame`` as a request and return its reply (see :class:`wsevents.routing.Session`).

        Raises:
            RequestError: the venue answered with an error reply.
            TimeoutError: no reply within ``timeout`` seconds.
            ConnectionLost: the connection dropped before the reply.
        """
        stamped, key = self._protocol.prepare_request(frame, next(self._ids))
        return await self.pending.request(self._send, stamped, key, timeout)

    # -- what the reader hands over ------------------------------------------------------

    def take_reply(self, message: Any) -> bool:
        """A consumed message: True when it answered a heartbeat or a request here."""
        heartbeat = self.heartbeat
        if heartbeat is not None:
            heartbeat.activity()
            if heartbeat.check_answer(message):
                return True
        protocol = self._protocol
        key = protocol.reply_id(message)
        if key is None:
            return False
        self.pending.resolve(key, message, protocol.reply_error(message))
        return True

    # -- heartbeats and the end ----------------------------------------------------------

    def start_heartbeat(self, on_missed: Callable[[], object]) -> None:
        """Start the protocol's client heartbeat, if it has one."""
        spec = self._protocol.client_heartbeat
        if spec is not None and self.heartbeat is None:
            self.heartbeat = HeartbeatScheduler(spec, self._send, on_missed)
            self.heartbeat.start()

    def end(self, why: str) -> int:
        """The connection is gone: stop the heartbeat, fail every waiting request.

        Returns:
            How many requests failed.
        """
        if self.heartbeat is not None:
            self.heartbeat.stop()
        return self.pending.fail_all(ConnectionLost(why))
