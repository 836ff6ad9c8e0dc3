"""Ordered delivery: the bounded queue, its overflow modes and the dispatcher (L3).

A :class:`Dispatcher` delivers the events of one emitter (a ``Connection``, and
later a pool of them) in order, one at a time.  It owns its queue and the
delivery counters; producers use its interface only:

* :meth:`Dispatcher.offer` queues a message when there is room (an append to a
  ``deque``, and a wake-up of the dispatcher only when it sleeps on an empty
  queue) and says False when the queue is full;
* :meth:`Dispatcher.put` is the full-queue path, where the overflow mode is
  decided (in one place): ``drop_oldest``/``drop_newest`` drop and count,
  ``block`` waits for room;
* :meth:`Dispatcher.deliver_now` delivers a message at once from a transport's
  frame callback, when that cannot change what any handler sees;
* :meth:`Dispatcher.offer_lifecycle` and :meth:`Dispatcher.report_error` queue
  lifecycle events and errors (never dropped, not counted against the bound).

Any number of readers may offer to one dispatcher.  One dispatcher task takes
items off in order and calls their handlers, awaiting an async handler before
the next item (no task per message).  ``queue_full`` reports go to the front of
the queue: they describe the present.

:meth:`deliver_now` is used only when the dispatcher is idle on an empty queue
(nothing is ahead of the message) and the message's handlers are plain
functions.  A handler that raises or returns an awaitable hands the rest of
that message's delivery to the dispatcher (the error handlers, the await, the
remaining handlers), and the messages after it queue behind; a burst delivered
this way hands over to the queue after ``YIELD_INTERVAL``, so the dispatcher's
yielding applies again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import types
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from ._config import Overflow
from ._emitter import NOT_INLINE, Emitter, Handlers
from ._stats import Counters
from .events import ERROR, MESSAGE_PREFIX, QUEUE_FULL, QueueFull


__all__ = ["QUEUE_FULL_REPORT_INTERVAL", "YIELD_INTERVAL", "Dispatcher"]

logger = logging.getLogger("wsevents")

_Coroutine: Final = types.CoroutineType
_isawaitable: Final = inspect.isawaitable
#: seconds between two ``queue_full`` reports while the queue stays full
QUEUE_FULL_REPORT_INTERVAL: Final = 1.0
#: the longest the dispatcher keeps the loop to itself while handlers never yield
YIELD_INTERVAL: Final = 0.05


class _Lifecycle(str):
    """The name of a queued lifecycle item.

    Message items carry plain ``str`` names; a lifecycle item's name is of this
    subclass, so the dispatcher tells them apart with one class check.
    """

    __slots__ = ()


_NAMES: dict[str, _Lifecycle] = {}


def _lifecycle(name: str) -> _Lifecycle:
    found = _NAMES.get(name)
    if found is None:
        found = _NAMES[name] = _Lifecycle(name)
    return found


#: the pending ``queue_full`` report of this dispatcher: not interned, so that a
#: ``queue_full`` event offered from outside (a bus consumer relaying a publisher's)
#: is delivered as given
_REPORT: Final = _Lifecycle(QUEUE_FULL)
_RESUME: Final = _lifecycle("\x00resume")
_BARRIER: Final = _lifecycle("\x00barrier")
_CALL: Final = _lifecycle("\x00call")
_ERROR: Final = _lifecycle(ERROR)


class _Resume:
    """A message whose delivery began outside the dispatcher, which finishes it."""

    __slots__ = ("awaitable", "error", "handlers", "index", "name", "payload")

    def __init__(
        self, name: str, payload: Any, handlers: Handlers, index: int, awaitable: Any, error: Any
    ) -> None:
        self.name = name
        self.payload = payload
        self.handlers = handlers
        #: the first handler still to call
        self.index = index
        #: what the previous handler returned, to await first
        self.awaitable = awaitable
        #: what the previous handler raised, to report first
        self.error: Exception | None = error


class Dispatcher:
    """Delivers an emitter's events in order from one bounded queue.

    Args:
        emitter: whose handlers are called.
        queue_size: the bound on queued messages.
        overflow: ``"drop_oldest"``, ``"drop_newest"`` or ``"block"``.
        counters: where delivery is counted (``messages_delivered``,
            ``messages_dropped``, ``queue_peak``, ``queue_full_events``,
            ``handler_errors``, ``last_message_at``).
    """

    __slots__ = (
        "_barrier",
        "_counters",
        "_dropped_unreported",
        "_emitter",
        "_idle",
        "_idle_turns",
        "_inline_batch",
        "_inline_delivered",
        "_inline_get",
        "_inline_off",
        "_inline_started",
        "_last_channel",
        "_last_report",
        "_lifecycle_queued",
        "_queue",
        "_released",
        "_releasing",
        "_report_pending",
        "_report_timer",
        "_space",
        "_task",
        "_yielded_at",
        "overflow",
        "queue_size",
    )

    def __init__(
        self, emitter: Emitter, *, queue_size: int, overflow: Overflow, counters: Counters
    ) -> None:
        self._emitter = emitter
        self.queue_size = queue_size
        self.overflow = overflow
        self._counters = counters
        #: the queue; None while the dispatcher is idle (an idle connection does not
        #: keep a deque's first block, over 600 bytes)
        self._queue: deque[tuple[str, Any]] | None = None
        self._lifecycle_queued = 0
        #: set when the dispatcher sleeps on an empty queue
        self._idle: asyncio.Future[None] | None = None
        #: set while a producer waits for room ("block")
        self._space: asyncio.Future[None] | None = None
        #: how many times the dispatcher went idle; a producer yields once per busy
        #: period (``_yielded_at``) before dropping
        self._idle_turns = 0
        self._yielded_at = -1
        #: set while messages delivered by deliver_now await their bookkeeping
        self._inline_batch = False
        self._inline_delivered = 0
        self._inline_started = 0.0
        #: set once a burst of deliver_now calls used up YIELD_INTERVAL
        self._inline_off = False
        self._report_pending = False
        #: a report of drops made within QUEUE_FULL_REPORT_INTERVAL of the last one,
        #: due when the interval ends
        self._report_timer: asyncio.TimerHandle | None = None
        self._dropped_unreported = 0
        self._last_report = -QUEUE_FULL_REPORT_INTERVAL
        self._last_channel: str | None = None
        #: the end of delivery once queued: every close path waits for the same one
        self._barrier: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        #: set by release(): producers stop waiting for room
        self._released = False
        #: done on release(): delivery stops waiting for a task a handler returned
        self._releasing: asyncio.Future[None] | None = None
        #: the emitter's inline cache lookup (the same mapping for the emitter's life)
        self._inline_get = emitter.inline_cache.get
        emitter.route_errors_to(self.report_error)

    # -- introspection -------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Messages waiting in the queue (lifecycle items not counted)."""
        queue = self._queue
        return 0 if queue is None else len(queue) - self._lifecycle_queued

    @property
    def released(self) -> bool:
        """True once :meth:`release` was called (shutting down)."""
        return self._released

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The dispatcher task, once started."""
        return self._task

    # -- the producer side ------------------------------------------------------------

    def offer(self, name: str, payload: Any) -> bool:
        """Queue message ``payload`` of event ``name`` if there is room; False if full."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if len(queue) - self._lifecycle_queued < self.queue_size:
            queue.append((name, payload))
            if self._idle is not None:
                self._wake()
            return True
        return False

    async def put(self, name: str, payload: Any) -> bool:
        """Queue a message whatever it takes: the overflow mode decides when full.

        ``drop_oldest`` and ``drop_newest`` first let the dispatcher run once per
        busy period (one read may bring many frames), then drop and count;
        ``block`` reports the full queue and waits for room.

        Returns:
            False when the message was not queued: dropped (counted and
            reported), or :meth:`release` was called while waiting.
        """
        if self.offer(name, payload):
            return True
        if self.overflow != "block":
            if self._yielded_at != self._idle_turns:
                self._yielded_at = self._idle_turns
                await asyncio.sleep(0)
                if self.offer(name, payload):
                    return True
            self._overflowed(name, payload)
            return self.overflow == "drop_oldest"
        while not self._released:
            self.blocked(name)
            space = self._space
            if space is None or space.done():
                space = self._space = asyncio.get_running_loop().create_future()
            await space
            if self.offer(name, payload):
                return True
        return False

    def blocked(self, name: str) -> None:
        """A producer holds a message of ``name`` for a full queue (``block``): report it
        now (the report goes to the front of the queue)."""
        if self.overflow == "block":
            self._last_channel = _channel(name)
            self._sample_depth()
            self._schedule_report(dropped=False)

    def _overflowed(self, name: str, payload: Any) -> None:
        """Full queue, drop modes: drop the newest, or the oldest *message*
        (lifecycle items and the pending report are never dropped)."""
        self._last_channel = _channel(name)
        if self.overflow == "drop_oldest":
            queue = self._queue
            assert queue is not None
            kept: list[tuple[str, Any]] = []
            while queue:
                item = queue.popleft()
                if item[0].__class__ is str:
                    break
                kept.append(item)
            queue.extendleft(reversed(kept))
            queue.append((name, payload))
        self._sample_depth()  # the queue is full: its peak is its bound
        self._count_drop()

    def count_drop(self, channel: str | None) -> None:
        """Count one message dropped elsewhere (a stream's own queue) and report it."""
        self._last_channel = channel
        self._count_drop()

    def _current_queue(self) -> deque[tuple[str, Any]]:
        """The queue, made if there is none (the dispatcher woke to a new one)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        return queue

    def _lifecycle_queue(self) -> deque[tuple[str, Any]]:
        """The queue, for one more lifecycle item (counted as such)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        self._lifecycle_queued += 1
        return queue

    def _count_drop(self) -> None:
        self._counters.messages_dropped += 1
        self._dropped_unreported += 1
        self._schedule_report(dropped=True)

    def _sample_depth(self) -> None:
        depth = self.depth
        if depth > self._counters.queue_peak:
            self._counters.queue_peak = depth

    def _schedule_report(self, *, dropped: bool) -> None:
        """Report a full queue now, or (within QUEUE_FULL_REPORT_INTERVAL of the last
        report) once the interval ends when messages were dropped meanwhile: at most
        one ``queue_full`` a second, and every drop in one of them."""
        if self._report_pending or self._report_timer is not None:
            return
        now = time.monotonic()
        wait = self._last_report + QUEUE_FULL_REPORT_INTERVAL - now
        if wait > 0:
            if dropped:
                self._report_timer = asyncio.get_running_loop().call_later(
                    wait, self._report_due
                )
            return
        self._queue_report(now)

    def _report_due(self) -> None:
        self._report_timer = None
        if self._dropped_unreported and not self._report_pending:
            self._queue_report(time.monotonic())

    def _queue_report(self, now: float) -> None:
        timer, self._report_timer = self._report_timer, None
        if timer is not None:
            timer.cancel()
        self._report_pending = True
        self._last_report = now
        self._lifecycle_queue().appendleft((_REPORT, None))
        self._wake()

    def _make_report(self) -> QueueFull:
        self._report_pending = False
        dropped, self._dropped_unreported = self._dropped_unreported, 0
        self._counters.queue_full_events += 1
        return QueueFull(
            channel=self._last_channel,
            size=self.queue_size,
            dropped=dropped,
            overflow=self.overflow,
            total_dropped=self._counters.messages_dropped,
        )

    def offer_lifecycle(self, name: str, payload: Any) -> None:
        """Queue a lifecycle event (never dropped, not counted against the bound)."""
        self._lifecycle_queue().append((_lifecycle(name), payload))
        self._wake()

    def offer_call(self, function: Callable[[], object]) -> None:
        """Queue a call: ``function()`` runs in order, before the items queued after it
        (the terminal state is set just before the ``closed`` event)."""
        self._lifecycle_queue().append((_CALL, function))
        self._wake()

    def report_error(self, exc: Exception) -> None:
        """Report an error through the queue, in order (logged when nobody listens)."""
        self._lifecycle_queue().append((_ERROR, exc))
        self._wake()

    def deliver_now(self, name: str, payload: Any) -> bool:
        """Deliver message ``payload`` of event ``name`` here and now, if that is in order.

        For a reader running in a transport's frame callback.  Returns False,
        having done nothing, when the message must be queued instead: the
        dispatcher is not idle on an empty queue, one of the handlers is a
        coroutine function, or this burst of inline deliveries has run for
        ``YIELD_INTERVAL``.
        """
        if self._idle is None or self._inline_off:
            return False
        handlers = self._inline_get(name)
        if handlers is None:
            handlers = self._emitter.inline_handlers(name)
        if handlers is NOT_INLINE:
            return False
        if not self._inline_batch:
            # The first of a burst: its bookkeeping runs once after the callback.
            self._inline_batch = True
            self._inline_started = time.monotonic()
            asyncio.get_running_loop().call_soon(self._inline_done)
        delivered = self._inline_delivered = self._inline_delivered + 1
        if not delivered & 15 and time.monotonic() - self._inline_started > YIELD_INTERVAL:
            # Handlers held the loop for long: queue the rest of the burst, so the
            # dispatcher's yielding lets the socket and the timers run.
            self._inline_off = True
        for handler in handlers:
            try:
                result = handler(payload)
            except Exception as exc:  # noqa: BLE001 - reported by the dispatcher, in order
                index = handlers.index(handler)
                self._resume_later(_Resume(name, payload, handlers, index + 1, None, exc))
                return True
            if result is not None and (result.__class__ is _Coroutine or _isawaitable(result)):
                # A plain function returning an awaitable (pyee's once() of a
                # coroutine function, a lambda around one): the dispatcher awaits
                # it, and handles this event from now on.
                self._emitter.demote(name)
                index = handlers.index(handler)
                self._resume_later(_Resume(name, payload, handlers, index + 1, result, None))
                return True
        return True

    def _resume_later(self, resume: _Resume) -> None:
        self._lifecycle_queue().append((_RESUME, resume))
        self._wake()

    def _inline_done(self) -> None:
        """After a burst of inline deliveries: the counts the dispatcher would have kept."""
        counters = self._counters
        counters.messages_delivered += self._inline_delivered
        counters.last_message_at = time.monotonic()
        self._inline_delivered = 0
        self._inline_batch = False
        self._inline_off = False

    def _wake(self) -> None:
        idle = self._idle
        if idle is not None:
            self._idle = None
            if not idle.done():
                idle.set_result(None)

    # -- the end ------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start the dispatcher task."""
        assert self._task is None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wsevents-dispatch")
        return self._task

    def release(self) -> None:
        """Shutting down: producers waiting for room give up, and delivery stops
        waiting for tasks that handlers returned (they go on by themselves)."""
        self._released = True
        for waiter in (self._space, self._releasing):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        self._space = None

    def barrier(self) -> asyncio.Future[None]:
        """Queue the end of delivery; the future is done once everything before it was
        delivered (the dispatcher task then ends).  Every caller gets the same one."""
        if self._barrier is None:
            if self._report_timer is not None:
                self._queue_report(time.monotonic())  # the drops not reported yet, first
            self._barrier = asyncio.get_running_loop().create_future()
            self._lifecycle_queue().append((_BARRIER, self._barrier))
            self._wake()
        return self._barrier

    async def finish(self, timeout: float, margin: float, *, lifecycle: bool = True) -> int:
        """Deliver what is queued up to the barrier within ``timeout`` seconds.

        Past it, the dispatcher task is cancelled, the messages still queued are
        dropped (counted), and the lifecycle events still queued (``closed``
        among them) are delivered by a fresh dispatcher task within ``margin``
        (unless ``lifecycle`` is False: then they are forgotten too, calls
        queued behind undelivered messages included).

        Returns:
            The messages left undelivered.
        """
        barrier = self.barrier()
        left = 0
        task = self._task
        if task is not None and not (await _ended(task, timeout) and barrier.done()):
            # Stuck (or broken): drop the messages, deliver the lifecycle events left.
            left += self._drop_messages()
            self._task = None
            if lifecycle:
                await _ended(self.start(), margin)
        left += self._drop_messages()
        self._queue = None
        self._lifecycle_queued = 0
        return left

    def _drop_messages(self) -> int:
        """Forget the queued messages (not the lifecycle items); counted as dropped."""
        queue = self._queue
        if queue is None:
            return 0
        left = len(queue) - self._lifecycle_queued
        if left > 0:
            kept = [item for item in queue if item[0].__class__ is not str]
            queue.clear()
            queue.extend(kept)
            self._counters.messages_dropped += left
        return max(0, left)

    # -- the consumer side ---------------------------------------------------------------

    async def _run(self) -> None:
        """The dispatcher task: deliver queued items in order until the barrier."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        cache_get = self._emitter.handler_cache.get
        lookup = self._emitter.handlers
        popleft = queue.popleft
        counters = self._counters
        loop = asyncio.get_running_loop()
        monotonic = time.monotonic
        last_yield = monotonic()
        delivered = 0
        try:
            while True:
                if not queue:
                    if delivered:
                        # Once per batch, not per message: when data last flowed.
                        counters.last_message_at = monotonic()
                    counters.messages_delivered += delivered
                    delivered = 0
                    self._idle_turns += 1
                    # Idle: forget the queue (and this frame's references to it);
                    # the next producer makes a new one.
                    self._queue = None
                    del queue, popleft
                    self._idle = loop.create_future()
                    await self._idle
                    queue = self._current_queue()
                    popleft = queue.popleft
                    last_yield = monotonic()
                    continue
                name, payload = popleft()
                if name.__class__ is str:
                    delivered += 1
                    if not delivered & 15:
                        # Every 16 messages: sample the queue's depth, and let the
                        # readers and the sockets run if handlers held the loop for
                        # long (CPU-bound sync handlers never yield by themselves).
                        depth = len(queue) - self._lifecycle_queued + 1
                        if depth > counters.queue_peak:
                            counters.queue_peak = depth
                        if monotonic() - last_yield > YIELD_INTERVAL:
                            await asyncio.sleep(0)
                            last_yield = monotonic()
                else:
                    self._lifecycle_queued -= 1
                    if name is _REPORT:
                        payload = self._make_report()
                    elif name is _RESUME:
                        await self._resume(payload)
                        continue
                    elif name is _BARRIER:
                        if not payload.done():
                            payload.set_result(None)
                        return
                    elif name is _ERROR:
                        await self._report(payload)
                        continue
                    elif name is _CALL:
                        payload()
                        continue
                space = self._space
                if space is not None and len(queue) - self._lifecycle_queued < self.queue_size:
                    self._space = None
                    if not space.done():
                        space.set_result(None)
                handlers = cache_get(name)
                if handlers is None:
                    handlers = lookup(name)
                for handler in handlers:
                    try:
                        result = handler(payload)
                        # A sync handler returns None: no awaitable check at all;
                        # an async one returns a coroutine: one class check.
                        if result is not None:
                            if result.__class__ is _Coroutine:
                                await result
                            elif _isawaitable(result):
                                await self._settle(result)
                    except Exception as exc:  # noqa: BLE001 - a handler never kills delivery
                        await self._handler_failed(name, exc)
        finally:
            counters.messages_delivered += delivered

    async def _resume(self, resume: _Resume) -> None:
        """Finish delivering a message that :meth:`deliver_now` began."""
        name = resume.name
        if resume.error is not None:
            await self._handler_failed(name, resume.error)
        elif resume.awaitable is not None:
            try:
                await self._settle(resume.awaitable)
            except Exception as exc:  # noqa: BLE001 - a handler never kills delivery
                await self._handler_failed(name, exc)
        payload = resume.payload
        for handler in resume.handlers[resume.index :]:
            try:
                result = handler(payload)
                if result is not None and _isawaitable(result):
                    await self._settle(result)
            except Exception as exc:  # noqa: BLE001 - a handler never kills delivery
                await self._handler_failed(name, exc)

    async def _settle(self, awaitable: Any) -> None:
        """Await what a handler returned.  A coroutine runs here; a task or future
        goes on by itself, and delivery stops waiting for it once shutting down
        (a handler's ``ensure_future(ws.close())`` must not hold up the close)."""
        if awaitable.__class__ is _Coroutine:
            await awaitable
            return
        future = asyncio.ensure_future(awaitable)
        if not future.done():
            if self._released:
                return
            releasing = self._releasing
            if releasing is None or releasing.done():
                releasing = self._releasing = asyncio.get_running_loop().create_future()
            await asyncio.wait({future, releasing}, return_when=asyncio.FIRST_COMPLETED)
            if not future.done():
                return
        future.result()

    async def _handler_failed(self, name: str, exc: Exception) -> None:
        self._counters.handler_errors += 1
        if name == ERROR:
            logger.error("an 'error' handler raised", exc_info=exc)
            return
        await self._report(exc)

    async def _report(self, exc: Exception) -> None:
        """Call the ``error`` handlers now (from the dispatcher); logged when no
        handler listens (observers follow errors too, but do not handle them)."""
        handlers = self._emitter.handlers(ERROR)
        if not self._emitter.listeners(ERROR):
            logger.error("unhandled error (add an 'error' handler to receive it)", exc_info=exc)
        for handler in handlers:
            try:
                result = handler(exc)
                if result is not None and _isawaitable(result):
                    await result
            except Exception as inner:
                logger.error("an 'error' handler raised", exc_info=inner)


async def _ended(task: asyncio.Task[None], timeout: float) -> bool:
    """Wait for ``task`` at most ``timeout`` seconds; cancel it past that (False)."""
    if not task.done():
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            return False
    return True


def _channel(name: str) -> str | None:
    return name[len(MESSAGE_PREFIX) :] if name.startswith(MESSAGE_PREFIX) else None
