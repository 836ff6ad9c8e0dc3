"""`BookKeeper`: order books kept from a connection's depth channels (layer L3).

The asyncio side of the synchroniser: it listens on ``message:<channel>``
through the connection's public API, runs one :class:`~._sync.SymbolSync` per
symbol, runs the user's ``snapshot(symbol)`` coroutine as one task per resync
(one symbol's resync never pauses another's updates), and emits on the
connection itself: ``book:<symbol>`` (:class:`BookUpdate`), ``resync``
(:class:`Resync`) and ``synced`` (:class:`Synced`).

.. versionadded:: 0.2
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import attrs

from ..backoff import Backoff, ExponentialBackoff
from ..connection import Connection
from ..events import (
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
from ._venue import BookError, Snapshot, Venue


__all__ = ["BookKeeper", "SnapshotFunction"]

logger = logging.getLogger("wsevents.book")

#: ``async snapshot(symbol) -> reply``: a REST depth reply (or a :class:`Snapshot`),
#: or ``None`` when it asked the venue to send one on the socket.
SnapshotFunction = Callable[[str], Awaitable[Any]]

#: Disconnects after which no update was missed.
_NO_LOSS = (_Reason.HANDOVER, _Reason.SHUTDOWN)


class BookKeeper:
    """Keeps one :class:`OrderBook` per symbol of a connection's depth channels,
    never silently wrong.

    Every book is SYNCING until a snapshot and the updates that follow it make
    it LIVE (``synced``); any gap, checksum mismatch, crossed book, bad level,
    buffer overflow or lost connection sends that symbol alone back to SYNCING
    (``resync``, with the reason) and fetches a new snapshot.  ``book:<symbol>``
    fires for every update applied to a LIVE book, and never otherwise.

    Events are emitted on the connection (``ws.on("book:BTCUSDT")``) from the
    connection's own message handler, so plain-function handlers run at once,
    in order with the messages; a coroutine handler is scheduled as a task
    (pyee's rule for ``emit``), so prefer plain functions here.  What a handler
    raises is reported as an ``error`` event and never stops the keeper.

    Args:
        ws: The connection (its subscriptions bring the depth channels).
        venue: The venue's rules (:data:`~wsevents.book.binance.BINANCE_SPOT`,
            :data:`~wsevents.book.bybit.BYBIT`, :data:`~wsevents.book.okx.OKX`, ...).
        channels: The channels whose messages are book updates (the names of
            their ``message:<channel>`` events).
        snapshot: ``async snapshot(symbol)``: for REST venues (Binance), return
            the decoded depth reply; for socket venues (Bybit, OKX), ask the
            venue for a new snapshot and return ``None`` (by default the keeper
            unsubscribes and subscribes the symbol's channel again).
        max_buffer: The most updates buffered per symbol during a snapshot.
        backoff: Delays between snapshot attempts within one resync (a failed
            fetch, a snapshot older than the buffered updates).
        clock: Monotonic seconds, for :attr:`Synced.duration`.

    Raises:
        ConfigError: A REST venue without ``snapshot``, no channel, or a bad
            ``max_buffer``.
    """

    def __init__(
        self,
        ws: Connection,
        venue: Venue,
        *,
        channels: Iterable[str],
        snapshot: SnapshotFunction | None = None,
        max_buffer: int = 5000,
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
        self._ws = ws
        self._venue = venue
        self._channels = tuple(channels)
        self._snapshot = snapshot
        self._max_buffer = max_buffer
        self._backoff = backoff if backoff is not None else ExponentialBackoff(
            initial=0.1, maximum=5.0
        )
        self._clock = clock
        self._syncs: dict[str, SymbolSync] = {}
        self._channel_of: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._fetches: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        self._handlers: list[tuple[str, Callable[..., Any]]] = [
            (f"{MESSAGE_PREFIX}{c}", functools.partial(self._on_message, c)) for c in channels
        ]
        self._handlers += [(DISCONNECT, self._on_disconnect), (CONNECT, self._on_connect)]
        for name, handler in self._handlers:
            ws.on(name, handler)

    def __repr__(self) -> str:
        live = sum(s.state is BookState.LIVE for s in self._syncs.values())
        return f"<BookKeeper {self._venue.name} {live}/{len(self._syncs)} live>"

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

    def resync(self, symbol: str) -> None:
        """Rebuild ``symbol``'s book from a new snapshot (reason ``REQUESTED``).

        Raises:
            KeyError: ``symbol`` was never seen.
        """
        sync = self._syncs[symbol]
        self._carry_out(sync, sync.start(ResyncReason.REQUESTED, self._clock()), in_task=True)

    async def aclose(self) -> None:
        """Stop: remove the keeper's handlers and cancel (and await) its snapshot tasks."""
        self._closed = True
        for name, handler in self._handlers:
            self._ws.remove_listener(name, handler)
        self._handlers = []
        tasks = list(self._fetches.values())
        self._fetches.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

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

    def _on_message(self, channel: str, message: Any) -> None:
        update = self._venue.parse(message)
        symbol = update.symbol
        sync = self._syncs.get(symbol)
        if sync is None:
            sync = self._new(symbol, channel, update.snapshot)
        if update.snapshot:
            snap = Snapshot(update.last, update.bids, update.asks)
            step = sync.snapshot(snap, self._clock(), checksum=update.checksum)
        else:
            step = sync.update(
                update.first,
                update.last,
                update.prev,
                update.bids,
                update.asks,
                update.checksum,
                self._clock(),
            )
        if step is APPLIED:
            self._ws.emit(
                self._names[symbol],
                BookUpdate(
                    symbol=symbol,
                    book=sync.book,
                    update_id=update.last,
                    bids=update.bids,
                    asks=update.asks,
                ),
            )
        elif step is not NOTHING:
            self._carry_out(sync, step, in_task=False)

    def _on_disconnect(self, event: Disconnected) -> None:
        if event.reason in _NO_LOSS:
            return
        now = self._clock()
        for sync in self._syncs.values():
            self._cancel_fetch(sync.symbol)
            step = sync.start(ResyncReason.DISCONNECT, now, detail=event.reason.value)
            # Fetched once connected again: a snapshot taken now would be older
            # than the updates of the next connection.
            self._carry_out(sync, attrs.evolve(step, fetch=False), in_task=False)

    def _on_connect(self, event: Connected) -> None:
        if self._venue.socket_snapshots:
            return  # the restored subscriptions bring snapshots
        for sync in self._syncs.values():
            if sync.state is BookState.SYNCING and sync.symbol not in self._fetches:
                self._start_fetch(sync)

    # -- internals --------------------------------------------------------------------

    def _new(self, symbol: str, channel: str, is_snapshot: bool) -> SymbolSync:
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
        step = sync.start(ResyncReason.START, self._clock())
        if is_snapshot:
            step = attrs.evolve(step, fetch=False)  # the snapshot is this very message
        self._carry_out(sync, step, in_task=False)
        return sync

    def _carry_out(self, sync: SymbolSync, step: Step, *, in_task: bool) -> None:
        """Emit what ``step`` says, start a fetch if asked; what a handler (or the
        step) raised is raised at the end, or reported from a task."""
        errors: list[Exception] = []
        if step.error is not None:
            errors.append(BookError(f"{step.error}", sync.symbol))
        ws = self._ws
        book = sync.book
        full = None
        if step.update:
            # The whole book changed (a snapshot, a resync completed): every level.
            full = BookUpdate(
                symbol=sync.symbol,
                book=book,
                update_id=book.update_id,
                bids=book.raw_bids(),
                asks=book.raw_asks(),
                snapshot=True,
            )
        for name, payload in (
            (RESYNC, step.resync),
            (SYNCED, step.synced),
            (self._names[sync.symbol], full),
        ):
            if payload is None:
                continue
            try:
                ws.emit(name, payload)
            except Exception as exc:  # noqa: BLE001 - a user's handler: reported below
                errors.append(exc)
        if step.fetch:
            self._start_fetch(sync)
        if not errors:
            return
        if not in_task:
            raise errors[0]
        for error in errors:
            self._report(error)

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
                try:
                    reply = await self._request(symbol)
                except NotConnected:
                    return  # fetched again on the next connect
                except Exception as exc:  # noqa: BLE001 - the user's coroutine: retried
                    self._report(BookError(f"snapshot failed: {exc!r}", symbol))
                    continue
                if reply is None:
                    if self._venue.socket_snapshots:
                        return  # the snapshot comes on the socket
                    self._report(BookError("the snapshot coroutine returned None", symbol))
                    continue
                try:
                    snap = self._venue.parse_snapshot(symbol, reply)
                except BookError as bad:
                    self._report(bad)
                    continue
                step = sync.snapshot(snap, self._clock(), generation=generation)
                if step is NOTHING or not step.fetch:
                    self._carry_out(sync, step, in_task=True)
                    return
                self._carry_out(sync, attrs.evolve(step, fetch=False), in_task=True)
        finally:
            if self._fetches.get(symbol) is asyncio.current_task():
                del self._fetches[symbol]

    async def _request(self, symbol: str) -> Any:
        if self._snapshot is not None:
            return await self._snapshot(symbol)
        channel = self._channel_of[symbol]
        await self._ws.unsubscribe(channel)
        await self._ws.subscribe(channel)
        return None

