"""A scripted order-book feed on a :class:`~wsevents.testing.FakeServer` (layer L4).

:class:`BookFeed` plays one symbol's book in a venue's own wire format
(Binance combined streams, Bybit ``orderbook.50``, OKX ``books``) with
random, reproducible diffs, and lets a test break it the ways real feeds
break: skip updates (a gap), repeat one, send a wrong checksum, reset the
sequence, and serve REST snapshots that lag, fail, or wait::

    async with FakeServer() as server:
        feed = BookFeed(server, "binance", "BTCUSDT", seed=1)
        ws = wsevents.Connection(server.url, protocol=feed.protocol(),
                                 subscriptions=[feed.channel])
        books = BookKeeper(ws, BINANCE_SPOT, channels=[feed.channel],
                           snapshot=feed.snapshot)
        await ws.connect()
        await feed.publish(10)
        feed.skip()                       # the next diff reveals a gap
        feed.snapshot_lag = 3             # the next snapshot is 3 updates old
        await feed.publish(5)

:attr:`BookFeed.truth` is the venue's book; a LIVE book equals it once the
client has read what was sent.  Socket venues (Bybit, OKX) answer every
``{"op": "subscribe", "channels": [...]}`` naming the feed's channel with a
snapshot, as the venues do after a subscribe.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from typing import Any, Final

from ..binance import BinanceProtocol
from ..routing import JsonProtocol, Protocol
from ..testing import FakeClient, FakeServer
from ._book import OrderBook
from ._venue import Snapshot


__all__ = ["VENUES", "BookFeed"]

#: The venues a :class:`BookFeed` can play.
VENUES: Final = ("binance", "binance-futures", "bybit", "okx")


class BookFeed:
    """One symbol's order book played by a :class:`FakeServer`.

    Args:
        server: The server to publish on (started or not).
        venue: ``"binance"``, ``"binance-futures"``, ``"bybit"`` or ``"okx"``.
        symbol: The symbol (``"BTCUSDT"``, ``"BTC-USDT"``).
        depth: Levels on each side of the initial book.
        seed: Seed of the random diffs (the same seed plays the same feed).
        mid: The mid price, in ticks of 0.01.
        start: The update id before the first diff.
        history: How many past books are kept for lagging snapshots.

    Raises:
        ValueError: An unknown venue or a bad number.
    """

    def __init__(
        self,
        server: FakeServer,
        venue: str,
        symbol: str,
        *,
        depth: int = 20,
        seed: int = 0,
        mid: int = 10_000,
        start: int = 1000,
        history: int = 200,
    ) -> None:
        if venue not in VENUES:
            raise ValueError(f"venue must be one of {VENUES}, got {venue!r}")
        if depth < 1 or mid <= 4 * depth or history < 1:
            raise ValueError("depth >= 1, mid > 4 * depth and history >= 1 are needed")
        self.server = server
        self.venue = venue
        self.symbol = symbol
        self.truth = OrderBook(symbol)
        """The venue's book, as of :attr:`update_id`."""
        self.update_id = start
        """The id of the last update (sent or skipped)."""
        self.snapshot_lag = 0
        """Snapshots served by :meth:`snapshot` are this many updates old."""
        self.snapshot_failures = 0
        """This many next :meth:`snapshot` calls raise :exc:`ConnectionError`."""
        self.snapshot_gate: asyncio.Event | None = None
        """When set to an event, :meth:`snapshot` waits for it first."""
        self.snapshot_calls = 0
        """How many times :meth:`snapshot` was called."""
        self.corrupt_checksums = 0
        """OKX: this many next updates carry a wrong checksum."""
        self.sent = 0
        """Messages sent (updates and snapshots)."""
        self._rng = random.Random(seed)
        self._depth = depth
        self._mid = mid
        self._last: str | None = None
        self._history: deque[tuple[int, list[list[str]], list[list[str]]]] = deque(
            maxlen=history
        )
        self.truth.load(
            [[self._price(-k), self._size()] for k in range(1, depth + 1)],
            [[self._price(k), self._size()] for k in range(1, depth + 1)],
            start,
        )
        self._remember()
        if venue in ("bybit", "okx"):
            server.on_message(self._on_client_message)

    def __repr__(self) -> str:
        return f"<BookFeed {self.venue} {self.symbol} at {self.update_id}>"

    # -- what a client needs ---------------------------------------------------------

    @property
    def channel(self) -> str:
        """The channel of the feed's messages (``message:<channel>`` on the client)."""
        if self.venue.startswith("binance"):
            return f"{self.symbol.lower()}@depth@100ms"
        if self.venue == "bybit":
            return f"orderbook.50.{self.symbol}"
        return "books"

    def protocol(self) -> Protocol:
        """A protocol that routes the feed's messages to :attr:`channel`."""
        if self.venue.startswith("binance"):
            return BinanceProtocol()
        return JsonProtocol(channel_key="topic" if self.venue == "bybit" else "arg.channel")

    async def snapshot(self, symbol: str) -> Any:
        """A REST snapshot coroutine for :class:`~wsevents.book.BookKeeper`
        (Binance's ``{"lastUpdateId", "bids", "asks"}``), which lags, fails or
        waits as configured.

        Raises:
            ConnectionError: While :attr:`snapshot_failures` lasts.
            KeyError: ``symbol`` is not this feed's.
        """
        if symbol != self.symbol:
            raise KeyError(symbol)
        self.snapshot_calls += 1
        if self.snapshot_gate is not None:
            await self.snapshot_gate.wait()
        if self.snapshot_failures > 0:
            self.snapshot_failures -= 1
            raise ConnectionError("FakeServer book feed: snapshot refused (scripted)")
        index = max(0, len(self._history) - 1 - self.snapshot_lag)
        uid, bids, asks = self._history[index]
        return {"lastUpdateId": uid, "bids": bids, "asks": asks}

    def book_snapshot(self) -> Snapshot:
        """The current book as a :class:`~wsevents.book.Snapshot`."""
        return Snapshot(self.update_id, *self._raw())

    # -- playing ------------------------------------------------------------------------

    async def publish(self, count: int = 1, *, levels: int = 3) -> None:
        """Send ``count`` random diffs of ``levels`` levels each."""
        for _ in range(count):
            bids, asks = self._random_levels(levels)
            await self._send(self._advance(bids, asks))

    async def publish_levels(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        """Send one diff with these levels (``[price, size]``; size ``"0"`` removes)."""
        await self._send(self._advance(bids, asks))

    def skip(self, count: int = 1, *, levels: int = 3) -> None:
        """Apply ``count`` random diffs to the truth without sending them: a gap."""
        for _ in range(count):
            self._advance(*self._random_levels(levels))

    async def repeat(self) -> None:
        """Send the last message again (a duplicate)."""
        if self._last is not None:
            await self.server.send_raw(self._last)
            self.sent += 1

    async def send_snapshot(self, client: FakeClient | None = None) -> None:
        """Bybit / OKX: send the current book as a snapshot message (to every client
        by default)."""
        message = self._snapshot_message()
        if client is None:
            await self.server.send_raw(message)
        else:
            await client.send(message)
        self.sent += 1

    async def reset(self) -> None:
        """Bybit: restart the sequence at ``u == 1`` (a service restart) with a
        ``delta`` message carrying the whole book, as Bybit does."""
        self.update_id = 1
        self._remember()
        bids, asks = self._raw()
        await self._send(self._bybit("delta", 1, bids, asks))

    # -- internals -----------------------------------------------------------------------

    def _price(self, offset: int) -> str:
        ticks = self._mid + offset
        return f"{ticks // 100}.{ticks % 100:02d}"

    def _size(self) -> str:
        return f"{self._rng.randint(1, 99_999) / 1000:.3f}"

    def _random_levels(self, levels: int) -> tuple[list[list[str]], list[list[str]]]:
        bids: list[list[str]] = []
        asks: list[list[str]] = []
        for _ in range(levels):
            k = self._rng.randint(1, 2 * self._depth)
            size = "0" if self._rng.random() < 0.25 else self._size()
            if self._rng.random() < 0.5:
                bids.append([self._price(-k), size])
            else:
                asks.append([self._price(k), size])
        return bids, asks

    def _raw(self) -> tuple[list[list[str]], list[list[str]]]:
        return (
            [list(level) for level in self.truth.raw_bids()],
            [list(level) for level in self.truth.raw_asks()],
        )

    def _remember(self) -> None:
        self._history.append((self.update_id, *self._raw()))

    def _advance(self, bids: list[list[str]], asks: list[list[str]]) -> str:
        """Apply one diff to the truth; its message in the venue's format."""
        prev = self.update_id
        width = self._rng.randint(1, 3) if self.venue != "bybit" else 1
        if self.venue == "okx":
            width = self._rng.randint(1, 5)
        last = self.update_id = prev + width
        self.truth.apply(bids, asks)
        self.truth.update_id = last
        self._remember()
        if self.venue == "bybit":
            return self._bybit("delta", last, bids, asks)
        if self.venue == "okx":
            checksum = self.truth.checksum()
            if self.corrupt_checksums > 0:
                self.corrupt_checksums -= 1
                checksum ^= 1
            return self._okx("update", prev, last, bids, asks, checksum)
        data: dict[str, Any] = {
            "e": "depthUpdate",
            "E": last,
            "s": self.symbol,
            "U": prev + 1,
            "u": last,
            "b": bids,
            "a": asks,
        }
        if self.venue == "binance-futures":
            data["pu"] = prev
        return json.dumps({"stream": self.channel, "data": data}, separators=(",", ":"))

    def _bybit(self, kind: str, u: int, bids: list[list[str]], asks: list[list[str]]) -> str:
        data = {"s": self.symbol, "b": bids, "a": asks, "u": u, "seq": u * 7}
        message = {"topic": self.channel, "type": kind, "ts": u, "data": data, "cts": u}
        return json.dumps(message, separators=(",", ":"))

    def _okx(
        self,
        action: str,
        prev: int,
        seq: int,
        bids: list[list[str]],
        asks: list[list[str]],
        checksum: int,
    ) -> str:
        entry = {
            "asks": [[p, s, "0", "1"] for p, s in asks],
            "bids": [[p, s, "0", "1"] for p, s in bids],
            "ts": str(seq),
            "checksum": checksum,
            "prevSeqId": prev,
            "seqId": seq,
        }
        message = {"arg": {"channel": "books", "instId": self.symbol}, "action": action,
                   "data": [entry]}
        return json.dumps(message, separators=(",", ":"))

    def _snapshot_message(self) -> str:
        bids, asks = self._raw()
        if self.venue == "bybit":
            return self._bybit("snapshot", self.update_id, bids, asks)
        return self._okx("snapshot", -1, self.update_id, bids, asks, self.truth.checksum())

    async def _send(self, message: str) -> None:
        self._last = message
        await self.server.send_raw(message)
        self.sent += 1

    async def _on_client_message(self, client: FakeClient, message: Any) -> None:
        if self._wants_snapshot(message):
            await self.send_snapshot(client)

    def _wants_snapshot(self, message: Any) -> bool:
        """A subscribe frame naming this feed: FakeServer's ``{"op": "subscribe",
        "channels": [...]}``, Bybit's ``{"op": "subscribe", "args": [topic]}``, or
        OKX's ``{"op": "subscribe", "args": [{"channel": ..., "instId": ...}]}``."""
        if not isinstance(message, dict) or message.get("op") != "subscribe":
            return False
        named = [*(message.get("channels") or ()), *(message.get("args") or ())]
        wanted = {"channel": self.channel, "instId": self.symbol}
        return self.channel in named or wanted in named
