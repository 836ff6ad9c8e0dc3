"""Order books over real sockets: each venue's rules against a scripted FakeServer feed.

The feed (:class:`wsevents.book.testing.BookFeed`) knows the venue's true book;
whenever the keeper says LIVE at the feed's last id, its book must equal it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, Recorder, until
from wsevents.book import (
    BINANCE_FUTURES,
    BINANCE_SPOT,
    BYBIT,
    OKX,
    BookError,
    BookKeeper,
    BookState,
    BookUpdate,
    ResyncReason,
    Venue,
)
from wsevents.book.testing import BookFeed
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]
RULES: dict[str, Venue] = {
    "binance": BINANCE_SPOT,
    "binance-futures": BINANCE_FUTURES,
    "bybit": BYBIT,
    "okx": OKX,
}


def keeper_for(ws: wsevents.Connection, feed: BookFeed, **options: Any) -> BookKeeper:
    options.setdefault("backoff", wsevents.FixedDelay(delay=5 * MS))
    if not RULES[feed.venue].socket_snapshots:
        options.setdefault("snapshot", feed.snapshot)
    return BookKeeper(ws, RULES[feed.venue], channels=[feed.channel], **options)


async def wait_live(keeper: BookKeeper, feed: BookFeed) -> None:
    """Until the keeper is LIVE at the feed's last id; then its book is the truth."""

    def caught_up() -> bool:
        book = keeper.book(feed.symbol)
        return (
            keeper.state(feed.symbol) is BookState.LIVE
            and book is not None
            and book.update_id == feed.update_id
        )

    await until(caught_up)
    book = keeper.book(feed.symbol)
    assert book is not None
    assert book.raw_bids() == feed.truth.raw_bids()
    assert book.raw_asks() == feed.truth.raw_asks()
    assert book.bids(3) == feed.truth.bids(3)


def record(ws: wsevents.Connection, keeper: BookKeeper, *events: str) -> Recorder:
    """A Recorder of the keeper's ``events`` and of the connection's ``error``."""
    rec = Recorder(keeper, *events)  # type: ignore[arg-type]
    ws.on("error", rec._handler("error"))
    return rec


async def start(
    server: FakeServer, make_connection: Make, feed: BookFeed, **options: Any
) -> tuple[wsevents.Connection, BookKeeper, Recorder]:
    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    keeper = keeper_for(ws, feed, **options)
    rec = record(ws, keeper, "resync", "synced", f"book:{feed.symbol}")
    await ws.connect()
    client = await server.wait_for_client()
    if feed.venue in ("bybit", "okx"):
        await client.wait_subscribed(feed.channel)
    return ws, keeper, rec


@pytest.mark.parametrize("venue", ["binance", "binance-futures", "bybit", "okx"])
async def test_syncs_follows_and_resyncs_after_a_gap(
    server: FakeServer, make_connection: Make, venue: str
) -> None:
    """resync(START) -> synced -> book events; a skipped update -> resync(GAP) for
    that symbol -> synced again, equal to the venue's book."""
    feed = BookFeed(server, venue, "BTCUSDT" if venue != "okx" else "BTC-USDT", seed=7)
    _ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(20)
    await wait_live(keeper, feed)
    assert [r.reason for r in rec.of("resync")] == [ResyncReason.START]
    assert len(rec.of("synced")) == 1
    updates: list[BookUpdate] = rec.of(f"book:{feed.symbol}")
    assert updates[-1].update_id == feed.update_id
    assert updates[-1].book is keeper.book(feed.symbol)

    feed.skip(2)
    await feed.publish(1)
    await rec.wait(lambda r: len(r.of("resync")) == 2)
    gap = rec.of("resync")[1]
    assert gap.reason is ResyncReason.GAP
    assert gap.symbol == feed.symbol
    await feed.publish(10)
    await wait_live(keeper, feed)
    assert len(rec.of("synced")) == 2
    assert rec.of("error") == []
    await keeper.aclose()


@pytest.mark.parametrize("venue", ["binance", "bybit"])
async def test_duplicates_are_dropped_not_resynced(
    server: FakeServer, make_connection: Make, venue: str
) -> None:
    """A repeated update changes nothing and is no gap."""
    feed = BookFeed(server, venue, "ETHUSDT", seed=3)
    _ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(5)
    await wait_live(keeper, feed)
    before = len(rec.of("book:ETHUSDT"))
    await feed.repeat()
    await feed.publish(3)
    await wait_live(keeper, feed)
    assert len(rec.of("resync")) == 1
    assert len(rec.of("book:ETHUSDT")) == before + 3
    await keeper.aclose()


async def test_lagging_and_failing_snapshots_are_fetched_again(
    server: FakeServer, make_connection: Make
) -> None:
    """A snapshot older than the buffered diffs is a GAP and another snapshot; a
    failing one is an ``error`` event and a retry; the book ends right."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=11)
    feed.skip(3)  # the stream starts after these: an old snapshot cannot reach it
    feed.snapshot_gate = asyncio.Event()
    feed.snapshot_failures = 1
    _ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(5)
    await until(lambda: feed.snapshot_calls == 1)
    feed.snapshot_lag = 20  # the oldest: older than the first buffered diff
    feed.snapshot_gate.set()
    await rec.wait(lambda r: len(r.of("error")) == 1)
    error = rec.of("error")[0]
    assert isinstance(error, BookError)
    assert "snapshot failed" in str(error)
    await rec.wait(lambda r: len(r.of("resync")) == 2)
    assert rec.of("resync")[1].reason is ResyncReason.GAP
    assert "older" in rec.of("resync")[1].detail
    feed.snapshot_lag = 0
    await feed.publish(5)
    await wait_live(keeper, feed)
    synced = rec.of("synced")
    assert len(synced) == 1
    assert synced[0].snapshots >= 1
    assert feed.snapshot_calls >= 3
    await keeper.aclose()


async def test_one_symbols_resync_never_pauses_another(
    server: FakeServer, make_connection: Make
) -> None:
    """While BTC waits for its snapshot, ETH's updates keep coming."""
    btc = BookFeed(server, "binance", "BTCUSDT", seed=1)
    eth = BookFeed(server, "binance", "ETHUSDT", seed=2)
    ws = make_connection(
        server.url, protocol=btc.protocol(), subscriptions=[btc.channel, eth.channel]
    )
    feeds = {"BTCUSDT": btc, "ETHUSDT": eth}

    async def snapshot(symbol: str) -> Any:
        return await feeds[symbol].snapshot(symbol)

    keeper = BookKeeper(
        ws,
        BINANCE_SPOT,
        channels=[btc.channel, eth.channel],
        snapshot=snapshot,
        backoff=wsevents.FixedDelay(delay=5 * MS),
    )
    rec = record(ws, keeper, "resync", "synced", "book:ETHUSDT", "book:BTCUSDT")
    await ws.connect()
    await server.wait_for_client()
    await btc.publish(3)
    await eth.publish(3)
    await wait_live(keeper, btc)
    await wait_live(keeper, eth)

    btc.snapshot_gate = asyncio.Event()
    btc.skip()
    await btc.publish(2)  # a gap: BTC resyncs, its snapshot waits
    await rec.wait(lambda r: len(r.of("resync")) == 3)
    assert rec.of("resync")[-1].symbol == "BTCUSDT"
    btc_events = len(rec.of("book:BTCUSDT"))
    await eth.publish(10)
    await wait_live(keeper, eth)
    assert keeper.state("BTCUSDT") is BookState.SYNCING
    assert len(rec.of("book:BTCUSDT")) == btc_events
    btc.snapshot_gate.set()
    await btc.publish(2)
    await wait_live(keeper, btc)
    assert keeper.symbols == ("BTCUSDT", "ETHUSDT")
    await keeper.aclose()


async def test_buffer_overflow_is_a_resync(server: FakeServer, make_connection: Make) -> None:
    """More diffs than max_buffer during a snapshot: resync(OVERFLOW), never a silent drop."""
    feed = BookFeed(server, "binance-futures", "BTCUSDT", seed=5)
    feed.snapshot_gate = asyncio.Event()
    _ws, keeper, rec = await start(server, make_connection, feed, max_buffer=4)
    await feed.publish(6)
    await rec.wait(lambda r: len(r.of("resync")) == 2)
    assert rec.of("resync")[1].reason is ResyncReason.OVERFLOW
    feed.snapshot_gate.set()
    await feed.publish(2)
    await wait_live(keeper, feed)
    await keeper.aclose()


async def test_okx_checksum_mismatch_is_a_resync(
    server: FakeServer, make_connection: Make
) -> None:
    """A wrong checksum: resync(CHECKSUM), a new subscription, a fresh snapshot."""
    feed = BookFeed(server, "okx", "BTC-USDT", seed=9)
    _ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(5)
    await wait_live(keeper, feed)
    feed.corrupt_checksums = 1
    await feed.publish(1)
    await rec.wait(lambda r: len(r.of("resync")) == 2)
    resync = rec.of("resync")[1]
    assert resync.reason is ResyncReason.CHECKSUM
    assert resync.received == feed.truth.checksum() ^ 1
    await rec.wait(lambda r: len(r.of("synced")) == 2)  # the resubscription's snapshot
    await feed.publish(3)
    await wait_live(keeper, feed)
    assert {"op": "unsubscribe", "channels": ["books"]} in server.received
    await keeper.aclose()


async def test_bybit_u1_reset_replaces_the_book(
    server: FakeServer, make_connection: Make
) -> None:
    """A ``delta`` with ``u == 1`` is a snapshot (service restart): the book is
    replaced, no resync, and numbering goes on from 1."""
    feed = BookFeed(server, "bybit", "BTCUSDT", seed=4)
    _ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(5)
    await wait_live(keeper, feed)
    await feed.reset()
    await feed.publish(3)
    await wait_live(keeper, feed)
    assert keeper.book("BTCUSDT").update_id == 4  # type: ignore[union-attr]
    assert len(rec.of("resync")) == 1
    assert any(u.snapshot for u in rec.of("book:BTCUSDT")[1:])
    await keeper.aclose()


async def test_a_lost_connection_resyncs_every_symbol(
    server: FakeServer, make_connection: Make
) -> None:
    """A drop: resync(DISCONNECT), and after the reconnect a fresh snapshot."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=6)
    _ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(3)
    await wait_live(keeper, feed)
    await server.drop()
    await rec.wait(lambda r: len(r.of("resync")) == 2)
    assert rec.of("resync")[1].reason is ResyncReason.DISCONNECT
    await server.wait_for_client(2)
    await feed.publish(3)
    await wait_live(keeper, feed)
    assert len(rec.of("synced")) == 2
    await keeper.aclose()


async def test_bad_messages_are_error_events(server: FakeServer, make_connection: Make) -> None:
    """A message that is not a depth update, and a level that is not a number, are
    ``error`` events naming the problem; the second sends the book to SYNCING."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=8)
    _ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(3)
    await wait_live(keeper, feed)
    await server.send_raw('{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","s":"X"}}')
    await rec.wait(lambda r: len(r.of("error")) == 1)
    assert "'U'" in str(rec.of("error")[0])
    uid = feed.update_id + 1
    await server.send_raw(
        '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","s":"BTCUSDT",'
        f'"U":{uid},"u":{uid},"b":[["abc","1"]],"a":[]}}}}'
    )
    await rec.wait(lambda r: len(r.of("error")) == 2)
    assert isinstance(rec.of("error")[1], BookError)
    assert "abc" in str(rec.of("error")[1])
    assert rec.of("resync")[-1].reason is ResyncReason.INVALID
    await keeper.aclose()


async def test_a_venue_with_its_own_parse_is_parsed(
    server: FakeServer, make_connection: Make
) -> None:
    """Binance diffs are read by their keys (``Venue.diff_keys``) without a call to
    ``parse``; a subclass that changes ``parse`` alone has it called for every diff."""
    calls: list[str] = []

    class Counted(type(BINANCE_SPOT)):  # type: ignore[misc]
        def parse(self, message: Any) -> Any:
            calls.append(message["s"])
            return super().parse(message)

    feed = BookFeed(server, "binance", "BTCUSDT", seed=9)
    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    keeper = BookKeeper(ws, Counted(), channels=[feed.channel], snapshot=feed.snapshot,
                        backoff=wsevents.FixedDelay(delay=5 * MS))
    await ws.connect()
    await server.wait_for_client()
    await feed.publish(4)
    await wait_live(keeper, feed)
    assert calls == ["BTCUSDT"] * 4
    await keeper.aclose()
