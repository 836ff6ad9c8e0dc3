"""Order books that are never silently wrong: ``wsevents.book``.

:class:`BookKeeper` keeps one :class:`OrderBook` per symbol from a
connection's depth channels: snapshot + diffs, buffered while the snapshot is
fetched, stale diffs dropped, the straddle rule checked, then strictly in
sequence; every gap, checksum mismatch, crossed book or buffer overflow sends
that symbol (alone) back to SYNCING and emits ``resync``; ``synced`` says it is
LIVE again; ``book:<symbol>`` fires for every applied update.  The keeper is a
pyee emitter of its own; errors go to the connection's ``error`` event::

    ws = wsevents.Connection(url, protocol=wsevents.BinanceProtocol(),
                             subscriptions=["btcusdt@depth@100ms"])
    books = BookKeeper(ws, BINANCE_SPOT, channels=["btcusdt@depth@100ms"],
                       snapshot=fetch_depth)      # your REST call

    @books.on("book:BTCUSDT")
    def on_book(update: BookUpdate) -> None:
        print(update.book.best_bid, update.book.best_ask)

Venue rules: :mod:`wsevents.book.binance` (spot, futures), :mod:`wsevents.book.bybit`,
:mod:`wsevents.book.okx`; a scripted feed for tests: :mod:`wsevents.book.testing`.
The state machine (:class:`SymbolSync`) and the venues are pure (no asyncio).

.. versionadded:: 0.1
"""

from __future__ import annotations

from ._book import OKX_CHECKSUM_DEPTH, Level, OrderBook, RawLevel, okx_checksum
from ._events import (
    BOOK_PREFIX,
    RESYNC,
    SYNCED,
    BookUpdate,
    Resync,
    ResyncReason,
    Synced,
)
from ._keeper import BookKeeper, SnapshotFunction
from ._sync import BookState, Step, SymbolSync
from ._venue import BookError, Sequencing, Snapshot, Update, Venue
from .binance import BINANCE_FUTURES, BINANCE_SPOT, BinanceFutures, BinanceSpot
from .bybit import BYBIT, Bybit
from .okx import OKX, Okx


__all__ = [
    "BINANCE_FUTURES",
    "BINANCE_SPOT",
    "BOOK_PREFIX",
    "BYBIT",
    "OKX",
    "OKX_CHECKSUM_DEPTH",
    "RESYNC",
    "SYNCED",
    "BinanceFutures",
    "BinanceSpot",
    "BookError",
    "BookKeeper",
    "BookState",
    "BookUpdate",
    "Bybit",
    "Level",
    "Okx",
    "OrderBook",
    "RawLevel",
    "Resync",
    "ResyncReason",
    "Sequencing",
    "Snapshot",
    "SnapshotFunction",
    "Step",
    "SymbolSync",
    "Synced",
    "Update",
    "Venue",
    "okx_checksum",
]
