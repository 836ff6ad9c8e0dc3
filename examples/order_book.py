"""Order books that are never silently wrong: ``wsevents.book``.

A ``BookKeeper`` follows a connection's depth channels and keeps one
``OrderBook`` per symbol: snapshot, then every update strictly in sequence.
A lost update (a gap), a checksum mismatch, a crossed book or a lost
connection sends that symbol back to SYNCING (``resync``), fetches a new
snapshot, and ``synced`` says when the book can be trusted again; ``book:<symbol>``
fires for every update applied to a trusted book, never otherwise.

Here Bybit's ``orderbook.50`` topic, whose snapshots come on the socket.
Run it against Bybit::

    WSEVENTS_URL=wss://stream.bybit.com/v5/public/linear python examples/order_book.py

Without ``WSEVENTS_URL`` it runs against an embedded ``FakeServer`` playing a
Bybit feed that loses an update on the way.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import wsevents
from wsevents.book import BYBIT, BookKeeper, BookUpdate, Resync, Synced


# Binance serves its snapshots over REST: give the keeper a coroutine that
# fetches one (wsevents ships no HTTP client), for instance with httpx:
#
#     async def binance_depth(symbol: str) -> dict[str, Any]:
#         async with httpx.AsyncClient() as http:
#             reply = await http.get(
#                 "https://api.binance.com/api/v3/depth",
#                 params={"symbol": symbol, "limit": 1000},
#             )
#             return reply.json()  # {"lastUpdateId": ..., "bids": [...], "asks": [...]}
#
#     books = BookKeeper(
#         ws, BINANCE_SPOT, channels=["btcusdt@depth@100ms"], snapshot=binance_depth
#     )

TOPIC = "orderbook.50.BTCUSDT"
BYBIT_PROTOCOL = wsevents.JsonProtocol(
    channel_key="topic",  # Bybit's messages name their topic
    subscribe_frame=lambda topics: {"op": "subscribe", "args": list(topics)},
    unsubscribe_frame=lambda topics: {"op": "unsubscribe", "args": list(topics)},
)


async def main(url: str) -> None:
    ws = wsevents.Connection(url, protocol=BYBIT_PROTOCOL, subscriptions=[TOPIC])
    books = BookKeeper(ws, BYBIT, channels=[TOPIC])  # snapshots come on the socket
    updates = 0

    @books.on("resync")
    def on_resync(event: Resync) -> None:
        print(f"{event.symbol}: resync ({event.reason.value}) {event.detail}")

    @books.on("synced")
    def on_synced(event: Synced) -> None:
        print(f"{event.symbol}: live at update {event.update_id}")

    @books.on("book:BTCUSDT")
    async def on_book(update: BookUpdate) -> None:
        nonlocal updates
        updates += 1
        book = update.book
        if updates % 10 == 0 and book.mid is not None:
            print(f"BTCUSDT best bid {book.best_bid}, best ask {book.best_ask}, mid {book.mid}")
        if updates == 40:
            await ws.close()

    await ws.run()
    await books.aclose()


async def feed(server: Any) -> None:
    """The embedded server's script: a Bybit feed that loses an update."""
    from wsevents.book.testing import BookFeed

    bybit = BookFeed(server, "bybit", "BTCUSDT", seed=1)
    subscribe = {"op": "subscribe", "args": [TOPIC]}
    client = await server.wait_for_client()
    await client.wait_received(lambda frames: subscribe in frames)  # answered: a snapshot
    await bybit.publish(20)
    bybit.skip()  # an update lost on the way: the next one reveals the gap
    await bybit.publish(1)
    # The keeper subscribes again for a fresh snapshot (the feed sends it).
    await client.wait_received(lambda frames: frames.count(subscribe) == 2)
    await bybit.publish(30)
    await client.wait_closed()


if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"]))
    else:
        from wsevents.testing import FakeServer

        async def offline() -> None:
            async with FakeServer() as server:
                await asyncio.gather(main(server.url), feed(server))

        asyncio.run(offline())
