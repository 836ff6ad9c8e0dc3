"""``Connection.stream()``: one event's payloads as an async iterator (L3).

A :class:`Stream` listens from the moment it is made, keeps its own bounded
buffer (fan-out: every stream gets every payload), follows the overflow mode
of the delivery it listens to (``block`` makes the dispatcher wait for the
consumer; drops are counted through :meth:`Dispatcher.count_drop
<wsevents._delivery.Dispatcher.count_drop>` and reported by ``queue_full``),
and ends exactly once: on the ``closed`` event, on :meth:`Stream.end` (the
connection ends every stream it made when it closes, whether the consumer is
iterating, waiting, or gone), or on :meth:`Stream.aclose`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from ._delivery import Dispatcher
from ._emitter import Emitter
from ._signal import Signal
from .events import CLOSED, MESSAGE_PREFIX


__all__ = ["Stream"]


class Stream:
    """An async iterator over the payloads of ``event``.

    Args:
        emitter: what to listen to.
        dispatcher: its delivery (the overflow mode, and drops counted there).
        event: the event name.
        maxsize: the stream's own bound.
        on_end: called once when the stream ends (the connection forgets it).
    """

    __slots__ = (
        "_dispatcher",
        "_emitter",
        "_ended",
        "_event",
        "_handler",
        "_items",
        "_maxsize",
        "_on_end",
        "_readable",
        "_writable",
    )

    def __init__(
        self,
        emitter: Emitter,
        dispatcher: Dispatcher,
        event: str,
        maxsize: int,
        on_end: Callable[[Stream], None],
    ) -> None:
        self._emitter = emitter
        self._dispatcher = dispatcher
        self._event = event
        self._maxsize = maxsize
        self._on_end = on_end
        self._items: deque[Any] = deque()
        self._ended = False
        self._readable = Signal()
        self._writable = Signal()
        self._handler: Callable[[Any], Any] = (
            self._put_blocking if dispatcher.overflow == "block" else self._put
        )
        emitter.on(event, self._handler)
        if event != CLOSED:
            emitter.on(CLOSED, self._closed)

    # -- the producer side (handlers called by the dispatcher) ---------------------------

    def _put(self, payload: Any) -> None:
        items = self._items
        if len(items) >= self._maxsize:
            if self._dispatcher.overflow == "drop_newest":
                self._count_drop()
                return
            items.popleft()
            self._count_drop()
        items.append(payload)
        self._readable.set()
        if self._event == CLOSED:
            self.end()

    async def _put_blocking(self, payload: Any) -> None:
        while len(self._items) >= self._maxsize and not self._ended:
            self._writable.clear()
            await self._writable.wait()
        if not self._ended:
            self._put(payload)

    def _count_drop(self) -> None:
        event = self._event
        channel = event[len(MESSAGE_PREFIX) :] if event.startswith(MESSAGE_PREFIX) else None
        self._dispatcher.count_drop(channel)

    def _closed(self, _payload: Any) -> None:
        self.end()

    # -- the end ----------------------------------------------------------------------------

    def end(self) -> None:
        """Stop listening; the consumer gets what is buffered, then the end (idempotent)."""
        if self._ended:
            return
        self._ended = True
        # remove_all_listeners() may have removed them already (pyee raises then)
        with contextlib.suppress(KeyError):
            self._emitter.remove_listener(self._event, self._handler)
        if self._event != CLOSED:
            with contextlib.suppress(KeyError):
                self._emitter.remove_listener(CLOSED, self._closed)
        self._readable.set()
        self._writable.set()
        self._on_end(self)

    async def aclose(self) -> None:
        """Stop listening and forget what is buffered."""
        self.end()
        self._items.clear()

    # -- the consumer side --------------------------------------------------------------------

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Any:
        items = self._items
        while not items:
            if self._ended:
                raise StopAsyncIteration
            self._readable.clear()
            await self._readable.wait()
        self._writable.set()
        return items.popleft()
