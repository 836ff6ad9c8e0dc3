"""`BookKeeper`: order books kept from a connection's depth channels (layer L3).

The asyncio side of the synchroniser: it listens on ``message:<channel>``
through the connection's public API, runs one :class:`~._sync.SymbolSync` per
symbol, runs the user's ``snapshot(symbol)`` coroutine as one task per resync
(one symbol's resync never pauses another's updates), and emits on the
connection itself: ``book:<symbol>`` (:class:`BookUpdate`), ``resync``
(:class:`Resync`) and ``synced`` (:class:`Synced`).

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import operator
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import attrs
from pyee.base import EventEmitter

from ..backoff import Backoff, ExponentialBackoff
from ..connection import Connection
from ..events import (
    CLOSED,
    CONNECT,
    DISCONNECT,
    ERROR,
    MESSAGE_PREFIX,
    Connected,
    Disconnected,
    DisconnectReason as _Reason,
)
from ..exceptions import ConfigError, NotConnected
from ._book import OrderBook
from ._events import BOOK_PREFIX, RESYNC, SYNCED, BookUpdate, ResyncReason
from ._sync import APPLIED, NOTHING, BookState, Step, SymbolSync
from ._venue import BookError, Snapshot, Venue, plain_diff_keys


__all__ = ["BookKeeper", "SnapshotFunction"]

logger = logging.getLogger("wsevents.book")

#: ``async snapshot(symbol) -> reply``: a REST depth reply (or a :class:`Snapshot`),
#: or ``None`` when it asked the venue to send one on the socket.
SnapshotFunction = Callable[[str], Awaitable[Any]]

#: a named tuple from one tuple of its fields, without the ``__new__`` frame
_new_tuple = tuple.__new__

#: Disconnects after which no update was missed.
_NO_LOSS = (_Reason.HANDOVER, _Reason.SHUTDOWN)


class BookKeeper(EventEmitter):
    """Keeps one :class:`OrderBook` per symbol of a connection's depth channels,
    never silently wrong.

    Every book is SYNCING until a snapshot makes it LIVE (``synced``); any gap,
    checksum mismatch, crossed book, bad level, buffer overflow or lost
    connection sends that symbol alone back to SYNCING (``resync``, with the
    reason) and fetches a new snapshot.  ``book:<symbol>`` fires for every
    update applied to a LIVE book, and never otherwise.

    The keeper is a pyee ``EventEmitter``: ``@books.on("book:BTCUSDT")``,
    ``books.on("resync", f)``, ``once``, ``remove_listener`` as in pyee.  Its
    handlers run from the connection's message handler, in order with the
    messages: a plain function at once, and an awaitable a handler returns
    (a coroutine function's) is awaited before the next message, as the
    connection does.  What a handler raises, and every bad message or failed
    snapshot, is an ``error`` event *of the connection*; the keeper goes on.

    Prefer ``overflow="block"`` for a connection that carries books: a message
    its delivery queue drops is a gap here, and a resync.

    Args:
        ws: The connection (its subscriptions bring the depth channels).
        venue: The venue's rules (:data:`~wsevents.book.BINANCE_SPOT`,
            :data:`~wsevents.book.BYBIT`, :data:`~wsevents.book.OKX`, ...).
        channels: The channels whose messages are book updates (the names of
            their ``message:<channel>`` events).
        snapshot: ``async snapshot(symbol)``: for REST venues (Binance), return
            the decoded depth reply; for socket venues (Bybit, OKX), ask the
            venue for a new snapshot and return ``None`` (by default the keeper
            unsubscribes and subscribes the symbol's channel again).
        max_buffer: The most updates buffered per symbol during a snapshot.
        snapshot_timeout: Seconds a snapshot may take (the coroutine, or the
            socket snapshot after a request) before it is asked for again.
        backoff: Delays between snapshot attempts within one resync (a failed
            fetch, a snapshot older than the buffered updates).
        clock: Monotonic seconds, for :attr:`Synced.duration`.

    Raises:
        ConfigError: A REST venue without ``snapshot``, no channel, or a bad
            ``max_buffer`` or ``snapshot_timeout``.
    """

    def __init__(
        self,
        ws: Connection,
        venue: Venue,
        *,
        channels: Iterable[str],
        snapshot: SnapshotFunction | None = None,
        max_buffer: int = 5000,
        snapshot_timeout: float = 10.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        channels = [channels] if isinstance(channels, str) else list(channels)
        if not channels or not all(isinstance(c, str) and c for c in channels):
            raise ConfigError("channels", channels, "one or more channel names")
        if snapshot is None and not venue.socket_snapshots:
            raise ConfigError("snapshot", None, f"{venue.name} books need a snapshot coroutine")
        if snapshot is not None and not callable(snapshot):
            raise ConfigError("snapshot", snapshot, "must be an async callable")
        if isinstance(max_buffer, bool) or not isinstance(max_buffer, int) or max_buffer < 1:
            raise ConfigError("max_buffer", max_buffer, "a positive integer")
        if (
            isinstance(snapshot_timeout, bool)
            or not isinstance(snapshot_timeout, (int, float))
            or not 0 < snapshot_timeout < float("inf")
        ):
            raise ConfigError("snapshot_timeout", snapshot_timeout, "a positive number of seconds")
        super().__init__()
        #: event name -> its handlers, refreshed whenever a listener is added or removed
        self._cache: dict[str, tuple[Callable[..., Any], ...]] = {}
        self._ws = ws
        self._venue = venue
        self._parse = venue.parse
        keys = plain_diff_keys(venue)
        #: reads a plain diff's fields in one call (``Venue.diff_keys``), or ``None``
        self._fields: Callable[[Any], tuple[Any, ...]] | None = None
        #: whether ``_fields`` reads a previous id
        self._with_prev = False
        if keys is not None:
            symbol, first, last, prev, bids, asks = keys
            self._with_prev = prev is not None
            middle = () if prev is None else (prev,)
            self._fields = operator.itemgetter(symbol, first, last, *middle, bids, asks)
        self._channels = tuple(channels)
        self._snapshot = snapshot
        self._max_buffer = max_buffer
        self._snapshot_timeout = float(snapshot_timeout)
        #: symbol -> resolved when it is synced (a socket snapshot that was asked for)
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._backoff = backoff if backoff is not None else ExponentialBackoff(
            initial=0.1, maximum=5.0
        )
        self._clock = clock
        self._syncs: dict[str, SymbolSync] = {}
        self._channel_of: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._fetches: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        self._attached: list[tuple[str, Callable[..., Any]]] = [
            (f"{MESSAGE_PREFIX}{c}", functools.partial(self._on_message, c)) for c in channels
        ]
        self._attached += [
            (DISCONNECT, self._on_disconnect),
            (CONNECT, self._on_connect),
            (CLOSED, self._on_closed),
        ]
        for name, handler in self._attached:
            ws.on(name, handler)

    def __repr__(self) -> str:
        live = sum(s.state is BookState.LIVE for s in self._syncs.values())
        return f"<BookKeeper {self._venue.name} {live}/{len(self._syncs)} live>"

    # -- pyee registry hooks: keep the handler cache exact ---------------------------

    def _add_event_handler(self, event: str, k: Callable[..., Any], v: Callable[..., Any]) -> None:
        super()._add_event_handler(event, k, v)
        with self._lock:
            self._cache.clear()

    def _remove_listener(self, event: str, f: Callable[..., Any]) -> None:
        # Called with self._lock held (pyee's "naked" removal, once() included).
        super()._remove_listener(event, f)
        self._cache.clear()

    def remove_all_listeners(self, event: str | None = None) -> None:
        """Remove every listener of ``event`` (of every event when None), as in pyee."""
        super().remove_all_listeners(event)
        with self._lock:
            self._cache.clear()

    def _handlers(self, name: str) -> tuple[Callable[..., Any], ...]:
        with self._lock:
            events = self._events
            found = self._cache[name] = tuple(events[name].values()) if name in events else ()
        return found

    # -- reading --------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols seen so far, in order of first appearance."""
        return tuple(self._syncs)

    def book(self, symbol: str) -> OrderBook | None:
        """The book of ``symbol`` (empty while SYNCING), or ``None`` if never seen."""
        sync = self._syncs.get(symbol)
        return None if sync is None else sync.book

    def state(self, symbol: str) -> BookState | None:
        """Whether ``symbol``'s book is LIVE or SYNCING, ``None`` if never seen."""
        sync = self._syncs.get(symbol)
        return None if sync is None else sync.state

    # -- control --------------------------------------------------------------------

    async def resync(self, symbol: str) -> None:
        """Rebuild ``symbol``'s book from a new snapshot (reason ``REQUESTED``);
        returns once the ``resync`` handlers ran.

        Raises:
            KeyError: ``symbol`` was never seen.
        """
        sync = self._syncs[symbol]
        await self._settle(self._carry_out(sync, sync.start(ResyncReason.REQUESTED, self._clock())))

    async def aclose(self) -> None:
        """Stop: remove the keeper's handlers from the connection and cancel (and
        await) its snapshot tasks.  Closing the connection cancels the tasks too."""
        self._closed = True
        for name, handler in self._attached:
            self._ws.remove_listener(name, handler)
        self._attached = []
        await self._cancel_all()

    async def __aenter__(self) -> BookKeeper:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- connection handlers --------------------------------------------------------

    def _on_message(self, channel: str, message: Any) -> Awaitable[None] | None:
        fields = self._fields
        got = None
        if fields is not None:
            try:
                got = fields(message)
            except (KeyError, TypeError, IndexError):
                pass  # parse() names what is missing
        if got is None:
            symbol, is_snapshot, first, last, prev, bids, asks, checksum = self._parse(message)
        else:
            is_snapshot = False
            checksum = None
            if self._with_prev:
                symbol, first, last, prev, bids, asks = got
            else:
                symbol, first, last, bids, asks = got
                prev = None
        sync = self._syncs.get(symbol)
        if sync is None or is_snapshot:
            return self._other_message(
                sync, symbol, channel, is_snapshot, (first, last, prev, bids, asks, checksum)
            )
        step = sync.update(first, last, prev, bids, asks, checksum, self._clock())
        if step is not APPLIED:
            return None if step is NOTHING else self._carry_out(sync, step)
        # The path of every diff of a LIVE book: one handler called directly.
        name = self._names[symbol]
        handlers = self._cache.get(name)
        if handlers is None:
            handlers = self._handlers(name)
        if not handlers:
            return None
        payload = _new_tuple(BookUpdate, (symbol, sync.book, last, bids, asks, False))
        errors: list[Exception]
        if len(handlers) == 1:
            result = handlers[0](payload)  # what it raises is the connection's error event
            if result is None or not inspect.isawaitable(result):
                return None
            errors = []
            return self._rest(self._finish(result, (), payload, errors), [], errors)
        errors = []
        pending = self._fire(handlers, payload, errors)
        if pending is not None:
            return self._rest(pending, [], errors)
        if errors:
            raise self._first(errors)
        return None

    def _other_message(
        self,
        sync: SymbolSync | None,
        symbol: str,
        channel: str,
        is_snapshot: bool,
        update: tuple[int, int, int | None, Sequence[Any], Sequence[Any], int | None],
    ) -> Awaitable[None] | None:
        """A symbol's first message, or a snapshot on the socket."""
        first, last, prev, bids, asks, checksum = update
        start = None
        if sync is None:
            sync, start = self._new(symbol, channel, is_snapshot)
        if is_snapshot:
            step = sync.snapshot(Snapshot(last, bids, asks), self._clock(), checksum=checksum)
        else:
            step = sync.update(first, last, prev, bids, asks, checksum, self._clock())
        if start is not None:
            return self._carry_out(sync, start, step)
        return self._carry_out(sync, step)

    def _on_disconnect(self, event: Disconnected) -> Awaitable[None] | None:
        if event.reason in _NO_LOSS:
            return None
        now = self._clock()
        pendings: list[Awaitable[None]] = []
        for sync in self._syncs.values():
            self._cancel_fetch(sync.symbol)
            step = sync.start(ResyncReason.DISCONNECT, now, detail=event.reason.value)
            # Fetched once connected again: a snapshot taken now would be older
            # than the updates of the next connection.
            pending = self._carry_out(sync, attrs.evolve(step, fetch=False))
            if pending is not None:
                pendings.append(pending)
        return self._chain(pendings) if pendings else None

    def _on_connect(self, event: Connected) -> None:
        if self._venue.socket_snapshots:
            return  # the restored subscriptions bring snapshots
        for sync in self._syncs.values():
            if sync.state is BookState.SYNCING and sync.symbol not in self._fetches:
                self._start_fetch(sync)

    async def _on_closed(self, _event: Any) -> None:
        """The connection is done: so are the snapshot tasks (``aclose()`` also
        removes the handlers)."""
        await self._cancel_all()

    # -- internals --------------------------------------------------------------------

    async def _cancel_all(self) -> None:
        tasks = list(self._fetches.values())
        self._fetches.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _new(self, symbol: str, channel: str, is_snapshot: bool) -> tuple[SymbolSync, Step]:
        venue = self._venue
        sync = SymbolSync(
            symbol,
            sequencing=venue.sequencing,
            socket_snapshots=venue.socket_snapshots,
            max_buffer=self._max_buffer,
            checksum=venue.book_checksum if venue.has_checksum else None,
        )
        self._syncs[symbol] = sync
        self._channel_of[symbol] = channel
        self._names[symbol] = BOOK_PREFIX + symbol
        step = sync.start(ResyncReason.START, self._clock(), detail="first update seen")
        if is_snapshot:
            step = attrs.evolve(step, fetch=False)  # the snapshot is this very message
        return sync, step

    def _carry_out(self, sync: SymbolSync, *steps: Step) -> Awaitable[None] | None:
        """Start a fetch if asked, then emit what the ``steps`` say, in order.

        Returns:
            ``None`` when every handler ran, or an awaitable that runs the rest
            (a handler returned an awaitable).

        Raises:
            Exception: The first error of the step or of a handler (the others
                are reported), when every handler ran.
        """
        errors: list[Exception] = []
        events: list[tuple[str, Any]] = []
        for step in steps:
            if step.fetch:
                self._start_fetch(sync)
            if step.error is not None:
                why = step.resync.detail if step.resync is not None else repr(step.error)
                error = BookError(why, sync.symbol)
                error.__cause__ = step.error
                errors.append(error)
            if step.resync is not None:
                events.append((RESYNC, step.resync))
            if step.synced is not None:
                events.append((SYNCED, step.synced))
                waiter = self._waiters.pop(sync.symbol, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            if step.update:
                # The whole book changed (a snapshot, a resync completed): every level.
                book = sync.book
                events.append(
                    (
                        self._names[sync.symbol],
                        BookUpdate(
                            sync.symbol,
                            book,
                            book.update_id,
                            book.raw_bids(),
                            book.raw_asks(),
                            True,
                        ),
                    )
                )
        for index, (name, payload) in enumerate(events):
            handlers = self._cache.get(name)
            if handlers is None:
                handlers = self._handlers(name)
            pending = self._fire(handlers, payload, errors)
            if pending is not None:
                return self._rest(pending, events[index + 1 :], errors)
        if errors:
            raise self._first(errors)
        return None

    def _fire(
        self, handlers: Sequence[Callable[..., Any]], payload: Any, errors: list[Exception]
    ) -> Awaitable[None] | None:
        """Call ``handlers`` in order; an awaitable one returns ends the synchronous
        part (the rest is returned as an awaitable)."""
        for index, handler in enumerate(handlers):
            try:
                result = handler(payload)
            except Exception as exc:  # noqa: BLE001 - a user's handler: reported by the caller
                errors.append(exc)
                continue
            if result is not None and inspect.isawaitable(result):
                return self._finish(result, handlers[index + 1 :], payload, errors)
        return None

    async def _finish(
        self,
        awaitable: Awaitable[Any],
        handlers: Sequence[Callable[..., Any]],
        payload: Any,
        errors: list[Exception],
    ) -> None:
        try:
            await awaitable
        except Exception as exc:  # noqa: BLE001 - a user's handler: reported by the caller
            errors.append(exc)
        for handler in handlers:
            try:
                result = handler(payload)
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - a user's handler
                errors.append(exc)

    async def _rest(
        self, pending: Awaitable[None], events: list[tuple[str, Any]], errors: list[Exception]
    ) -> None:
        """Finish emitting ``events`` after ``pending``; raise the first error."""
        await pending
        for name, payload in events:
            handlers = self._cache.get(name)
            if handlers is None:
                handlers = self._handlers(name)
            more = self._fire(handlers, payload, errors)
            if more is not None:
                await more
        if errors:
            raise self._first(errors)

    @staticmethod
    async def _chain(pendings: list[Awaitable[None]]) -> None:
        errors: list[Exception] = []
        for pending in pendings:
            try:
                await pending
            except Exception as exc:  # noqa: BLE001 - reported by the caller
                errors.append(exc)
        if errors:
            raise errors[0]

    def _first(self, errors: list[Exception]) -> Exception:
        """The error to raise; the others are reported now."""
        for other in errors[1:]:
            self._report(other)
        return errors[0]

    async def _settle(self, pending: Awaitable[None] | None) -> None:
        """In a task of the keeper's: finish ``pending``; errors are reported."""
        try:
            if pending is not None:
                await pending
        except Exception as exc:  # noqa: BLE001 - reported to the connection
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        """An error outside the connection's handlers: to ``error`` handlers, or the log."""
        if not self._ws.listeners(ERROR):
            logger.error("order book error (add an 'error' handler to receive it)", exc_info=exc)
            return
        try:
            self._ws.emit(ERROR, exc)
        except Exception:
            logger.exception("an 'error' handler raised")

    def _cancel_fetch(self, symbol: str) -> None:
        task = self._fetches.pop(symbol, None)
        if task is not None:
            task.cancel()

    def _start_fetch(self, sync: SymbolSync) -> None:
        if self._closed:
            return
        self._cancel_fetch(sync.symbol)
        self._fetches[sync.symbol] = asyncio.get_running_loop().create_task(
            self._fetch(sync), name=f"wsevents-book-snapshot-{sync.symbol}"
        )

    async def _fetch(self, sync: SymbolSync) -> None:
        """One resync's snapshot attempts, with the backoff between them."""
        symbol = sync.symbol
        attempt = 0
        try:
            while True:
                if attempt:
                    await asyncio.sleep(self._backoff.delay(attempt))
                attempt += 1
                generation = sync.generation
                socket = self._venue.socket_snapshots
                if socket:
                    # Before asking: the snapshot may arrive while the request is sent.
                    waiter = self._waiters[symbol] = asyncio.get_running_loop().create_future()
                try:
                    reply = await asyncio.wait_for(self._request(symbol), self._snapshot_timeout)
                    if reply is None and socket:
                        await asyncio.wait_for(waiter, self._snapshot_timeout)
                        return
                except NotConnected:
                    return  # fetched again on the next connect
                except asyncio.TimeoutError:
                    self._report(
                        BookError(f"no snapshot within {self._snapshot_timeout}s", symbol)
                    )
                    continue
                except Exception as exc:  # noqa: BLE001 - the user's coroutine: retried
                    self._report(BookError(f"snapshot failed: {exc!r}", symbol))
                    continue
                if reply is None:
                    self._report(BookError("the snapshot coroutine returned None", symbol))
                    continue
                try:
                    snap = self._venue.parse_snapshot(symbol, reply)
                except BookError as bad:
                    self._report(bad)
                    continue
                step = sync.snapshot(snap, self._clock(), generation=generation)
                # A snapshot older than the buffered updates: this task tries again.
                again = step.fetch
                try:
                    pending = self._carry_out(sync, attrs.evolve(step, fetch=False))
                except Exception as exc:  # noqa: BLE001 - a handler's: reported
                    self._report(exc)
                    pending = None
                await self._settle(pending)
                if not again:
                    return
        finally:
            if self._fetches.get(symbol) is asyncio.current_task():
                del self._fetches[symbol]
                self._waiters.pop(symbol, None)

    async def _request(self, symbol: str) -> Any:
        if self._snapshot is not None:
            return await self._snapshot(symbol)
        channel = self._channel_of[symbol]
        await self._ws.unsubscribe(channel)
        await self._ws.subscribe(channel)
        return None
