"""Rate limits: stay inside a venue's frame and connection budgets.

Binance closes a connection that sends more than 5 frames in any second
(pings and pongs count) with code 1008, bans an IP that keeps doing it, and
allows 300 connection attempts per IP in 5 minutes.  A ``wsevents.RateLimit``
paces both from user code: ``await limit.acquire()`` before each frame or
attempt, and ``chunks()`` splits a long channel list into subscribe frames.

Run it against a feed::

    WSEVENTS_URL=wss://feed.example/ws python examples/rate_limit.py

Without ``WSEVENTS_URL`` it runs against an embedded ``FakeServer`` that
enforces the frame limit.
"""

from __future__ import annotations

import asyncio
import os

import wsevents
from wsevents.ratelimit import chunks


async def main(url: str) -> None:
    # 300 attempts per 5 minutes for the whole process: share this one limit
    connects = wsevents.RateLimit(300, per=300, jitter=0.2)
    # 5 frames per second per connection, with a margin: the venue counts arrivals
    frames = wsevents.RateLimit(5, per=1.1)

    channels = [f"sym{i}@trade" for i in range(1000)]
    ws = wsevents.Connection(url)
    await connects.acquire()
    await ws.connect()
    for group in chunks(channels, 200):  # at most 200 channels per frame
        await frames.acquire()
        await ws.subscribe(*group)
    for i in range(5):
        await frames.acquire()
        await ws.send({"method": "LIST_SUBSCRIPTIONS", "id": i})
    print(f"{ws.stats.messages_sent} frames sent, none over the limit")
    await ws.close()


if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"]))
    else:
        from wsevents.testing import FakeServer

        async def offline() -> None:
            async with FakeServer(client_rate_limit=(5, 1.0)) as server:
                await main(server.url)
                assert not server.violations, server.violations

        asyncio.run(offline())
