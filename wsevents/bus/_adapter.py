"""The bus's one bridge to the connection's delivery machinery.

:class:`Delivery` is the consumer's event emitter: a
:class:`~wsevents._emitter.Emitter` (pyee's registry, the cached handler
lookup) delivering through its own :class:`~wsevents._delivery.Dispatcher`
(the bounded queue, in-order dispatch that awaits async handlers, ``error``
for a raising handler), through the dispatcher's public interface only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._delivery import Dispatcher
from .._emitter import Emitter
from .._stats import Counters


__all__ = ["Delivery"]


class Delivery(Emitter):
    """An emitter whose producer is the bus consumer's reader.

    Args:
        queue_size: how many messages may wait for their handlers; past it,
            :meth:`put_message` waits for room (the reader stops reading Redis).
    """

    def __init__(self, *, queue_size: int) -> None:
        super().__init__()
        self._counters = Counters()
        self._dispatcher = Dispatcher(
            self, queue_size=queue_size, overflow="block", counters=self._counters
        )

    def start_delivery(self) -> None:
        """Start the task that calls the handlers."""
        if self._dispatcher.task is None:
            self._dispatcher.start()

    async def put_message(self, name: str, payload: Any) -> None:
        """Queue message ``payload`` of event ``name``, waiting while the queue is full."""
        await self._dispatcher.put(name, payload)

    async def put_messages(self, name: str, payloads: list[Any]) -> None:
        """Deliver ``payloads`` of event ``name`` in order: here and now while the
        dispatcher is idle and the handlers are plain functions (one loop turn less
        from Redis to the handler), else queued, waiting whenever the queue is full."""
        dispatcher = self._dispatcher
        deliver_now, offer = dispatcher.deliver_now, dispatcher.offer
        for payload in payloads:
            if not deliver_now(name, payload) and not offer(name, payload):
                await dispatcher.put(name, payload)

    def put_lifecycle(self, name: str, payload: Any) -> None:
        """Queue lifecycle event ``name`` (never dropped, not counted against the bound)."""
        self._dispatcher.offer_lifecycle(name, payload)

    def put_call(self, callback: Callable[[], None]) -> None:
        """Run ``callback()`` once everything queued before it was handled."""
        self._dispatcher.offer_call(callback)

    def report_error(self, exc: Exception) -> None:
        """An ``error`` event, in order with what is queued."""
        self._dispatcher.report_error(exc)

    @property
    def handler_errors(self) -> int:
        """How many handlers raised so far."""
        return self._counters.handler_errors

    @property
    def delivered(self) -> int:
        """How many messages were handed to their handlers so far."""
        return self._counters.messages_delivered

    @property
    def queue_depth(self) -> int:
        """How many messages wait for their handlers now."""
        return self._dispatcher.depth

    @property
    def queue_peak(self) -> int:
        """The most messages that waited for their handlers at once (sampled when
        the queue grows)."""
        return self._counters.queue_peak

    async def stop_delivery(self, timeout: float) -> int:
        """Deliver what is queued (within ``timeout`` seconds), then stop.

        Returns:
            How many messages were left undelivered.
        """
        # Not the lifecycle items left behind a stuck handler: they include the
        # acknowledgements of entries whose messages were never handled.
        return await self._dispatcher.finish(timeout, 0.0, lifecycle=False)
