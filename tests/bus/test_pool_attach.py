"""A RedisPublisher attached to a Pool: every shard's messages and lifecycle events
reach a consumer, the shard of each lifecycle event included."""

from __future__ import annotations

import asyncio

import wsevents
from tests.bus.redis_server import RedisServer
from tests.bus.test_done_when import Collect
from tests.conftest import TRANSPORT, until
from wsevents.bus import Consumer, RedisPublisher
from wsevents.testing import FakeServer


async def test_a_pool_publishes_every_shard(redis_server: RedisServer) -> None:
    async with FakeServer() as feed:
        pool = wsevents.Pool(
            feed.url,
            subscriptions=["a", "b", "c", "d"],
            max_channels=2,
            transport=TRANSPORT,
            backoff=wsevents.FixedDelay(0.02),
        )
        publisher = RedisPublisher(redis_server.url, name="pooled")
        publisher.attach(pool)
        consumer = Consumer(
            redis_server.url, name="pooled", channels=["a", "b", "c", "d"], start="0", block=0.05
        )
        seen = Collect(consumer, ("a", "b", "c", "d"))
        consumer.start()
        try:
            await pool.connect()
            assert len(pool.shards) == 2
            await until(lambda: sum(len(c.subscriptions) for c in feed.clients) == 4)
            for seq in range(200):
                channel = "abcd"[seq % 4]
                await feed.publish(channel, {"seq": seq}, only_subscribed=True)
            await until(lambda: len(seen.all()) == 200, 10)
            for index, channel in enumerate("abcd"):
                assert seen.seqs[channel] == list(range(index, 200, 4))
            await until(lambda: len(seen.of("connect")) == 2, 10)
            assert sorted(e.shard for e in seen.of("connect")) == [s.id for s in pool.shards]
        finally:
            await pool.close()
            await asyncio.wait_for(publisher.close(), 5)
            await asyncio.wait_for(consumer.close(), 5)
