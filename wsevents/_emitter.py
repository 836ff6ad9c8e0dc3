"""The event registry: pyee's ``EventEmitter`` with a cached handler lookup (L3).

:class:`Emitter` is the base of :class:`wsevents.Connection` (and of every other
object that delivers wsevents' events).  Registration (``on``, ``once``,
``remove_listener``, ``listeners``, ``event_names``) is pyee's own; what this
module adds is the lookup the delivery path uses:

* :meth:`Emitter.handlers` gives the handler tuple of an event name, cached;
  for ``message:<channel>`` the ``message`` handlers come first.  The cache is
  cleared by pyee's own add and remove hooks, so it is always exact;
* :meth:`Emitter.inline_handlers` is the same tuple when every handler is a
  plain function (delivery may then call them from a transport callback);
* observers (:meth:`Emitter.add_observer`) follow every delivered event.

The emitter does not deliver anything itself: a
:class:`~wsevents._delivery.Dispatcher` does, in order.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from pyee.base import EventEmitter

from .events import MESSAGE, MESSAGE_PREFIX


__all__ = ["NOT_INLINE", "Emitter", "Handlers"]

logger = logging.getLogger("wsevents")

Handlers = tuple[Callable[..., Any], ...]
_NO_HANDLERS: Final[Handlers] = ()


def _not_inline(_payload: Any) -> None:  # pragma: no cover - never called
    raise AssertionError


#: :meth:`Emitter.inline_handlers` for an event whose handlers must run in the
#: dispatcher (compared by identity)
NOT_INLINE: Final[Handlers] = (_not_inline,)


def _is_async(handler: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.isasyncgenfunction(handler)


class Emitter(EventEmitter):
    """A pyee ``EventEmitter`` whose handler tuples are cached per event name.

    .. versionadded:: 0.2
    """

    # Slots: an idle connection's attributes cost 8 bytes each instead of a large
    # instance dict (pyee's own attributes stay in the dict).
    __slots__ = ("_cache", "_error_sink", "_inline_cache", "_observers", "_pending_tasks")

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str, Handlers] = {}
        #: handler tuples without a coroutine function (or NOT_INLINE)
        self._inline_cache: dict[str, Handlers] = {}
        #: callbacks ``(event name, payload)`` called after every delivered event's handlers
        self._observers: Handlers = ()
        self._pending_tasks: set[asyncio.Task[Any]] | None = None
        #: where errors of handlers run by a direct ``emit()`` go (set by delivery)
        self._error_sink: Callable[[Exception], None] | None = None

    # -- pyee registry hooks: keep the caches exact --------------------------------

    def _add_event_handler(self, event: str, k: Callable[..., Any], v: Callable[..., Any]) -> None:
        super()._add_event_handler(event, k, v)
        with self._lock:
            self._forget()

    def _remove_listener(self, event: str, f: Callable[..., Any]) -> None:
        # Called with self._lock held (pyee's "naked" removal, once() included).
        super()._remove_listener(event, f)
        self._forget()

    def remove_all_listeners(self, event: str | None = None) -> None:
        """Remove every listener of ``event`` (of every event when None), as in pyee."""
        super().remove_all_listeners(event)
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._cache.clear()
        self._inline_cache.clear()

    # -- observers -------------------------------------------------------------------

    def add_observer(self, observer: Callable[[str, Any], Any]) -> None:
        """Call ``observer(event_name, payload)`` for every event this emitter delivers.

        A low-level hook for components that follow everything a connection
        delivers (a publisher onto a message bus, a recorder): it is called in
        delivery order, after the event's own handlers, with the same rules (an
        awaitable it returns is awaited; what it raises goes to ``error``).
        ``message:<channel>`` names carry the channel.  It costs nothing per
        message when no observer is added; adding one that was added already
        does nothing.

        Raises:
            TypeError: ``observer`` is not callable.
        """
        if not callable(observer):
            raise TypeError("observer must be callable")
        with self._lock:
            if observer in self._observers:
                return  # added already (a recorder shared by a pool's shards)
            self._observers = (*self._observers, observer)
            self._forget()

    def remove_observer(self, observer: Callable[[str, Any], Any]) -> None:
        """Stop calling ``observer`` (no error if it was not added)."""
        with self._lock:
            self._observers = tuple(o for o in self._observers if o is not observer)
            self._forget()

    def route_errors_to(self, sink: Callable[[Exception], None]) -> None:
        """Where the errors of async handlers run by a direct ``emit()`` go (delivery's
        ``report_error``); logged when unset."""
        self._error_sink = sink

    # -- the lookup ------------------------------------------------------------------

    @property
    def handler_cache(self) -> Mapping[str, Handlers]:
        """The cache behind :meth:`handlers` (read-only; the same mapping for the
        emitter's life, so a delivery loop may keep a reference to its ``get``)."""
        return self._cache

    @property
    def inline_cache(self) -> Mapping[str, Handlers]:
        """The cache behind :meth:`inline_handlers` (read-only, the same mapping for
        the emitter's life)."""
        return self._inline_cache

    def handlers(self, name: str) -> Handlers:
        """The handlers of ``name`` (``message`` ones first for ``message:<ch>``), cached."""
        found = self._cache.get(name)
        if found is None:
            with self._lock:
                found = self._cache[name] = self._lookup(name)
        return found

    def inline_handlers(self, name: str) -> Handlers:
        """The handlers of ``name`` if none is a coroutine function, else :data:`NOT_INLINE`."""
        found = self._inline_cache.get(name)
        if found is None:
            with self._lock:
                handlers = self._lookup(name)
                found = NOT_INLINE if any(map(_is_async, handlers)) else handlers
                self._inline_cache[name] = found
        return found

    def demote(self, name: str) -> None:
        """A handler of ``name`` returned an awaitable: never run it inline again."""
        self._inline_cache[name] = NOT_INLINE

    def _lookup(self, name: str) -> Handlers:
        # with self._lock held
        events = self._events
        found = tuple(events[name].values()) if name in events else _NO_HANDLERS
        if name.startswith(MESSAGE_PREFIX) and MESSAGE in events:
            found = tuple(events[MESSAGE].values()) + found
        if self._observers:
            found += tuple(functools.partial(observer, name) for observer in self._observers)
        return found

    # -- direct emit() ------------------------------------------------------------------

    def _emit_run(
        self, f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        # Only reached through a direct ``emit()`` call by user code (wsevents'
        # own events go through the delivery queue).  An async handler's
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
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, Exception):
            sink = self._error_sink
            if sink is not None:
                sink(exc)
            else:
                logger.error("an async handler of emit() raised", exc_info=exc)
