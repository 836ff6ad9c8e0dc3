"""BookKeeper's own rules over real sockets: options, control, errors, disconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, Recorder, until
from tests.integration.test_book_venues import record, start, wait_live
from wsevents.book import (
    BINANCE_SPOT,
    BYBIT,
    OKX,
    BookError,
    BookKeeper,
    BookState,
    BookUpdate,
    ResyncReason,
)
from wsevents.book.testing import BookFeed
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


async def no_snapshot(symbol: str) -> Any:
    return None


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"channels": []}, "channels"),
        ({"channels": "a"}, "snapshot"),
        ({"channels": ["a"], "snapshot": 5}, "snapshot"),
        ({"channels": ["a"], "snapshot": no_snapshot, "max_buffer": 0}, "max_buffer"),
        ({"channels": ["a"], "snapshot": no_snapshot, "max_buffer": True}, "max_buffer"),
        ({"channels": ["a"], "snapshot": no_snapshot, "snapshot_timeout": 0}, "snapshot_timeout"),
        ({"channels": ["a"], "snapshot": no_snapshot, "snapshot_timeout": "1"}, "snapshot_timeout"),
    ],
)
def test_bad_options_raise_config_error(options: dict[str, Any], key: str) -> None:
    ws = wsevents.Connection("ws://127.0.0.1:9")
    with pytest.raises(wsevents.ConfigError) as info:
        BookKeeper(ws, BINANCE_SPOT, **options)
    assert info.value.key == key


async def test_requested_resync_reads_and_context_manager(
    server: FakeServer, make_connection: Make
) -> None:
    feed = BookFeed(server, "binance", "BTCUSDT", seed=1)
    ws, keeper, rec = await start(server, make_connection, feed)
    assert keeper.book("ETHUSDT") is None
    assert keeper.state("ETHUSDT") is None
    with pytest.raises(KeyError):
        await keeper.resync("ETHUSDT")
    await feed.publish(3)
    await wait_live(keeper, feed)
    assert "1/1 live" in repr(keeper)
    await keeper.resync("BTCUSDT")
    assert keeper.state("BTCUSDT") is BookState.SYNCING
    assert rec.of("resync")[-1].reason is ResyncReason.REQUESTED
    await feed.publish(2)
    await wait_live(keeper, feed)
    async with keeper:
        pass
    # closed: no more handlers, no more fetches
    await keeper.resync("BTCUSDT")
    await feed.publish(2)
    await until(lambda: ws.stats.messages_delivered >= 7)
    assert keeper.state("BTCUSDT") is BookState.SYNCING
    assert ws.listeners(f"message:{feed.channel}") == []


async def test_handlers_that_raise_become_error_events(
    server: FakeServer, make_connection: Make
) -> None:
    """A raising book / synced / resync handler is an ``error`` event; the keeper goes on."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=2)
    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    keeper = BookKeeper(ws, BINANCE_SPOT, channels=[feed.channel], snapshot=feed.snapshot)
    rec = record(ws, keeper, "book:BTCUSDT")
    boom = RuntimeError("handler bug")

    def explode(_payload: Any) -> None:
        raise boom

    keeper.on("synced", explode)  # runs in the snapshot task: reported there
    keeper.on("resync", explode)  # the first resync runs in the message handler
    keeper.on("book:BTCUSDT", explode)
    await ws.connect()
    await server.wait_for_client()
    await feed.publish(3)
    await wait_live(keeper, feed)
    await feed.publish(1)
    await rec.wait(lambda r: len(r.of("error")) >= 3 and len(r.of("book:BTCUSDT")) >= 2)
    assert all(e is boom for e in rec.of("error"))
    await keeper.aclose()


async def test_errors_without_an_error_handler_are_logged(
    server: FakeServer, make_connection: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot coroutine that fails or returns None: logged when nobody listens to
    ``error``, and retried; an ``error`` handler that raises is logged too."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=3)
    calls: list[str] = []

    async def flaky(symbol: str) -> Any:
        calls.append(symbol)
        if len(calls) == 1:
            return None
        if len(calls) == 2:
            return {"no": "snapshot"}
        return await feed.snapshot(symbol)

    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    keeper = BookKeeper(
        ws,
        BINANCE_SPOT,
        channels=[feed.channel],
        snapshot=flaky,
        backoff=wsevents.FixedDelay(delay=5 * MS),
    )
    with caplog.at_level(logging.ERROR, logger="wsevents.book"):
        await ws.connect()
        await server.wait_for_client()
        await feed.publish(3)
        await until(lambda: len(calls) >= 2)
        await feed.publish(1)
        await wait_live(keeper, feed)
    messages = [r.getMessage() for r in caplog.records if r.name == "wsevents.book"]
    assert len(messages) == 2
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert "returned None" in str(errors[0])
    assert "lastUpdateId" in str(errors[1])

    def bad_error_handler(exc: Exception) -> None:
        raise RuntimeError("error handler bug")

    ws.on("error", bad_error_handler)
    calls.clear()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="wsevents.book"):
        await keeper.resync("BTCUSDT")
        await until(lambda: len(calls) >= 1)
        await until(lambda: any("handler raised" in r.getMessage() for r in caplog.records))
    await keeper.aclose()


async def test_a_socket_venue_attached_mid_stream_asks_for_a_snapshot(
    server: FakeServer, make_connection: Make
) -> None:
    """The first message is a delta (the subscription's snapshot was missed): the
    keeper subscribes again to get one."""
    feed = BookFeed(server, "bybit", "BTCUSDT", seed=4)
    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    rec = Recorder(ws, "connect")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed(feed.channel)
    await until(lambda: ws.stats.messages_delivered >= 1)  # the subscription's snapshot
    keeper = BookKeeper(ws, BYBIT, channels=[feed.channel])
    rec = record(ws, keeper, "synced")
    await feed.publish(2)
    await rec.wait_count("synced", 1)
    await feed.publish(2)
    await wait_live(keeper, feed)
    assert len([m for m in server.received if m.get("op") == "subscribe"]) == 2
    await keeper.aclose()


async def test_socket_venue_resyncs_after_a_drop_and_a_custom_snapshot_request(
    server: FakeServer, make_connection: Make
) -> None:
    """OKX: a drop is resync(DISCONNECT), the restored subscription brings the
    snapshot; a ``snapshot`` coroutine replaces the default resubscription."""
    feed = BookFeed(server, "okx", "BTC-USDT", seed=5)
    requested: list[str] = []

    async def request(symbol: str) -> None:
        requested.append(symbol)
        await feed.send_snapshot()

    _ws, keeper, rec = await start(server, make_connection, feed, snapshot=request)
    await feed.publish(3)
    await wait_live(keeper, feed)
    await server.drop()
    await rec.wait(lambda r: len(r.of("resync")) == 2)
    assert rec.of("resync")[1].reason is ResyncReason.DISCONNECT
    await rec.wait(lambda r: len(r.of("synced")) == 2)
    await feed.publish(2)
    await wait_live(keeper, feed)
    assert requested == []
    feed.corrupt_checksums = 1
    await feed.publish(1)
    await rec.wait(lambda r: len(r.of("synced")) == 3)
    assert requested == ["BTC-USDT"]
    await feed.publish(1)
    await wait_live(keeper, feed)
    updates: list[BookUpdate] = rec.of("book:BTC-USDT")
    assert updates[-1].book.checksum() == feed.truth.checksum()
    await keeper.aclose()


async def test_a_resync_while_disconnected_waits_for_the_connection(
    server: FakeServer, make_connection: Make
) -> None:
    """A socket venue's resubscription while down waits: the restored
    subscriptions bring the snapshot."""
    feed = BookFeed(server, "okx", "ETH-USDT", seed=6)
    ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(2)
    await wait_live(keeper, feed)
    await ws.request_disconnect()
    await keeper.resync("ETH-USDT")  # the new subscription waits for the connection
    assert rec.of("error") == []
    await ws.resume()
    await rec.wait(lambda r: len(r.of("synced")) == 2)
    await until(lambda: not keeper._fetches)  # the request saw its snapshot
    await keeper.aclose()


async def test_aclose_cancels_a_pending_snapshot(
    server: FakeServer, make_connection: Make
) -> None:
    feed = BookFeed(server, "binance", "BTCUSDT", seed=7)
    feed.snapshot_gate = asyncio.Event()
    _ws, keeper, _rec = await start(server, make_connection, feed)
    await feed.publish(1)
    await until(lambda: feed.snapshot_calls == 1)
    await keeper.aclose()
    assert not keeper._fetches
    assert OKX.socket_snapshots
    assert isinstance(BookError("x"), ValueError)


async def test_a_handover_or_a_close_loses_nothing(
    server: FakeServer, make_connection: Make
) -> None:
    """A make-before-break handover delivers every update once: the book stays LIVE
    (no resync); closing the connection is no resync either."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=8)
    ws, keeper, rec = await start(server, make_connection, feed)
    await feed.publish(3)
    await wait_live(keeper, feed)
    handover = asyncio.ensure_future(ws.handover())
    while not handover.done():
        await feed.publish(1)
        await asyncio.wait({handover}, timeout=5 * MS)
    await handover
    await feed.publish(2)
    await wait_live(keeper, feed)
    assert [r.reason for r in rec.of("resync")] == [ResyncReason.START]
    await ws.close()
    assert [r.reason for r in rec.of("resync")] == [ResyncReason.START]
    await keeper.aclose()


async def test_a_snapshot_coroutine_raising_not_connected_waits_for_the_connection(
    server: FakeServer, make_connection: Make
) -> None:
    feed = BookFeed(server, "binance", "BTCUSDT", seed=9)
    calls: list[str] = []

    async def snapshot(symbol: str) -> Any:
        calls.append(symbol)
        if len(calls) == 1:
            raise wsevents.NotConnected("not now")
        return await feed.snapshot(symbol)

    _ws, keeper, rec = await start(server, make_connection, feed, snapshot=snapshot)
    await feed.publish(2)
    await until(lambda: calls == ["BTCUSDT"] and not keeper._fetches)
    assert rec.of("error") == []
    await server.drop()  # the next connect fetches again
    await server.wait_for_client(2)
    await feed.publish(2)
    await wait_live(keeper, feed)
    await keeper.aclose()


def test_book_feed_checks_its_arguments() -> None:
    server = FakeServer()
    with pytest.raises(ValueError, match="venue"):
        BookFeed(server, "kraken", "X")
    with pytest.raises(ValueError, match="depth"):
        BookFeed(server, "binance", "X", depth=0)
    feed = BookFeed(server, "binance-futures", "BTCUSDT", depth=2, start=5)
    assert feed.channel == "btcusdt@depth@100ms"
    assert feed.book_snapshot().update_id == 5
    assert len(feed.book_snapshot().bids) == 2
    assert "BTCUSDT" in repr(feed)
    with pytest.raises(KeyError):
        asyncio.run(feed.snapshot("ETHUSDT"))


async def test_book_feed_publishes_given_levels_and_repeats_nothing_at_first(
    server: FakeServer, make_connection: Make
) -> None:
    feed = BookFeed(server, "binance", "BTCUSDT", seed=10)
    _ws, keeper, _rec = await start(server, make_connection, feed)
    await feed.repeat()  # nothing sent yet: nothing to repeat
    assert feed.sent == 0
    await feed.publish_levels([["99.00", "5"]], [["101.00", "0"]])
    await feed.publish(1)
    await wait_live(keeper, feed)
    assert (99.0, 5.0) in keeper.book("BTCUSDT").bids()  # type: ignore[union-attr]
    await keeper.aclose()


async def test_async_handlers_are_awaited_in_order(
    server: FakeServer, make_connection: Make
) -> None:
    """A coroutine handler of a keeper event is awaited before the next handler and
    the next message, as the connection does; what it raises is an ``error``."""
    feed = BookFeed(server, "bybit", "BTCUSDT", seed=11)
    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    keeper = BookKeeper(ws, BYBIT, channels=[feed.channel])
    order: list[str] = []
    boom = RuntimeError("async handler bug")

    async def slow(payload: Any) -> None:
        await asyncio.sleep(0)
        order.append(f"slow {type(payload).__name__}")

    async def failing(payload: Any) -> None:
        await asyncio.sleep(0)
        raise boom

    def after(payload: Any) -> Any:
        order.append(f"after {type(payload).__name__}")
        return slow(payload) if isinstance(payload, BookUpdate) and payload.snapshot else None

    keeper.on("resync", slow)
    keeper.on("resync", failing)
    keeper.on("resync", after)
    keeper.on("synced", after)
    keeper.on("book:BTCUSDT", slow)
    keeper.on("book:BTCUSDT", after)
    rec = record(ws, keeper)
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed(feed.channel)
    await feed.publish(2)
    await wait_live(keeper, feed)
    await until(lambda: len(order) >= 10)
    assert order[:7] == [
        "slow Resync",
        "after Resync",
        "after Synced",
        "slow BookUpdate",
        "after BookUpdate",
        "slow BookUpdate",  # returned by `after` for the snapshot update
        "slow BookUpdate",
    ]
    assert rec.of("error") == [boom]

    # a drop: every symbol's resync, with async handlers, before anything else
    await server.drop()
    await rec.wait(lambda r: len(r.of("error")) == 2)
    assert "slow Resync" in order[10:]

    # removing listeners is seen at once (the handler cache is refreshed)
    keeper.remove_all_listeners("book:BTCUSDT")
    keeper.remove_all_listeners()
    count = len(order)
    await server.wait_for_client(2)
    await feed.publish(3)
    await wait_live(keeper, feed)
    assert len(order) == count
    await keeper.aclose()


async def test_several_handler_errors_are_all_reported(
    server: FakeServer, make_connection: Make
) -> None:
    feed = BookFeed(server, "binance", "BTCUSDT", seed=12)
    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    keeper = BookKeeper(ws, BINANCE_SPOT, channels=[feed.channel], snapshot=feed.snapshot)
    first, second = RuntimeError("one"), RuntimeError("two")

    def one(_payload: Any) -> None:
        raise first

    def two(_payload: Any) -> None:
        raise second

    keeper.on("book:BTCUSDT", one)
    keeper.on("book:BTCUSDT", two)
    keeper.once("resync", one)
    keeper.once("resync", two)
    rec = record(ws, keeper)
    await ws.connect()
    await server.wait_for_client()
    await feed.publish(2)
    await wait_live(keeper, feed)
    await feed.publish(1)
    await rec.wait(lambda r: len(r.of("error")) >= 6)
    assert set(map(id, rec.of("error"))) == {id(first), id(second)}
    await keeper.aclose()


async def test_a_snapshot_that_never_comes_is_asked_for_again(
    server: FakeServer, make_connection: Make
) -> None:
    """snapshot_timeout bounds a REST snapshot and a socket snapshot alike."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=13)
    feed.snapshot_gate = asyncio.Event()  # the first call hangs
    calls: list[str] = []

    async def snapshot(symbol: str) -> Any:
        calls.append(symbol)
        if len(calls) == 1:
            return await feed.snapshot(symbol)
        return {
            "lastUpdateId": feed.update_id,
            "bids": [list(level) for level in feed.truth.raw_bids()],
            "asks": [list(level) for level in feed.truth.raw_asks()],
        }

    _ws, keeper, rec = await start(
        server, make_connection, feed, snapshot=snapshot, snapshot_timeout=50 * MS
    )
    await feed.publish(2)
    await rec.wait(lambda r: len(r.of("error")) == 1)
    assert "no snapshot within 0.05" in str(rec.of("error")[0])
    await feed.publish(2)
    await wait_live(keeper, feed)
    await keeper.aclose()

    okx = BookFeed(server, "okx", "BTC-USDT", seed=14)
    ws2 = make_connection(server.url, protocol=okx.protocol(), subscriptions=[okx.channel])
    sent: list[str] = []

    async def ask(symbol: str) -> None:
        sent.append(symbol)
        if len(sent) > 1:
            await okx.send_snapshot()  # the second request is answered

    keeper2 = BookKeeper(ws2, OKX, channels=[okx.channel], snapshot=ask,
                         snapshot_timeout=50 * MS, backoff=wsevents.FixedDelay(delay=MS))
    rec2 = record(ws2, keeper2, "synced")
    await ws2.connect()
    await rec2.wait(lambda r: len(r.of("synced")) == 1)
    okx.corrupt_checksums = 1
    await okx.publish(1)
    await rec2.wait(lambda r: len(r.of("synced")) == 2)
    assert len(sent) == 2
    assert "no snapshot within" in str(rec2.of("error")[0])
    await keeper2.aclose()


async def test_closing_the_connection_ends_the_snapshot_tasks(
    server: FakeServer, make_connection: Make
) -> None:
    """No aclose(): ws.close() alone leaves no snapshot task behind (the fixture
    checks for leftover tasks)."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=15)
    feed.snapshot_gate = asyncio.Event()
    ws, keeper, _rec = await start(server, make_connection, feed)
    await feed.publish(1)
    await until(lambda: feed.snapshot_calls == 1)
    task = keeper._fetches["BTCUSDT"]
    await ws.close()
    assert task.done()
    assert not keeper._fetches


async def test_what_an_async_book_handler_raises_is_an_error_event(
    server: FakeServer, make_connection: Make
) -> None:
    """On an update applied to a LIVE book: one async handler, or several, awaited in
    order; what they raise reaches ``error``, and updates without handlers apply."""
    feed = BookFeed(server, "binance", "BTCUSDT", seed=13)
    ws = make_connection(server.url, protocol=feed.protocol(), subscriptions=[feed.channel])
    keeper = BookKeeper(ws, BINANCE_SPOT, channels=[feed.channel], snapshot=feed.snapshot)
    rec = record(ws, keeper)
    first, second = RuntimeError("one"), RuntimeError("two")
    seen: list[str] = []

    async def failing(_payload: Any) -> None:
        await asyncio.sleep(0)
        seen.append("failing")
        raise first

    async def also_failing(_payload: Any) -> None:
        seen.append("also")
        raise second

    await ws.connect()
    await server.wait_for_client()
    await feed.publish(2)
    await wait_live(keeper, feed)  # no book handler: applied all the same
    keeper.on("book:BTCUSDT", lambda _payload: seen.append("a"))
    keeper.on("book:BTCUSDT", lambda _payload: seen.append("b"))
    await feed.publish(1)
    await until(lambda: seen == ["a", "b"])
    keeper.remove_all_listeners("book:BTCUSDT")
    seen.clear()
    keeper.on("book:BTCUSDT", failing)
    await feed.publish(1)
    await rec.wait(lambda r: r.of("error") == [first])
    keeper.on("book:BTCUSDT", also_failing)
    await feed.publish(1)
    await rec.wait(lambda r: len(r.of("error")) == 3)
    assert set(map(id, rec.of("error")[1:])) == {id(first), id(second)}
    assert seen == ["failing", "failing", "also"]
    await wait_live(keeper, feed)
    await keeper.aclose()
