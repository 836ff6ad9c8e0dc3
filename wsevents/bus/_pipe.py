"""The publisher's write path: pipelines sent without waiting for the replies of the last.

With one pipeline in flight at a time, a record that arrives during a round
trip waits for its reply before it is even sent: one more wake-up of Redis and
of this process on its way to a consumer, which on a busy machine is the
largest part of the latency.  A :class:`Pipe` writes each pipeline as soon as
it is given one, on a connection of its own that carries nothing else, and a
task reads the replies in order.  Redis runs one connection's commands in the
order they arrive, so entries still land in the order they were sent.

A failure (of a write or of a read) leaves the pipe :attr:`Pipe.broken`; its
owner then takes back, with :meth:`Pipe.abandon`, every pipeline whose replies
did not all arrive, to write them again (the publisher's entry ids make that
safe: a retried entry Redis already holds is refused as "equal or smaller").
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from redis.exceptions import RedisError, ResponseError


__all__ = ["Pipe"]

T = TypeVar("T")


class Pipe(Generic[T]):
    """Pipelines in flight on one connection, their replies read in order.

    Args:
        on_replies: called with a pipeline's token and its replies (a
            ``ResponseError`` instance for a command Redis refused), in order.
        on_turn: called after each pipeline's replies and on a failure (the
            owner's writer may go on).
    """

    def __init__(
        self,
        on_replies: Callable[[T, list[Any]], None],
        on_turn: Callable[[], None],
    ) -> None:
        self._on_replies = on_replies
        self._on_turn = on_turn
        self._conn: Any = None
        #: (token, number of commands) of every pipeline sent, replies not all read
        self._flight: deque[tuple[T, int]] = deque()
        self._reader: asyncio.Task[None] | None = None
        #: the failure that ended the pipe, until :meth:`abandon`
        self.broken: BaseException | None = None

    @property
    def depth(self) -> int:
        """Pipelines whose replies did not all arrive."""
        return len(self._flight)

    async def send(self, client: Any, token: T, commands: Sequence[Sequence[Any]]) -> None:
        """Write ``commands`` as one pipeline (connecting first, from ``client``'s pool,
        if needed) and return without waiting for the replies.  A failure is not
        raised: it sets :attr:`broken`, and the pipeline is among those
        :meth:`abandon` returns."""
        self._flight.append((token, len(commands)))
        try:
            conn = self._conn
            if conn is None:
                conn = client.connection_pool.make_connection()
                self._conn = conn
                await conn.connect()
            await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
        except (OSError, RedisError) as exc:
            self._failed(exc)
            return
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(
                self._read(conn), name="wsevents-bus-replies"
            )

    async def _read(self, conn: Any) -> None:
        flight = self._flight
        try:
            while flight and self.broken is None:
                token, count = flight[0]
                results: list[Any] = []
                for _ in range(count):
                    try:
                        results.append(await conn.read_response())
                    except ResponseError as exc:
                        results.append(exc)
                flight.popleft()
                self._on_replies(token, results)
                self._on_turn()
        except (OSError, RedisError) as exc:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if self.broken is None:
            self.broken = exc
        self._on_turn()

    async def abandon(self) -> list[T]:
        """Stop reading, drop the connection, and return the tokens of the pipelines
        whose replies did not all arrive, in the order they were sent."""
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait([reader])
        conn, self._conn = self._conn, None
        if conn is not None:
            # A broken connection may fail or hang while closing: bounded, quiet.
            task = asyncio.ensure_future(_disconnect(conn))
            await asyncio.wait([task], timeout=1.0)
            task.cancel()  # (nothing when it is done)
        tokens = [token for token, _ in self._flight]
        self._flight.clear()
        self.broken = None
        return tokens


async def _disconnect(conn: Any) -> None:
    try:
        await conn.disconnect(nowait=True)
    except (OSError, RedisError):  # pragma: no cover - redis-py closes quietly itself
        pass
