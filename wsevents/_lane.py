"""A pool shard's way into the pool's one dispatcher (L3).

Every shard of a :class:`~wsevents.Pool` delivers through the pool's
:class:`~wsevents._delivery.Dispatcher`, so the messages of all shards reach
the handlers one at a time, from one queue.  A :class:`Lane` is what a shard's
runner, link and reader hold instead of a dispatcher of their own:

* the per-message methods (``offer``, ``put``, ``deliver_now``, ``blocked``)
  *are* the dispatcher's bound methods: a shard's messages cost what a
  ``Connection``'s do;
* lifecycle payloads are stamped with the shard's id (``Connected.shard``);
* the shard's ``closed`` goes to the pool, which decides what the users see
  (a shard the pool retired says nothing; a shard that failed for good closes
  the pool, whose own ``closed`` carries the shard);
* the dispatcher's life (start, release, finish) belongs to the pool: a shard
  closing only waits until what it queued was delivered.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import attrs

from ._delivery import Dispatcher
from .events import CLOSED, Closed


__all__ = ["Lane"]


class Lane:
    """One shard's view of the pool's dispatcher.

    Args:
        dispatcher: the pool's dispatcher.
        shard: the shard's id, stamped on its lifecycle payloads.
        on_closed: called with the shard's ``Closed`` payload instead of
            queuing it.
    """

    __slots__ = (
        "_dispatcher",
        "_on_closed",
        "blocked",
        "count_drop",
        "deliver_now",
        "offer",
        "offer_call",
        "put",
        "report_error",
        "shard",
    )

    def __init__(
        self, dispatcher: Dispatcher, shard: int, on_closed: Callable[[int, Closed], None]
    ) -> None:
        self._dispatcher = dispatcher
        self._on_closed = on_closed
        self.shard = shard
        self.offer = dispatcher.offer
        self.put = dispatcher.put
        self.deliver_now = dispatcher.deliver_now
        self.blocked = dispatcher.blocked
        self.count_drop = dispatcher.count_drop
        self.offer_call = dispatcher.offer_call
        self.report_error = dispatcher.report_error

    @property
    def queue_size(self) -> int:
        """The bound of the pool's queue."""
        return self._dispatcher.queue_size

    @property
    def depth(self) -> int:
        """The pool's queue depth."""
        return self._dispatcher.depth

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The pool's dispatcher task."""
        return self._dispatcher.task

    def offer_lifecycle(self, name: str, payload: Any) -> None:
        """Queue a lifecycle event stamped with the shard (``closed`` goes to the pool)."""
        if name == CLOSED:
            self._on_closed(self.shard, payload)
            return
        self._dispatcher.offer_lifecycle(name, attrs.evolve(payload, shard=self.shard))

    def start(self) -> None:
        """The pool starts its dispatcher, once."""

    def release(self) -> None:
        """The pool releases its dispatcher when the pool closes."""

    async def finish(self, timeout: float, margin: float, *, lifecycle: bool = True) -> int:
        """Wait (at most ``timeout`` seconds) until what this shard queued was delivered.

        Returns:
            0: the messages left in the pool's queue are the pool's to deliver.
        """
        del margin, lifecycle
        dispatcher = self._dispatcher
        if dispatcher.released:
            return 0  # the pool is closing: its own finish delivers what is left
        # (A shard's teardown runs in a task of its own, never in the dispatcher's.)
        done = asyncio.get_running_loop().create_future()
        dispatcher.offer_call(functools.partial(done.set_result, None))
        await asyncio.wait({done}, timeout=timeout)
        return 0
