"""A flag a task can wait for: ``asyncio.Event``'s interface at a fraction of its size (L3)."""

from __future__ import annotations

import asyncio


__all__ = ["Signal"]


class Signal:
    """A flag a task can wait for.

    An idle connection keeps several of these; an ``asyncio.Event`` carries a
    ``deque`` of waiters (over 600 bytes) where one shared future is enough.
    """

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._flag = False

    async def wait(self) -> None:
        """Return once the flag is set (at once if it is)."""
        if self._flag:
            return
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        # Shielded: one cancelled waiter must not cancel the others' future.
        await asyncio.shield(waiter)
