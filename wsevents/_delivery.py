"""Ordered delivery: the bounded queue, its overflow modes and the dispatcher (L3).

:class:`Dispatcher` is the pyee ``EventEmitter`` that :class:`wsevents.Connection`
subclasses.  Registration (``on``, ``once``, ``remove_listener``,
``listeners``, ``event_names``) is pyee's own; what this module adds is the
delivery path:

* the reader (in ``connection``) calls :meth:`Dispatcher._put_message` for
  every decoded frame: an append to one bounded ``deque``, and a wake-up of the
  dispatcher only when it sleeps on an empty queue;
* one dispatcher task takes items off in order and calls their handlers,
  awaiting an async handler before the next item (no task per message);
* each event name's handler tuple is cached and the cache is cleared whenever
  a listener is added or removed, so the per-message lookup is one dict
  access instead of pyee's generic ``emit``.

Lifecycle events (``connect``, ``disconnect``, ...) travel through the same
queue, so a handler sees everything in the order it happened; they are never
dropped and do not count against the bound.  ``queue_full`` reports go to the
front of the queue: they describe the present.

A reader that runs inside the transport's own frame callback (the picows
transport) may deliver a message at once with :meth:`Dispatcher._deliver_now`
instead of queueing it, when that cannot change what any handler sees: the
dispatcher is idle on an empty queue (nothing is ahead of the message) and the
message's handlers are plain functions.  A handler that raises or returns an
awaitable hands the rest of that message's delivery to the dispatcher (the
error handlers, the await, the remaining handlers), and the messages after it
queue behind; a burst delivered this way hands over to the queue after
``YIELD_INTERVAL``, so the dispatcher's yielding applies again.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import types
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from pyee.base import EventEmitter

from ._config import Overflow
from ._stats import Counters
from .events import ERROR, MESSAGE, MESSAGE_PREFIX, QUEUE_FULL, QueueFull


__all__ = ["Dispatcher", "Signal"]

logger = logging.getLogger("wsevents")

_Item = tuple[str, Any]
_Coroutine: Final = types.CoroutineType
_isawaitable: Final = inspect.isawaitable
_NO_HANDLERS: Final[tuple[Callable[..., Any], ...]] = ()
#: seconds between two ``queue_full`` reports while the queue stays full
QUEUE_FULL_REPORT_INTERVAL: Final = 1.0
#: the longest the dispatcher keeps the loop to itself while handlers never yield
YIELD_INTERVAL: Final = 0.05


def _is_async(handler: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.isasyncgenfunction(handler)


class Signal:
    """A flag a task can wait for: ``asyncio.Event``'s interface at a fraction of its size.

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


class _QueueFullMarker:
    """Stands in the queue for the pending ``queue_full`` report."""

    __slots__ = ()


_MARKER: Final = _QueueFullMarker()


class _Barrier:
    """A queue item that ends the dispatcher once everything before it was delivered."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future


class _Resume:
    """A message whose delivery began outside the dispatcher, which finishes it."""

    __slots__ = ("awaitable", "error", "handlers", "index", "name", "payload")

    def __init__(
        self,
        name: str,
        payload: Any,
        handlers: tuple[Callable[..., Any], ...],
        index: int,
        *,
        awaitable: Any = None,
        error: Exception | None = None,
    ) -> None:
        self.name = name
        self.payload = payload
        self.handlers = handlers
        #: the first handler still to call
        self.index = index
        #: what the previous handler returned, to await first
        self.awaitable = awaitable
        #: what the previous handler raised, to report first
        self.error = error


def _not_inline(_payload: Any) -> None:  # pragma: no cover - never called
    raise AssertionError


#: the inline cache's mark for an event whose handlers must run in the dispatcher
#: (compared by identity)
_NOT_INLINE: Final[tuple[Callable[..., Any], ...]] = (_not_inline,)


class _Lifecycle(str):
    """The name of a queued lifecycle event.

    Message items carry plain ``str`` names; a lifecycle item's name is of this
    subclass, so the dispatcher tells them apart with one class check.
    """

    __slots__ = ()


_LIFECYCLE_NAMES: dict[str, _Lifecycle] = {}


def _lifecycle_name(name: str) -> _Lifecycle:
    found = _LIFECYCLE_NAMES.get(name)
    if found is None:
        found = _LIFECYCLE_NAMES[name] = _Lifecycle(name)
    return found


class Dispatcher(EventEmitter):
    """A pyee ``EventEmitter`` with an ordered, bounded delivery queue.

    Args:
        queue_size: the bound on queued messages.
        overflow: ``"drop_oldest"``, ``"drop_newest"`` or ``"block"``.
        counters: the connection's stats counters.
    """

    # Slots: an idle connection's attributes cost 8 bytes each instead of a large
    # instance dict (pyee's own attributes stay in the dict).
    __slots__ = (
        "_barrier",
        "_cache",
        "_counters",
        "_dropped_unreported",
        "_idle",
        "_idle_turns",
        "_inline_batch",
        "_inline_cache",
        "_inline_delivered",
        "_inline_off",
        "_inline_started",
        "_last_dropped_channel",
        "_last_report",
        "_lifecycle_queued",
        "_observers",
        "_overflow",
        "_pending_tasks",
        "_queue",
        "_queue_size",
        "_report_pending",
        "_space",
        "_yielded_at",
    )

    def __init__(self, *, queue_size: int, overflow: Overflow, counters: Counters) -> None:
        super().__init__()
        self._cache: dict[str, tuple[Callable[..., Any], ...]] = {}
        #: handler tuples that _deliver_now may call (no coroutine function among them)
        self._inline_cache: dict[str, tuple[Callable[..., Any], ...]] = {}
        #: set while messages delivered by _deliver_now await their bookkeeping
        self._inline_batch = False
        self._inline_delivered = 0
        self._inline_started = 0.0
        #: set once a burst of _deliver_now calls used up YIELD_INTERVAL
        self._inline_off = False
        self._queue: deque[_Item] = deque()
        self._queue_size = queue_size
        self._overflow = overflow
        self._counters = counters
        #: set when the dispatcher sleeps on an empty queue
        self._idle: asyncio.Future[None] | None = None
        #: set when the reader waits for space ("block")
        self._space: asyncio.Future[None] | None = None
        #: how many times the dispatcher went idle; the reader's ``_yielded_at``
        #: lets it yield once per busy period before dropping (drop modes)
        self._idle_turns = 0
        self._yielded_at = -1
        self._lifecycle_queued = 0
        self._report_pending = False
        self._dropped_unreported = 0
        self._last_report = -QUEUE_FULL_REPORT_INTERVAL
        self._last_dropped_channel: str | None = None
        self._pending_tasks: set[asyncio.Task[Any]] | None = None
        #: callbacks ``(event name, payload)`` called after every delivered event's handlers
        self._observers: tuple[Callable[[str, Any], Any], ...] = ()
        #: the end of delivery once queued: every close path waits for the same one
        self._barrier: asyncio.Future[None] | None = None

    # -- pyee registry hooks: keep the handler cache exact --------------------

    def _add_event_handler(self, event: str, k: Callable[..., Any], v: Callable[..., Any]) -> None:
        super()._add_event_handler(event, k, v)
        with self._lock:
            self._cache.clear()
            self._inline_cache.clear()

    def _remove_listener(self, event: str, f: Callable[..., Any]) -> None:
        # Called with self._lock held (pyee's "naked" removal, once() included).
        super()._remove_listener(event, f)
        self._cache.clear()
        self._inline_cache.clear()

    def remove_all_listeners(self, event: str | None = None) -> None:
        """Remove every listener of ``event`` (of every event when None), as in pyee."""
        super().remove_all_listeners(event)
        with self._lock:
            self._cache.clear()
            self._inline_cache.clear()

    def add_observer(self, observer: Callable[[str, Any], Any]) -> None:
        """Call ``observer(event_name, payload)`` for every event this emitter delivers.

        A low-level hook for components that follow everything a connection
        delivers (a publisher onto a message bus, a recorder): it is called in
        delivery order, after the event's own handlers, with the same rules (an
        awaitable it returns is awaited; what it raises goes to ``error``).
        ``message:<channel>`` names carry the channel.  It costs nothing per
        message when no observer is added.
        """
        if not callable(observer):
            raise TypeError("observer must be callable")
        with self._lock:
            self._observers = (*self._observers, observer)
            self._cache.clear()
            self._inline_cache.clear()

    def remove_observer(self, observer: Callable[[str, Any], Any]) -> None:
        """Stop calling ``observer`` (no error if it was not added)."""
        with self._lock:
            self._observers = tuple(o for o in self._observers if o is not observer)
            self._cache.clear()
            self._inline_cache.clear()

    def _emit_run(
        self, f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        # Only reached through a direct ``emit()`` call by user code (the
        # connection's own events go through the queue).  An async handler's
        # coroutine is scheduled like pyee's AsyncIOEventEmitter does, and kept
        # referenced until it finishes.
        result = f(*args, **kwargs)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            if self._pending_tasks is None:
                self._pending_tasks = set()
            self._pending_tasks.add(task)
            task.add_done_callback(self._emit_task_done)

    def _emit_task_done(self, task: asyncio.Task[Any]) -> None:
        if self._pending_tasks is not None:
            self._pending_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert isinstance(exc, BaseException)
            if isinstance(exc, Exception):
                self._report_error_sync(exc)

    def _handlers(self, name: str) -> tuple[Callable[..., Any], ...]:
        """The handlers of ``name`` (``message`` ones first for ``message:<ch>``), cached."""
        with self._lock:
            found = self._cache[name] = self._lookup(name)
        return found

    def _inline_handlers(self, name: str) -> tuple[Callable[..., Any], ...]:
        """The handlers of message event ``name``, cached; ``_NOT_INLINE`` if one is a
        coroutine function."""
        with self._lock:
            handlers = self._lookup(name)
            found = _NOT_INLINE if any(map(_is_async, handlers)) else handlers
            self._inline_cache[name] = found
        return found

    def _lookup(self, name: str) -> tuple[Callable[..., Any], ...]:
        # with self._lock held
        events = self._events
        found = tuple(events[name].values()) if name in events else _NO_HANDLERS
        if name.startswith(MESSAGE_PREFIX) and MESSAGE in events:
            found = tuple(events[MESSAGE].values()) + found
        if self._observers:
            found += tuple(functools.partial(observer, name) for observer in self._observers)
        return found

    # -- the producer side ------------------------------------------------------

    def _deliver_now(self, name: str, payload: Any) -> bool:
        """Deliver message ``payload`` of event ``name`` here and now, if that is in order.

        For a reader running in the transport's frame callback.  Returns False,
        having done nothing, when the message must be queued instead: the
        dispatcher is not idle on an empty queue, one of the handlers is a
        coroutine function, or this burst of inline deliveries has run for
        ``YIELD_INTERVAL``.
        """
        if self._idle is None or self._inline_off:
            return False
        handlers = self._inline_cache.get(name)
        if handlers is None:
            handlers = self._inline_handlers(name)
        if handlers is _NOT_INLINE:
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
                self._resume_later(
                    _Resume(name, payload, handlers, handlers.index(handler) + 1, error=exc)
                )
                return True
            if result is not None and (result.__class__ is _Coroutine or _isawaitable(result)):
                # A plain function returning an awaitable (pyee's once() of a
                # coroutine function, a lambda around one): the dispatcher awaits
                # it, and handles this event from now on.
                self._inline_cache[name] = _NOT_INLINE
                self._resume_later(
                    _Resume(name, payload, handlers, handlers.index(handler) + 1, awaitable=result)
                )
                return True
        return True

    def _resume_later(self, resume: _Resume) -> None:
        self._queue.append((_lifecycle_name("\x00resume"), resume))
        self._lifecycle_queued += 1
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

    def _put_lifecycle(self, name: str, payload: Any) -> None:
        """Queue a lifecycle event (never dropped, not counted against the bound)."""
        self._queue.append((_lifecycle_name(name), payload))
        self._lifecycle_queued += 1
        self._wake()

    def _put_message_slow(self, name: str, message: Any) -> asyncio.Future[None] | None:
        """The queue is full: apply the overflow mode.

        Returns a future to await when the reader must wait for space ("block").
        """
        counters = self._counters
        channel = name[len(MESSAGE_PREFIX) :] if name.startswith(MESSAGE_PREFIX) else None
        self._last_dropped_channel = channel
        if self._overflow == "block":
            self._schedule_report(dropped=False)
            if self._space is None or self._space.done():
                self._space = asyncio.get_running_loop().create_future()
            return self._space
        if self._overflow == "drop_newest":
            self._count_drop()
            return None
        # drop_oldest: drop the oldest *message*; lifecycle items and the
        # pending report are never dropped.
        queue = self._queue
        oldest = queue.popleft()
        if oldest[0].__class__ is not str:
            kept = [oldest]
            while queue:
                item = queue.popleft()
                if item[0].__class__ is not str:
                    kept.append(item)
                    continue
                break
            queue.extendleft(reversed(kept))
        queue.append((name, message))
        self._count_drop()
        if len(queue) - self._lifecycle_queued > counters.queue_peak:
            counters.queue_peak = len(queue) - self._lifecycle_queued
        return None

    def _count_drop(self, channel: str | None = None) -> None:
        """Count one dropped message (of ``channel``, when given) and schedule its report."""
        if channel is not None:
            self._last_dropped_channel = channel
        self._counters.messages_dropped += 1
        self._dropped_unreported += 1
        self._schedule_report(dropped=True)

    def _schedule_report(self, *, dropped: bool) -> None:
        if self._report_pending:
            return
        now = time.monotonic()
        if now - self._last_report < QUEUE_FULL_REPORT_INTERVAL and not (
            dropped and self._dropped_unreported == 1
        ):
            return
        self._report_pending = True
        self._last_report = now
        self._queue.appendleft((_lifecycle_name(QUEUE_FULL), _MARKER))
        self._lifecycle_queued += 1
        self._wake()

    def _make_report(self) -> QueueFull:
        self._report_pending = False
        dropped, self._dropped_unreported = self._dropped_unreported, 0
        self._counters.queue_full_events += 1
        return QueueFull(
            channel=self._last_dropped_channel,
            size=self._queue_size,
            dropped=dropped,
            overflow=self._overflow,
            total_dropped=self._counters.messages_dropped,
        )

    # -- the consumer side -------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        """The dispatcher task: deliver queued items in order, forever."""
        queue = self._queue
        cache = self._cache
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
                    self._idle = loop.create_future()
                    await self._idle
                    last_yield = monotonic()
                    continue
                name, payload = popleft()
                if name.__class__ is str:
                    delivered += 1
                    if not delivered & 15:
                        # Every 16 messages: sample the queue's depth, and let the
                        # reader and the socket run if handlers held the loop for
                        # long (CPU-bound sync handlers never yield by themselves).
                        depth = len(queue) - self._lifecycle_queued + 1
                        if depth > counters.queue_peak:
                            counters.queue_peak = depth
                        now = monotonic()
                        if now - last_yield > YIELD_INTERVAL:
                            await asyncio.sleep(0)
                            last_yield = monotonic()
                else:
                    self._lifecycle_queued -= 1
                    if payload is _MARKER:
                        payload = self._make_report()
                    elif payload.__class__ is _Resume:
                        await self._resume(payload)
                        continue
                    elif payload.__class__ is _Barrier:
                        if not payload.future.done():
                            payload.future.set_result(None)
                        return
                    elif name == ERROR:
                        # Reported through the queue (a bad frame, a failed
                        # function of the user's): logged when nobody listens.
                        await self._report_error(payload)
                        continue
                space = self._space
                if space is not None and len(queue) - self._lifecycle_queued < self._queue_size:
                    self._space = None
                    if not space.done():
                        space.set_result(None)
                handlers = cache.get(name)
                if handlers is None:
                    handlers = self._handlers(name)
                for handler in handlers:
                    try:
                        result = handler(payload)
                        # A sync handler returns None: no awaitable check at all;
                        # an async one returns a coroutine: one class check.
                        if result is not None and (
                            result.__class__ is _Coroutine or _isawaitable(result)
                        ):
                            await result
                    except Exception as exc:  # noqa: BLE001 - a handler never kills delivery
                        await self._handler_failed(name, exc)
        finally:
            counters.messages_delivered += delivered

    async def _resume(self, resume: _Resume) -> None:
        """Finish delivering a message that ``_deliver_now`` began."""
        name = resume.name
        if resume.error is not None:
            await self._handler_failed(name, resume.error)
        elif resume.awaitable is not None:
            try:
                await resume.awaitable
            except Exception as exc:  # noqa: BLE001 - a handler never kills delivery
                await self._handler_failed(name, exc)
        payload = resume.payload
        for handler in resume.handlers[resume.index :]:
            try:
                result = handler(payload)
                if result is not None and _isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - a handler never kills delivery
                await self._handler_failed(name, exc)

    async def _handler_failed(self, name: str, exc: Exception) -> None:
        self._counters.handler_errors += 1
        if name == ERROR:
            logger.error("an 'error' handler raised", exc_info=exc)
            return
        await self._report_error(exc)

    async def _report_error(self, exc: Exception) -> None:
        """Call the ``error`` handlers now (from the dispatcher), or log when there are none."""
        handlers = self._cache.get(ERROR)
        if handlers is None:
            handlers = self._handlers(ERROR)
        if not handlers:
            logger.error("unhandled error (add an 'error' handler to receive it)", exc_info=exc)
            return
        for handler in handlers:
            try:
                result = handler(exc)
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception as inner:
                logger.error("an 'error' handler raised", exc_info=inner)

    def _report_error_sync(self, exc: Exception) -> None:
        """Report an error from outside the dispatcher: through the queue, in order."""
        self._put_lifecycle(ERROR, exc)

    def _put_barrier(self) -> asyncio.Future[None]:
        """Queue the end of delivery; the future is done when the dispatcher reached it."""
        # close() can race the connection's own teardown; a second barrier would
        # sit behind the first (where the dispatcher stops) and wait out close_timeout.
        if self._barrier is None:
            self._barrier = asyncio.get_running_loop().create_future()
            self._put_lifecycle("\x00barrier", _Barrier(self._barrier))
        return self._barrier

    def _drain_remaining(self) -> int:
        """Forget what is still queued at shutdown; returns the messages left undelivered."""
        left = len(self._queue) - self._lifecycle_queued
        self._queue.clear()
        self._lifecycle_queued = 0
        return max(0, left)
