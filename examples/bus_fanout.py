"""Beyond one machine: one process holds the feed, a consumer group shares the work.

The publisher follows the exchange connection and writes every trade into the
Redis stream ``wsevents:trades:btcusdt@trade``; two workers of the consumer
group ``strategies`` share the trades (each one goes to one worker, and is
acknowledged once its handler returned).  In production the publisher and
each worker run in processes of their own, on any machine that reaches Redis.

Run it against a real feed and Redis::

    WSEVENTS_URL=wss://feed.example/ws WSEVENTS_REDIS_URL=redis://localhost:6379/0 \\
        python examples/bus_fanout.py

Without ``WSEVENTS_URL`` it plays trades from an embedded ``FakeServer``; it
needs a Redis (or Valkey) server either way (``WSEVENTS_REDIS_URL``, default
``redis://localhost:6379/0``); the test suite starts one.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import wsevents
from wsevents.bus import Consumer, RedisPublisher


TRADES = 200


async def main(url: str) -> None:
    redis_url = os.environ.get("WSEVENTS_REDIS_URL", "redis://localhost:6379/0")
    ws = wsevents.Connection(url, subscriptions=["btcusdt@trade"])

    publisher = RedisPublisher(redis_url, name="trades", maxlen=100_000)
    publisher.attach(ws)

    handled: Counter[str] = Counter()
    done = asyncio.Event()
    workers = [
        Consumer(redis_url, name="trades", channels=["btcusdt@trade"],
                 group="strategies", consumer=f"worker-{i}", start="0")
        for i in (1, 2)
    ]
    for worker in workers:
        @worker.on("message:btcusdt@trade")
        async def on_trade(trade: dict[str, Any], worker: Consumer = worker) -> None:
            handled[worker.consumer] += 1
            if sum(handled.values()) == TRADES:
                done.set()

        await worker.wait_ready()

    await ws.connect()
    await done.wait()
    print(f"{TRADES} trades shared by the group: {dict(handled)}")
    await ws.close()
    await publisher.close()
    for worker in workers:
        await worker.close()


async def feed(server: Any) -> None:
    """The embedded server's script: a burst of trades."""
    client = await server.wait_for_client()
    await client.wait_subscribed("btcusdt@trade")
    for n in range(TRADES):
        await server.publish("btcusdt@trade", {"price": 100 + n % 7, "qty": 1, "id": n})


#: the examples test starts a Redis server for this one (WSEVENTS_REDIS_URL)
NEEDS_REDIS = True

if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"]))
    else:
        from wsevents.testing import FakeServer

        async def offline() -> None:
            async with FakeServer() as server:
                await asyncio.gather(main(server.url), feed(server))

        asyncio.run(offline())
