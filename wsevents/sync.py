"""A blocking facade over :class:`wsevents.Connection`, for threaded code (layer L4).

:class:`Connection` here has the same options, events and decorators as the
async one, with blocking calls::

    import wsevents.sync

    ws = wsevents.sync.Connection("wss://stream.example.com/ws", subscriptions=["trades"])

    @ws.on("message:trades")
    def on_trade(msg):                # a plain function, run on the dispatch thread
        ...

    ws.run_forever()                  # or: ws.start() ... ws.close(); or: with ws: ...

Two threads do the work (the "blocking portal" pattern of anyio):

* the **loop thread** runs one asyncio event loop with the async
  :class:`wsevents.Connection` created inside it; the blocking methods submit
  coroutines to it (``send``, ``subscribe``, ``close``, ...) and wait for them,
  each with a ``timeout``.  The engine is never copied: reconnects, policies,
  keepalive and ordered delivery are the async connection's own.
* the **dispatch thread** runs the handlers, one at a time, in the order the
  async connection delivered the events.  Each handler registered here is
  registered on the async connection as a small forwarder that puts
  ``(handler, payload)`` on a bounded hand-off queue; the dispatch thread takes
  them off.  The loop thread never waits for a handler, so a slow handler never
  stops the connection from answering pings: while the hand-off is full, the
  async delivery queue fills up and its ``queue_size``/``overflow`` options
  apply as usual.

Handlers run after the fact: the loop does not wait for them, so unlike the
async connection's, a ``connect`` handler may run when that connection is
already lost again (``disconnect`` follows it, in order).  A handler that
raises goes to the ``error`` handlers (on the dispatch thread), or is logged
when there are none (``stats.handler_errors`` counts only the async side).
Policies, the ``headers`` callable and the protocol run on the loop thread:
keep them short and never call this object's blocking methods from them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Final, TypeVar, overload

from . import Stats
from ._shard import Shard
from .connection import Connection as AsyncConnection
from .events import CLOSED, CONNECT, ERROR, Closed, State
from .exceptions import ConfigError, NotConnected, WSEventsError
from .pool import Pool as AsyncPool, PoolStats
from .routing import Frame


__all__ = ["DEFAULT_TIMEOUT", "HANDOFF_SIZE", "Connection", "Pool"]

logger = logging.getLogger("wsevents")

#: seconds a blocking call waits by default (``timeout=None`` waits without limit)
DEFAULT_TIMEOUT: Final = 10.0
#: events waiting between the loop thread and the dispatch thread, at most
HANDOFF_SIZE: Final = 100
#: how long a ``join`` waits at a time, so Ctrl-C is seen on every platform
_JOIN_SLICE: Final = 0.25

_T = TypeVar("_T")
_H = TypeVar("_H", bound=Callable[..., Any])
_Item = tuple[str, Callable[..., Any], tuple[Any, ...]]


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Handoff:
    """The bounded queue from the loop thread (producer) to the dispatch thread.

    The loop thread must never block on it: when it is full, :meth:`put`
    returns an awaitable that the async dispatcher awaits (the reader and the
    keepalive keep running), and the dispatch thread wakes it after each take.
    """

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.items: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        #: closing: accept everything, the async side's close is bounded anyway
        self.unbounded = False
        #: the dispatch thread is gone, or gave up: drop everything
        self.dead = False
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    def _has_room(self) -> bool:
        return self.unbounded or self.dead or self.items.qsize() < self.bound

    def put(self, item: _Item) -> Awaitable[None] | None:
        """Queue ``item``; from the loop thread, an awaitable when it must wait for room."""
        if self.dead:
            return None
        if self._has_room():
            self.items.put(item)
            return None
        return self._put_when_room(item)

    def put_nowait(self, item: _Item | None) -> None:
        """Queue ``item`` whatever the bound (from threads that must not wait)."""
        self.items.put(item)

    async def _put_when_room(self, item: _Item) -> None:
        loop = asyncio.get_running_loop()
        while not self._has_room():
            waiter = loop.create_future()
            self._waiter = (loop, waiter)
            # Check again after publishing the waiter: a take that happened
            # before it was published did not see it.
            if self._has_room():
                break
            try:
                await waiter
            finally:
                self._waiter = None
        if not self.dead:
            self.items.put(item)

    def get(self) -> _Item | None:
        """Take the next item (blocking); None means stop."""
        item = self.items.get()
        self.wake()
        return item

    def wake(self) -> None:
        """Wake a producer waiting for room (from any thread)."""
        pending, self._waiter = self._waiter, None
        if pending is not None:
            loop, waiter = pending
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:
                pass  # the loop is closed: nobody waits any more


class _Boot:
    """How the loop thread tells ``__init__`` that the async connection exists."""

    __slots__ = ("error", "ready")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.error: Exception | None = None


class _Forward:
    """What the facade registers on the async connection for one handler.

    Called by the async dispatcher (on the loop thread), it hands
    ``(handler, payload)`` over to the dispatch thread.  It compares equal to
    any other forwarder of the same handler, so pyee's registry (a dict keyed by
    listener) keeps its exact behaviour: registering a function twice keeps one
    entry, and ``remove_listener`` finds it.
    """

    __slots__ = ("event", "handler", "owner")

    def __init__(self, event: str, handler: Callable[..., Any], owner: Connection) -> None:
        self.event = event
        self.handler = handler
        self.owner = owner

    def __call__(self, *args: Any) -> Awaitable[None] | None:
        owner = self.owner
        ident = threading.get_ident()
        if ident == owner._dispatch_ident:
            # Re-emitted from the dispatch thread (a handler's error): run now, in place.
            owner._run_handler(self.event, self.handler, args)
            return None
        if ident == owner._loop_ident:
            return owner._handoff.put((self.event, self.handler, args))
        owner._handoff.put_nowait((self.event, self.handler, args))
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Forward):
            return NotImplemented
        return bool(self.handler == other.handler)

    def __hash__(self) -> int:
        return hash((_Forward, self.handler))

    def __repr__(self) -> str:
        return f"<forward {self.event!r} to {self.handler!r}>"


class Connection:
    """A blocking :class:`wsevents.Connection`: one loop thread, one dispatch thread.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        options: the keyword options of :class:`wsevents.Connection`
            (``protocol``, ``subscriptions``, ``backoff``, ``ping_interval``, ...),
            passed through unchanged and validated by it.

    Raises:
        ConfigError: a bad option, naming it and its value.

    Handlers are plain functions (coroutine functions are refused); they run
    on the dispatch thread, one at a time, in delivery order.  Every blocking
    method takes ``timeout`` (seconds; None waits without limit) and raises
    :exc:`TimeoutError` when it expires.  The threads start with the object;
    :meth:`close` (or the ``with`` block, or :meth:`run_forever` returning)
    ends both.

    .. versionadded:: 0.1
    """

    def __init__(self, url: str, **options: Any) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._handoff = _Handoff(HANDOFF_SIZE)
        self._started = False
        self._close_requested = False
        self._finished = False
        self._closed_event: Closed | None = None
        self._fatal: BaseException | None = None
        self._loop_ident: int | None = None
        self._dispatch_ident: int | None = None
        self._calls: set[asyncio.Task[Any]] = set()
        self._command: asyncio.Future[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: AsyncConnection | AsyncPool | None = None
        boot = _Boot()
        self._loop_thread = threading.Thread(
            target=self._loop_main,
            args=(url, options, boot),
            name="wsevents-loop",
            daemon=True,
        )
        self._dispatch_thread = threading.Thread(
            target=self._dispatch_main, name="wsevents-dispatch", daemon=True
        )
        self._loop_thread.start()
        if not boot.ready.wait(DEFAULT_TIMEOUT):  # pragma: no cover - a starved machine
            raise TimeoutError("the wsevents event-loop thread did not start")
        if boot.error is not None:
            self._loop_thread.join(DEFAULT_TIMEOUT)
            raise boot.error
        self._dispatch_thread.start()

    # -- introspection ------------------------------------------------------------

    @property
    def _engine(self) -> AsyncConnection | AsyncPool:
        conn = self._conn
        assert conn is not None
        return conn

    @property
    def url(self) -> str:
        """The URL connected to."""
        return self._engine.url

    @property
    def state(self) -> State:
        """Where the connection is in its lifecycle."""
        return self._engine.state

    @property
    def stats(self) -> Stats:
        """A frozen snapshot of the counters (read without stopping the loop)."""
        return self._engine.stats

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The channels subscribed on every connect."""
        return self._engine.subscriptions

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._engine.connected

    def __repr__(self) -> str:
        return f"<wsevents.sync.{type(self).__name__} of {self._engine!r}>"

    # -- handlers (pyee's registry, on the async connection) ---------------------

    @overload
    def on(self, event: str) -> Callable[[_H], _H]: ...

    @overload
    def on(self, event: str, f: _H) -> _H: ...

    def on(self, event: str, f: _H | None = None) -> _H | Callable[[_H], _H]:
        """Register the plain function ``f`` for ``event``; without ``f``, a decorator.

        Raises:
            ConfigError: ``f`` is not callable, or is a coroutine function.
        """

        def register(handler: _H) -> _H:
            self._engine.on(event, self._forward(event, handler))
            return handler

        return register if f is None else register(f)

    @overload
    def once(self, event: str) -> Callable[[_H], _H]: ...

    @overload
    def once(self, event: str, f: _H) -> _H: ...

    def once(self, event: str, f: _H | None = None) -> _H | Callable[[_H], _H]:
        """Like :meth:`on`, but the handler is removed after its first call."""

        def register(handler: _H) -> _H:
            self._engine.once(event, self._forward(event, handler))
            return handler

        return register if f is None else register(f)

    def remove_listener(self, event: str, f: Callable[..., Any]) -> None:
        """Remove the handler ``f`` of ``event`` (as pyee does)."""
        self._engine.remove_listener(event, _Forward(event, f, self))

    def remove_all_listeners(self, event: str | None = None) -> None:
        """Remove every handler of ``event`` (of every event when None)."""
        names = [event] if event is not None else list(self._engine.event_names())
        for name in names:
            for listener in self._engine.listeners(name):
                if isinstance(listener, _Forward):
                    self._engine.remove_listener(name, listener)

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The handlers registered for ``event``, in order."""
        return [
            listener.handler
            for listener in self._engine.listeners(event)
            if isinstance(listener, _Forward)
        ]

    def event_names(self) -> set[str]:
        """The events that have at least one handler."""
        return {name for name in self._engine.event_names() if self.listeners(name)}

    def _forward(self, event: str, handler: Callable[..., Any]) -> _Forward:
        name: object = event
        if not isinstance(name, str) or not name:
            raise ConfigError("event", event, "must be an event name")
        if not callable(handler):
            raise ConfigError("handler", handler, "must be callable")
        if inspect.iscoroutinefunction(handler):
            raise ConfigError(
                "handler",
                handler,
                "must be a plain function: wsevents.sync runs handlers on a thread "
                "(use wsevents.Connection for async handlers)",
            )
        return _Forward(event, handler, self)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background and return at once.

        Idempotent until the connection is closed.

        Raises:
            WSEventsError: the connection was closed.
        """
        with self._lock:
            if self._close_requested or self._finished:
                raise WSEventsError("the connection is closed")
            if self._started:
                return
            self._started = True
        self._send_command("start")

    def run_forever(self, timeout: float | None = None) -> None:
        """Start if needed, then block until the connection is closed for good.

        Returns when :meth:`close` was called (from a handler or another thread).
        On ``KeyboardInterrupt`` the connection is closed and the interrupt re-raised.

        Args:
            timeout: seconds to wait (None: until closed).

        Raises:
            ConnectError: the fatal error that ended the connection
                (:class:`~wsevents.HandshakeRejected`, :class:`~wsevents.ReconnectExhausted`).
            TimeoutError: still running after ``timeout`` (it keeps running).
        """
        self._check_thread("run_forever()", dispatch_too=True)
        with self._lock:
            start = not self._started and not self._close_requested and not self._finished
        if start:
            self.start()
        deadline = _deadline(timeout)
        try:
            _join(self._loop_thread, deadline)
            _join(self._dispatch_thread, deadline)
        except KeyboardInterrupt:
            self.close()
            raise
        if self._dispatch_thread.is_alive():
            raise TimeoutError(f"run_forever(): still running after {timeout} s")
        if self._fatal is not None:
            raise self._fatal

    def wait_connected(self, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Block until a connection is open.

        Raises:
            TimeoutError: not connected within ``timeout``.
            ConnectError: the connection ended with this fatal error.
            WSEventsError: the connection was closed, or never started.
        """
        self._check_thread("wait_connected()")
        if not self._started:
            raise WSEventsError("wait_connected(): call start() first")
        conn = self._engine

        def ready() -> bool:
            return conn.state is State.CONNECTED or self._closed_event is not None or (
                self._finished
            )

        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"wait_connected(): not connected after {timeout} s")
        if conn.state is State.CONNECTED:
            return
        if self._fatal is not None:
            raise self._fatal
        closed = self._closed_event
        if closed is not None and closed.error is not None:
            raise closed.error
        raise WSEventsError("wait_connected(): the connection is closed")

    def close(self, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Close for good and end both threads.  Idempotent, callable from any thread.

        From a handler (the dispatch thread) it returns once the event loop is
        closed; the dispatch thread then delivers what was queued before the
        close (``disconnect`` and ``closed`` last) and ends when the handler
        returns.

        Raises:
            TimeoutError: a thread is still running after ``timeout``; a
                handler that is still running is left to finish, and the
                events queued behind it are dropped.
        """
        self._check_thread("close()")
        deadline = _deadline(timeout)
        with self._lock:
            self._close_requested = True
            started = self._started
        # The loop thread must not wait for a dispatch thread that is stuck
        # in this very call (or in a slow handler) while it shuts down.
        self._handoff.unbounded = True
        self._handoff.wake()
        if started:
            try:
                self._submit(self._engine.close)
            except NotConnected:
                pass  # the loop is already gone
        else:
            self._send_command("close")
        _join(self._loop_thread, deadline)
        if self._loop_thread.is_alive():
            raise TimeoutError(f"close(): the event loop is still closing after {timeout} s")
        if threading.get_ident() == self._dispatch_ident:
            return
        _join(self._dispatch_thread, deadline)
        if self._dispatch_thread.is_alive():
            self._handoff.dead = True
            raise TimeoutError(
                f"close(): a handler is still running after {timeout} s; "
                "the events queued behind it are dropped"
            )

    def __enter__(self) -> Connection:
        self.start()
        try:
            self.wait_connected()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls into the loop ---------------------------------------------------------

    def send(self, message: Frame, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Send now: dict/list → JSON text, str → text, bytes → binary.  Any thread.

        Raises:
            NotConnected: there is no open connection.
            TimeoutError: not sent within ``timeout``.
        """
        self._call(functools.partial(self._engine.send, message), timeout, "send()")

    def request(self, frame: Frame, timeout: float = 10.0) -> Any:
        """Send ``frame`` as a request and return its reply (see the async method).
        Any thread; blocks at most about ``timeout`` seconds.

        Raises:
            NotConnected, RequestError, TimeoutError, ConnectionLost, ConfigError.
        """
        return self._call(
            functools.partial(self._engine.request, frame, timeout), timeout + 1.0, "request()"
        )

    def subscribe(self, *channels: str, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Add channels to the subscription set (restored on every reconnect)."""
        self._call(functools.partial(self._engine.subscribe, *channels), timeout, "subscribe()")

    def unsubscribe(self, *channels: str, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Remove channels from the subscription set; unsubscribe now if connected."""
        self._call(
            functools.partial(self._engine.unsubscribe, *channels), timeout, "unsubscribe()"
        )

    def request_disconnect(
        self, reconnect_after: float | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        """Disconnect now, on purpose, and stay PAUSED (see the async method)."""
        self._call(
            functools.partial(self._engine.request_disconnect, reconnect_after),
            timeout,
            "request_disconnect()",
        )

    def resume(self, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Reconnect now from PAUSED (or cut a pending backoff wait short)."""
        self._call(self._engine.resume, timeout, "resume()")

    def _call(
        self,
        factory: Callable[[], Coroutine[Any, Any, _T]],
        timeout: float | None,
        what: str,
    ) -> _T:
        """Run ``factory()`` on the loop and wait for its result, at most ``timeout``."""
        self._check_thread(what)
        future = self._submit(factory)
        done, _ = concurrent.futures.wait([future], timeout)
        if not done:
            future.cancel()
            raise TimeoutError(f"{what} did not complete within {timeout} s")
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise NotConnected(f"{what}: the connection was closed meanwhile") from None

    def _submit(
        self, factory: Callable[[], Coroutine[Any, Any, _T]]
    ) -> concurrent.futures.Future[_T]:
        """Start ``factory()`` as a task on the loop; the coroutine is made there.

        Making the coroutine on the loop (not here) means that a call which
        never runs (the loop closed meanwhile) leaves no un-awaited coroutine.
        """
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        loop = self._loop
        assert loop is not None

        def begin() -> None:
            if future.cancelled():
                return
            if self._finished:
                future.set_exception(NotConnected("the connection is closed"))
                return
            task = loop.create_task(factory(), name="wsevents-sync-call")
            self._calls.add(task)
            task.add_done_callback(functools.partial(self._call_done, future))
            future.add_done_callback(functools.partial(_cancel_task, loop, task))

        try:
            loop.call_soon_threadsafe(begin)
        except RuntimeError:
            raise NotConnected("the connection is closed") from None
        return future

    def _call_done(self, future: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
        self._calls.discard(task)
        try:
            if task.cancelled():
                future.cancel()
            elif task.exception() is not None:
                future.set_exception(task.exception())
            else:
                future.set_result(task.result())
        except concurrent.futures.InvalidStateError:
            pass  # the caller gave up meanwhile (timeout)

    def _send_command(self, command: str) -> None:
        loop, waiter = self._loop, self._command

        def deliver() -> None:
            if waiter is not None and not waiter.done():
                waiter.set_result(command)

        if loop is not None:
            try:
                loop.call_soon_threadsafe(deliver)
            except RuntimeError:
                pass  # the loop is closed: nothing left to start or close

    def _check_thread(self, what: str, *, dispatch_too: bool = False) -> None:
        ident = threading.get_ident()
        if ident == self._loop_ident:
            raise RuntimeError(
                f"{what} called on the wsevents event-loop thread (from a policy, "
                "the headers callable or the protocol): it would wait for itself"
            )
        if dispatch_too and ident == self._dispatch_ident:
            raise RuntimeError(f"{what} called from a handler: it would wait for itself")

    # -- the loop thread ------------------------------------------------------------

    def _loop_main(self, url: str, options: dict[str, Any], boot: _Boot) -> None:
        self._loop_ident = threading.get_ident()
        try:
            asyncio.run(self._serve(url, options, boot))
        except Exception:  # pragma: no cover - a bug in the facade itself
            logger.exception("wsevents.sync: the event-loop thread failed")
        finally:
            self._finished = True
            boot.ready.set()
            # Everything the async connection delivered is queued before this.
            self._handoff.put_nowait(None)
            with self._changed:
                self._changed.notify_all()

    async def _serve(self, url: str, options: dict[str, Any], boot: _Boot) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            # Made inside the loop it will run on.
            conn = self._make_engine(url, options)
        except Exception as exc:  # noqa: BLE001 - re-raised by __init__ in the caller's thread
            boot.error = exc
            boot.ready.set()
            return
        self._conn = conn
        conn.on(CONNECT, self._notify)
        conn.on(CLOSED, self._on_closed)
        command = self._command = self._loop.create_future()
        boot.ready.set()
        try:
            if await command == "start" and not self._close_requested:
                try:
                    await conn.run()
                except Exception as exc:  # noqa: BLE001 - re-raised by run_forever()
                    self._fatal = exc
            else:
                await conn.close()
        finally:
            self._finished = True
            calls = set(self._calls)
            if calls:
                _, pending = await asyncio.wait(calls, timeout=1.0)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=1.0)

    def _make_engine(self, url: str, options: dict[str, Any]) -> AsyncConnection | AsyncPool:
        return AsyncConnection(url, **options)

    def _notify(self, _payload: object) -> None:
        with self._changed:
            self._changed.notify_all()

    def _on_closed(self, event: Closed) -> None:
        self._closed_event = event
        self._notify(event)

    # -- the dispatch thread --------------------------------------------------------

    def _dispatch_main(self) -> None:
        self._dispatch_ident = threading.get_ident()
        handoff = self._handoff
        try:
            while True:
                item = handoff.get()
                if item is None:
                    return
                if handoff.dead:
                    continue
                event, handler, args = item
                self._run_handler(event, handler, args)
        finally:
            handoff.dead = True
            handoff.wake()

    def _run_handler(self, event: str, handler: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError(
                    f"the {event!r} handler {handler!r} returned an awaitable: "
                    "wsevents.sync runs plain functions"
                )
        except Exception as exc:  # a handler never kills delivery
            if event == ERROR:
                logger.error("an 'error' handler raised", exc_info=exc)
                return
            try:
                # pyee's own emit, so once() error handlers behave as in pyee;
                # the forwarders run them right here, on the dispatch thread.
                self._engine.emit(ERROR, exc)
            except Exception as unhandled:  # pyee raises the error when it is unhandled
                logger.error(
                    "unhandled error in a %r handler (add an 'error' handler to receive it)",
                    event,
                    exc_info=unhandled,
                )


def _cancel_task(
    loop: asyncio.AbstractEventLoop,
    task: asyncio.Task[Any],
    future: concurrent.futures.Future[Any],
) -> None:
    if future.cancelled():
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:
            pass  # the loop is closed: the task is gone


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _join(thread: threading.Thread, deadline: float | None) -> None:
    """Join ``thread`` until ``deadline`` (monotonic; None: no limit), in short slices."""
    if thread.ident is None or thread is threading.current_thread():
        return
    while thread.is_alive():
        if deadline is None:
            thread.join(_JOIN_SLICE)
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            return
        thread.join(min(left, _JOIN_SLICE))


class Pool(Connection):
    """A blocking :class:`wsevents.Pool`: the same threads, calls and decorators as
    :class:`Connection`, over a pool of shards.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        options: the keyword options of :class:`wsevents.Pool` (``max_channels``,
            ``max_connections``, ``recycle_spacing``, and every ``Connection`` option).

    Raises:
        ConfigError: a bad option, naming it and its value.
        PoolFull: ``subscriptions`` need more than ``max_connections`` shards.

    .. versionadded:: 0.2
    """

    def _make_engine(self, url: str, options: dict[str, Any]) -> AsyncPool:
        return AsyncPool(url, **options)

    @property
    def _pool(self) -> AsyncPool:
        engine = self._engine
        assert isinstance(engine, AsyncPool)
        return engine

    @property
    def stats(self) -> PoolStats:
        """The shards' counters summed, and each shard's (see ``wsevents.Pool.stats``)."""
        return self._pool.stats

    @property
    def shards(self) -> tuple[Shard, ...]:
        """The open shards (read-only)."""
        return self._pool.shards

    def shard_of(self, channel: str) -> Shard:
        """The shard carrying ``channel`` (KeyError: none does)."""
        return self._pool.shard_of(channel)

    def send(
        self, message: Frame, *, shard: int | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        """Send on one shard (default: the least-loaded connected one).  Any thread."""
        self._call(functools.partial(self._pool.send, message, shard=shard), timeout, "send()")

    def rebalance(self, *, timeout: float | None = DEFAULT_TIMEOUT) -> int:
        """Even out the shards, make-before-break; the number of channels moved."""
        return self._call(self._pool.rebalance, timeout, "rebalance()")
