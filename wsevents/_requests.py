"""The table of requests waiting for their replies (layer L3).

:class:`PendingRequests` belongs to one connection.  A request is registered
under the key its protocol stamped into it
(:meth:`~wsevents.Protocol.prepare_request`), sent, and its caller awaits a
future; the reader hands every reply to :meth:`PendingRequests.resolve` by key
(:meth:`~wsevents.Protocol.reply_id`), so replies may come in any order.

Deadlines cost one ``loop.call_later`` handle per request: no task and no
``asyncio.wait_for`` per request.  A reply that arrives after its deadline (or
for a key nobody waits for) is counted as ``late`` and dropped.  When the
connection drops, :meth:`PendingRequests.fail_all` fails every waiting caller
at once, typically with :class:`~wsevents.ConnectionLost`; nothing is resent.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import attrs

from .exceptions import ConfigError


__all__ = [
    "PendingRequests",
    "RequestStats",
]

_F = TypeVar("_F")


@attrs.frozen(kw_only=True)
class RequestStats:
    """Counters of one :class:`PendingRequests` table (a snapshot).

    Args:
        sent: requests sent (a request whose send failed is not counted).
        replied: requests answered with a reply that is not an error.
        failed: requests answered with an error reply, or failed by
            :meth:`PendingRequests.fail_all` (connection lost).
        timed_out: requests whose deadline passed without a reply.
        cancelled: requests whose caller stopped waiting (task cancelled).
        late: replies for no waiting request (after a timeout, or unknown keys).
        pending: requests waiting for their reply now.
    """

    sent: int = 0
    replied: int = 0
    failed: int = 0
    timed_out: int = 0
    cancelled: int = 0
    late: int = 0
    pending: int = 0


class PendingRequests:
    """In-flight requests of one connection: key -> (future, deadline timer).

    Args:
        loop: the event loop whose ``call_later`` arms the deadlines (default:
            the running loop when the first request is registered).

    .. versionadded:: 0.2
    """

    __slots__ = ("_cancelled", "_failed", "_late", "_loop", "_replied", "_sent", "_table",
                 "_timed_out")

    def __init__(self, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._table: dict[Hashable, tuple[asyncio.Future[Any], asyncio.TimerHandle]] = {}
        self._sent = 0
        self._replied = 0
        self._failed = 0
        self._timed_out = 0
        self._cancelled = 0
        self._late = 0

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __repr__(self) -> str:
        return f"<PendingRequests {len(self._table)} pending, {self._sent} sent>"

    @property
    def stats(self) -> RequestStats:
        """A frozen snapshot of the counters."""
        return RequestStats(
            sent=self._sent,
            replied=self._replied,
            failed=self._failed,
            timed_out=self._timed_out,
            cancelled=self._cancelled,
            late=self._late,
            pending=len(self._table),
        )

    async def request(
        self,
        send: Callable[[_F], Awaitable[object]],
        frame: _F,
        key: Hashable,
        timeout: float,
    ) -> Any:
        """Register ``key``, send ``frame`` with ``send``, and return its reply.

        Args:
            send: sends one frame (the connection's ``send``).
            frame: the request frame, its id already stamped.
            key: the key its reply will carry (:meth:`~wsevents.Protocol.reply_id`).
            timeout: seconds to wait for the reply.

        Raises:
            RequestError: the reply is an error reply (given to :meth:`resolve`).
            TimeoutError: no reply within ``timeout`` seconds.
            ConnectionLost: (or what :meth:`fail_all` was given) the
                connection dropped first.
            ConfigError: ``timeout`` is not a positive number of seconds.
            RuntimeError: a request with the same key is already waiting.
            Exception: what ``send`` raised (the request is then forgotten).
        """
        future = self._register(key, timeout)
        try:
            await send(frame)
        except BaseException:
            self._forget(key, future)
            raise
        self._sent += 1
        try:
            return await future
        finally:
            if future.cancelled() and self._forget(key, future):
                self._cancelled += 1

    def _register(self, key: Hashable, timeout: float) -> asyncio.Future[Any]:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ConfigError("timeout", timeout, "must be a positive number of seconds")
        if key in self._table:
            raise RuntimeError(f"a request with id {key!r} is already waiting for its reply")
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        timer = loop.call_later(timeout, self._expire, key, future, timeout)
        self._table[key] = (future, timer)
        return future

    def _forget(self, key: Hashable, future: asyncio.Future[Any]) -> bool:
        """Drop ``key`` if it still maps to ``future``; True when it did."""
        entry = self._table.get(key)
        if entry is None or entry[0] is not future:
            return False
        del self._table[key]
        entry[1].cancel()
        return True

    def _expire(self, key: Hashable, future: asyncio.Future[Any], timeout: float) -> None:
        if self._forget(key, future):
            if future.done():  # its caller was cancelled and has not run its cleanup yet
                self._cancelled += 1
            else:
                self._timed_out += 1
                future.set_exception(
                    TimeoutError(f"no reply to request {key!r} within {timeout}s")
                )

    def resolve(self, key: Hashable, reply: Any, error: BaseException | None = None) -> bool:
        """Hand a reply to the request waiting under ``key``.

        Args:
            key: the reply's key (:meth:`~wsevents.Protocol.reply_id`).
            reply: the decoded reply, returned to the caller.
            error: raised in the caller instead, for an error reply
                (:meth:`~wsevents.Protocol.reply_error`).

        Returns:
            True when a request was waiting; False when the reply is late or
            unknown (it is counted in ``late`` and dropped).
        """
        entry = self._table.pop(key, None)
        if entry is None:
            self._late += 1
            return False
        future, timer = entry
        timer.cancel()
        if future.done():  # its caller was cancelled and has not run its cleanup yet
            self._cancelled += 1
            self._late += 1
            return False
        if error is None:
            self._replied += 1
            future.set_result(reply)
        else:
            self._failed += 1
            future.set_exception(error)
        return True

    def fail_all(self, exc: BaseException) -> int:
        """Fail every waiting request with (a copy of) ``exc``, at once.

        Each caller gets its own copy, so tracebacks do not pile up on one
        object; the copy keeps ``exc``'s cause.

        Returns:
            How many requests were failed.
        """
        table, self._table = self._table, {}
        failed = 0
        for future, timer in table.values():
            timer.cancel()
            if future.done():  # its caller was cancelled and has not run its cleanup yet
                self._cancelled += 1
                continue
            own = copy.copy(exc)
            own.__cause__ = exc.__cause__
            future.set_exception(own)
            failed += 1
        self._failed += failed
        return failed
