"""Many connections as one: a wsevents.Pool spreads 2,500 channels over as
many connections as the venue's caps need, and delivers them all to one set of
handlers.

The venue here takes 1,024 channels per connection and 200 per subscribe
frame, closes a connection that sends a sixth frame in any second, and takes
10 connection attempts per second: the pool opens ceil(2500 / 1024) = 3
shards, splits and paces their subscribe frames, and after a blip brings every
shard back through the one connect budget.

Run it against a feed::

    WSEVENTS_URL=wss://feed.example/ws python examples/pool.py

Without ``WSEVENTS_URL`` it runs against an embedded ``FakeServer`` that
enforces those limits.
"""

from __future__ import annotations

import asyncio
import os

import attrs

import wsevents
from wsevents.testing import FakeServer


@attrs.frozen
class Venue(wsevents.JsonProtocol):
    """JSON channels, and what the venue allows."""

    max_channels = 1024  # channels per connection
    max_channels_per_frame = 200  # channels per subscribe frame
    send_limit = (5, 1.0)  # frames per second per connection
    connect_limit = (10, 1.0)  # connection attempts per second per IP


async def main(url: str) -> None:
    pool = wsevents.Pool(
        url,
        protocol=Venue(),
        subscriptions=[f"sym{i}@trade" for i in range(2500)],
        connect_limit=wsevents.RateLimit(10, per=1.1, jitter=0.5),  # every attempt of every shard
    )
    trades = asyncio.Queue()

    @pool.on("connect")
    def on_connect(event):
        print(f"shard {event.shard} connected (attempt {event.attempt})")

    @pool.on("message:sym42@trade")
    def on_trade(trade):
        trades.put_nowait(trade)

    await pool.connect()
    print([len(shard.subscriptions) for shard in pool.shards], "channels per shard")
    print("first trade:", await asyncio.wait_for(trades.get(), 10))
    stats = pool.stats
    print(f"{stats.connects} connections, {stats.messages_sent} frames sent")
    await pool.close()


async def feed(server: FakeServer) -> None:
    """Trades on sym42@trade once someone subscribed to it (the tests run this)."""
    await server.wait_received(
        lambda _: any("sym42@trade" in client.subscriptions for client in server.clients),
        timeout=10,
    )
    await server.publish("sym42@trade", {"price": "101.5"}, only_subscribed=True)


if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"]))
    else:

        async def offline() -> None:
            async with FakeServer(max_channels=1024, client_rate_limit=(5, 1.0)) as server:
                publishing = asyncio.ensure_future(feed(server))
                await main(server.url)
                await publishing
                assert not server.violations, server.violations

        asyncio.run(offline())
