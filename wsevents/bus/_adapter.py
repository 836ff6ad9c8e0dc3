"""The bus's one bridge to the connection's delivery machinery.

:class:`Delivery` is the consumer's event emitter: ``wsevents._delivery.Dispatcher``
(pyee's registry, the bounded queue, in-order dispatch that awaits async
handlers, ``error`` for a raising handler), seen through a handful of public
methods.  Every use of the dispatcher's private API by the bus is in this class
and nowhere else, so that a change of the engine's internals is a change here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from .._delivery import Dispatcher
from .._stats import Counters


__all__ = ["Delivery"]

#: the name of an internal queue item that runs a callback in delivery order
_CALL: Final = "\x00bus-call"


class Delivery(Dispatcher):
    """A dispatcher whose producer is the bus consumer's reader.

    Args:
        queue_size: how many messages may wait for their handlers; past it,
            :meth:`put_message` waits for room (the reader stops reading Redis).
    """

    def __init__(self, *, queue_size: int) -> None:
        super().__init__(queue_size=queue_size, overflow="block", counters=Counters())
        self._dispatch_task: asyncio.Task[None] | None = None

    def _lookup(self, name: str) -> tuple[Callable[..., Any], ...]:
        if name == _CALL:
            return (_run,)
        return super()._lookup(name)

    def start_delivery(self) -> None:
        """Start the task that calls the handlers."""
        if self._dispatch_task is None:
            self._dispatch_task = asyncio.get_running_loop().create_task(
                self._dispatch_forever(), name="wsevents-bus-dispatch"
            )

    async def put_message(self, name: str, payload: Any) -> None:
        """Queue message ``payload`` of event ``name``, waiting while the queue is full."""
        while len(self._queue) - self._lifecycle_queued >= self._queue_size:
            wait = self._put_message_slow(name, payload)
            assert wait is not None  # "block": never dropped
            await wait
        self._queue.append((name, payload))
        self._wake()

    async def put_messages(self, name: str, payloads: list[Any]) -> None:
        """Queue ``payloads`` of event ``name`` in order, waiting whenever the queue is full."""
        queue = self._queue
        bound = self._queue_size
        append = queue.append
        for payload in payloads:
            if len(queue) - self._lifecycle_queued < bound:
                append((name, payload))
            else:
                self._wake()
                await self.put_message(name, payload)
        self._wake()

    def put_lifecycle(self, name: str, payload: Any) -> None:
        """Queue lifecycle event ``name`` (never dropped, not counted against the bound)."""
        self._put_lifecycle(name, payload)

    def put_call(self, callback: Callable[[], None]) -> None:
        """Run ``callback()`` once everything queued before it was handled."""
        self._put_lifecycle(_CALL, callback)

    def report_error(self, exc: Exception) -> None:
        """An ``error`` event, in order with what is queued."""
        self._report_error_sync(exc)

    @property
    def handler_errors(self) -> int:
        """How many handlers raised so far."""
        return self._counters.handler_errors

    @property
    def delivered(self) -> int:
        """How many messages were handed to their handlers so far."""
        return self._counters.messages_delivered

    async def stop_delivery(self, timeout: float) -> int:
        """Deliver what is queued (within ``timeout`` seconds), then stop.

        Returns:
            How many messages were left undelivered.
        """
        task, self._dispatch_task = self._dispatch_task, None
        if task is None:
            return self._drain_remaining()
        barrier = self._put_barrier()
        try:
            await asyncio.wait_for(asyncio.shield(barrier), timeout)
        except asyncio.TimeoutError:
            pass
        task.cancel()
        await asyncio.wait([task])
        self._barrier = None
        return self._drain_remaining()


def _run(callback: Callable[[], None]) -> None:
    callback()
