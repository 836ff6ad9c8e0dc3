"""A bus Consumer's stats, and the same through wsevents.metrics: a real HTTP
scrape shows every counter moving as the test drives faults (issue 14)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

import wsevents
from tests.bus.redis_server import RedisServer
from tests.bus.test_publisher import Source
from tests.conftest import until
from tests.integration.test_metrics import registry, scrape, value  # noqa: F401 - a fixture
from wsevents.bus import Consumer, ConsumerStats, RedisPublisher
from wsevents.metrics import BUS_COUNTERS, StatsCollector


async def group_feed(server: RedisServer) -> tuple[RedisPublisher, Source, Consumer]:
    """A started publisher of feed "feed" (channel "a"), its source, and a group
    consumer of it (not started)."""
    publisher = RedisPublisher(server.url, name="feed")
    source = Source(subscriptions=("a",))
    publisher.attach(source)
    await publisher.start()
    bus = Consumer(server.url, name="feed", channels=["a"], group="g", start="0", block=0.05)
    return publisher, source, bus


async def test_consumer_counters_move_and_are_scraped(
    durable_redis: RedisServer, registry: tuple[CollectorRegistry, str]  # noqa: F811
) -> None:
    """Messages, a raising handler, a malformed entry, a relayed gap and
    disconnect, acknowledgements and a Redis outage: each moves its counter, in
    ``stats`` and in the scrape.  (A server that keeps its data: one without
    loses the group on a restart, which the consumer takes as another outage.)"""
    redis_server = durable_redis
    reg, url = registry
    publisher, source, bus = await group_feed(redis_server)
    StatsCollector(bus, feed="f", registry=reg)
    errors: list[Exception] = []
    bus.on("error", errors.append)
    got: list[int] = []

    @bus.on("message:a")
    def handler(message: dict[str, Any]) -> None:
        got.append(message["seq"])
        if message["seq"] == 2:
            raise ValueError("boom")

    before = await scrape(url)
    assert value(before, "wsevents_connected") == 0
    assert value(before, "wsevents_messages_received_total") == 0
    assert bus.stats == ConsumerStats(
        messages_received=0, messages_delivered=0, handler_errors=0, decode_errors=0,
        duplicates_dropped=0, gaps=0, queue_depth=0, queue_peak=0, entries_read=0,
        entries_acked=0, entries_claimed=0, dead_letters=0, connects=0, disconnects=0,
    )
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        async with bus:
            for seq in (1, 2, 3):
                source.deliver("message:a", {"seq": seq})
            source.deliver("gap", wsevents.Gap(channel="a", expected=4, received=6, missing=2))
            lost = wsevents.Disconnected(reason=wsevents.DisconnectReason.PING_TIMEOUT)
            source.deliver("disconnect", lost)
            await asyncio.wait_for(publisher.flush(), 5)
            await raw.xadd("wsevents:feed:a", {"x": "y"})  # not an entry of ours
            await until(lambda: len(got) == 3 and len(errors) == 2)
            await until(lambda: bus.stats.entries_acked >= 2)
            stats = bus.stats
            assert stats.messages_received == 3
            assert stats.messages_delivered == 3
            assert stats.handler_errors == 1
            assert stats.decode_errors == 1
            assert stats.gaps == 1
            assert stats.entries_read == 2
            assert stats.connects == 1
            assert bus.connected
            scraped = await scrape(url)
            assert value(scraped, "wsevents_connected") == 1
            assert value(scraped, "wsevents_messages_received_total") == 3
            assert value(scraped, "wsevents_messages_delivered_total") == 3
            assert value(scraped, "wsevents_handler_errors_total") == 1
            assert value(scraped, "wsevents_decode_errors_total") == 1
            assert value(scraped, "wsevents_gaps_total") == 1
            assert value(scraped, "wsevents_entries_read_total") == 2
            assert value(scraped, "wsevents_entries_acked_total") >= 2
            # (entries_claimed and dead_letters: tests/bus/test_consumer.py drives them)
            assert {f"wsevents_{name}_total" for name in BUS_COUNTERS} <= {n for n, _ in scraped}
            assert value(scraped, "wsevents_disconnects_by_reason_total",
                         reason="ping_timeout") == 1

            redis_server.kill()  # an outage under the consumer
            await until(lambda: bus.stats.disconnects == 1 and not bus.connected)
            redis_server.start()
            await until(lambda: bus.connected and bus.stats.connects == 2)
            scraped = await scrape(url)
            assert value(scraped, "wsevents_disconnects_total") == 1
            assert value(scraped, "wsevents_connects_total") == 2
            assert value(scraped, "wsevents_connected") == 1
    finally:
        await raw.aclose()
        await publisher.close()


async def test_a_group_deleted_under_the_consumer_is_created_again_without_an_outage(
    redis_server: RedisServer,
) -> None:
    """XGROUP DESTROY while a group consumer reads: it creates the group again on
    the same connection (no bus_disconnect, no outage counted) and reads on."""
    publisher, source, bus = await group_feed(redis_server)
    got: list[int] = []
    bus.on("message:a", lambda m: got.append(m["seq"]))
    lost: list[Any] = []
    bus.on("bus_disconnect", lost.append)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        async with bus:
            source.deliver("message:a", {"seq": 1})
            await asyncio.wait_for(publisher.flush(), 5)
            await until(lambda: got == [1])
            await raw.xgroup_destroy("wsevents:feed:a", "g")
            await until(lambda: bus.stats.entries_read >= 2)  # entry 1 again: a new group
            source.deliver("message:a", {"seq": 2})
            await asyncio.wait_for(publisher.flush(), 5)
            await until(lambda: got[-1:] == [2])
            assert got == [1, 1, 2]  # the new group starts at "0": at least once
            assert lost == []
            assert bus.stats.disconnects == 0
            assert bus.stats.connects == 1
    finally:
        await raw.aclose()
        await publisher.close()
