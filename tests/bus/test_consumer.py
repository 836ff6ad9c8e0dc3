"""Consumer against a real Redis server: fan-out, groups, claims, dead letters, resume."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

import wsevents
from tests.bus.redis_server import RedisServer
from tests.bus.test_publisher import Source
from tests.conftest import until
from wsevents.bus import Consumer, RedisPublisher


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def feed(redis_server: RedisServer) -> AsyncIterator[tuple[RedisPublisher, Source]]:
    """A publisher of feed "feed" and the source it follows."""
    publisher = RedisPublisher(redis_server.url, name="feed")
    source = Source(subscriptions=("a",))
    publisher.attach(source)
    await publisher.start()
    yield publisher, source
    await publisher.close()


async def send(feed: tuple[RedisPublisher, Source], *seqs: int, channel: str = "a") -> None:
    """Publish ``seqs`` as one entry."""
    publisher, source = feed
    for seq in seqs:
        source.deliver(f"message:{channel}", {"seq": seq})
    await asyncio.wait_for(publisher.flush(), 5)


def consumer(server: RedisServer, **options: Any) -> Consumer:
    options.setdefault("name", "feed")
    options.setdefault("channels", ["a"])
    options.setdefault("block", 0.05)
    return Consumer(server.url, **options)


def collect(bus: Consumer, event: str = "message:a") -> list[Any]:
    got: list[Any] = []
    bus.on(event, lambda m: got.append(m["seq"] if isinstance(m, dict) else m))
    return got


async def pending(raw: aioredis.Redis, group: str = "g") -> int:
    info = await raw.xpending("wsevents:feed:a", group)
    return int(info["pending"])


async def test_fan_out_from_now_from_zero_from_an_id_and_from_a_time(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source], raw: aioredis.Redis
) -> None:
    """start="$" skips what was there; "0" replays everything; an entry id replays what
    follows it; a time replays from then."""
    await send(feed, 1, 2)
    first_id = (await raw.xrange("wsevents:feed:a"))[0][0].decode()
    await send(feed, 3)
    buses = (
        consumer(redis_server), consumer(redis_server, start="0"),
        consumer(redis_server, start=first_id),
        consumer(redis_server, start=time.time() - 3600),
    )
    got = [collect(c) for c in buses]
    for c in buses:
        await asyncio.wait_for(c.wait_ready(), 5)
    await until(lambda: len(got[1]) == 3)
    await send(feed, 4)
    await until(lambda: [len(g) for g in got] == [1, 4, 2, 4])
    assert got == [[4], [1, 2, 3, 4], [3, 4], [1, 2, 3, 4]]
    assert buses[1].last_ids["a"] == buses[0].last_ids["a"]
    for c in buses:
        await c.close()


async def test_handlers_run_in_order_async_awaited_errors_reported_and_acked(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source], raw: aioredis.Redis
) -> None:
    """Async handlers are awaited one at a time, in order; a raising handler is an
    error event and its entry is acknowledged like the others."""
    bus = consumer(redis_server, group="g", start="0")
    order: list[int] = []
    errors: list[Exception] = []

    @bus.on("message:a")
    async def handle(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        order.append(message["seq"])
        if message["seq"] == 2:
            raise ValueError("boom")

    bus.on("error", errors.append)
    await send(feed, 1, 2, 3)
    async with bus:
        await until(lambda: len(order) == 3)
        await until(lambda: bool(errors))
        await send(feed, 4)  # the next read also sends the acknowledgements
        await until(lambda: len(order) == 4)
    assert order == [1, 2, 3, 4]
    assert "boom" in str(errors[0])
    assert bus.handler_errors == 1
    assert bus.delivered == 4
    assert await pending(raw) == 0


async def test_an_entry_is_acknowledged_only_after_its_handler_returned(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source], raw: aioredis.Redis
) -> None:
    """While a handler runs, its entry stays pending in the group."""
    bus = consumer(redis_server, group="g", start="0")
    release = asyncio.Event()
    started = asyncio.Event()

    @bus.on("message:a")
    async def handle(message: dict[str, Any]) -> None:
        started.set()
        await release.wait()

    await send(feed, 1)
    bus.start()
    await asyncio.wait_for(started.wait(), 5)
    assert await pending(raw) == 1
    release.set()
    await until(lambda: bus.delivered == 1)
    await bus.close()
    assert await pending(raw) == 0


async def test_restart_with_the_same_name_resumes_its_pending_entries(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """A consumer stopped with unhandled entries gets them back when restarted under
    the same name; nothing published meanwhile is lost."""
    first = consumer(redis_server, group="g", consumer="one", start="0")
    started = asyncio.Event()

    @first.on("message:a")
    async def stuck(message: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()  # never returns: the process "dies" here

    await send(feed, 1, 2)
    first.start()
    await asyncio.wait_for(started.wait(), 5)
    await first.close(timeout=0.05)
    await send(feed, 3)
    again = consumer(redis_server, group="g", consumer="one")
    got = collect(again)
    async with again:
        await until(lambda: len(got) == 3)
    assert got == [1, 2, 3]


async def test_a_dead_consumers_entries_are_claimed_then_dead_lettered(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source], raw: aioredis.Redis
) -> None:
    """Entries of a consumer that never acknowledges are claimed by another after
    claim_after; after max_deliveries deliveries they go to the dead-letter stream
    with an error event, and are not retried again."""

    async def dies(name: str) -> Consumer:
        bus = consumer(redis_server, group="g", consumer=name, start="0", claim_after=0.1)
        started = asyncio.Event()

        @bus.on("message:a")
        async def stuck(message: dict[str, Any]) -> None:
            started.set()
            await asyncio.Event().wait()

        bus.start()
        await asyncio.wait_for(started.wait(), 5)
        await bus.close(timeout=0.01)
        return bus

    await send(feed, 1)
    await dies("one")  # delivery 1
    second = await dies("two")  # delivery 2: claimed
    assert second.claimed == 1
    third = consumer(redis_server, group="g", consumer="three", claim_after=0.1,
                     max_deliveries=2)
    errors: list[Exception] = []
    third.on("error", errors.append)
    got = collect(third)
    async with third:
        await until(lambda: bool(errors))
    assert isinstance(errors[0], wsevents.BusError)
    assert "wsevents:feed:_dead" in str(errors[0])
    assert got == []
    assert third.dead_letters == 1
    dead = await raw.xrange("wsevents:feed:_dead")
    assert dead[0][1][b"stream"] == b"wsevents:feed:a"
    assert dead[0][1][b"deliveries"] == b"2"
    assert await pending(raw) == 0


async def test_lifecycle_only_consumer_reads_the_events_stream(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """Without channels, a consumer gets the feed's lifecycle events from _events."""
    publisher, source = feed
    bus = consumer(redis_server, channels=(), start="0")
    gaps = collect(bus, "gap")
    source.deliver("gap", wsevents.Gap(channel="a", expected=2, received=4, missing=2))
    await asyncio.wait_for(publisher.flush(), 5)
    async with bus:
        await until(lambda: len(gaps) == 1)
    assert gaps[0] == wsevents.Gap(channel="a", expected=2, received=4, missing=2)
    assert bus.last_ids["_events"]


async def test_consumer_redis_loss_and_return_are_events(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """The consumer's own Redis connection: bus_disconnect then bus_connect, distinct
    from the feed's connect/disconnect; reading resumes after the restart."""
    bus = consumer(redis_server, timeout=0.5, backoff=wsevents.FixedDelay(delay=0.02))
    names: list[str] = []
    bus.on("bus_connect", lambda _e: names.append("bus_connect"))
    bus.on("bus_disconnect", lambda _e: names.append("bus_disconnect"))
    got = collect(bus)
    async with bus:
        await asyncio.wait_for(bus.wait_ready(), 5)
        assert names == ["bus_connect"]
        redis_server.kill()
        await until(lambda: "bus_disconnect" in names)
        redis_server.start()
        await until(lambda: names.count("bus_connect") == 2)
        await send(feed, 7)
        await until(lambda: got == [7])


async def test_malformed_and_trimmed_entries(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    """An entry that is not the publisher's format is an error event, and skipped."""
    await raw.xadd("wsevents:feed:a", {"x": "y"})
    await raw.xadd("wsevents:feed:a", {"r": "run", "d": "{}"})
    await raw.xadd("wsevents:feed:a", {"r": "run", "d": "[[[1], 0, {}, \"gap\"]]"})
    await raw.xadd("wsevents:feed:a", {"r": "run", "d": "[[1, 0, {\"seq\": 5}]]"})
    bus = consumer(redis_server, group="g", start="0")
    errors: list[Exception] = []
    bus.on("error", errors.append)
    got = collect(bus)
    async with bus:
        await until(lambda: got == [5])
    assert len(errors) == 3
    assert all("malformed entry" in str(e) for e in errors)


async def test_a_small_queue_makes_the_reader_wait(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """queue_size bounds what waits for the handlers: the reader waits, nothing is lost."""
    bus = consumer(redis_server, start="0", queue_size=2)
    got: list[int] = []

    @bus.on("message:a")
    async def slow(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        got.append(message["seq"])

    await send(feed, *range(50))
    async with bus:
        await until(lambda: len(got) == 50)
    assert got == list(range(50))


async def test_a_lost_group_is_created_again(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """A Redis restarted without persistence has lost the group: the consumer creates
    it again and goes on."""
    bus = consumer(redis_server, group="g", start="0", timeout=0.5,
                   backoff=wsevents.FixedDelay(delay=0.02))
    got = collect(bus)
    async with bus:
        await asyncio.wait_for(bus.wait_ready(), 5)
        await send(feed, 1)
        await until(lambda: got == [1])
        redis_server.restart()
        await send(feed, 2)
        await until(lambda: got == [1, 2])


async def test_run_until_closed(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """run() serves until close() is called."""
    bus = consumer(redis_server, start="0")
    got = collect(bus)
    await send(feed, 1)
    running = asyncio.ensure_future(bus.run())
    await until(lambda: got == [1])
    await bus.close()
    await asyncio.wait_for(running, 5)


async def test_close_is_bounded_with_a_stuck_handler_and_a_full_queue(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """The reader waits for room behind a handler that never returns: close() still
    ends, within its timeout."""
    bus = consumer(redis_server, start="0", queue_size=1)
    started = asyncio.Event()

    @bus.on("message:a")
    async def stuck(message: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    await send(feed, *range(5))
    bus.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(bus.close(timeout=0.05), 5)


async def test_a_key_of_the_wrong_type_is_reported(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    """A channel key that is not a stream: the group cannot be created, and the
    consumer says so (bus_disconnect with the error) instead of hanging silently."""
    await raw.set("wsevents:feed:a", "text")
    bus = consumer(redis_server, group="g", backoff=wsevents.FixedDelay(delay=0.02))
    lost: list[Any] = []
    bus.on("bus_disconnect", lost.append)
    async with bus:
        await until(lambda: bool(lost))
    assert "WRONGTYPE" in lost[0].error


async def test_many_lifecycle_events_are_each_delivered_once(
    redis_server: RedisServer, feed: tuple[RedisPublisher, Source]
) -> None:
    """Lifecycle events written into several streams are delivered once each, however
    many (the memory of those seen is bounded)."""
    publisher, source = feed
    source.subscriptions = ("a", "b")
    bus = consumer(redis_server, channels=["a", "b"], start="0")
    gaps = collect(bus, "gap")
    for n in range(5000):
        source.deliver("connect", wsevents.Connected(url="ws://x/", attempt=n, is_reconnect=True,
                                                     downtime=0.0))
    source.deliver("gap", wsevents.Gap(channel="a", expected=1, received=3, missing=2))
    await asyncio.wait_for(publisher.flush(), 10)
    connects = collect(bus, "connect")
    async with bus:
        await until(lambda: len(connects) == 5000 and len(gaps) == 1, 20)
    assert [c.attempt for c in connects] == list(range(5000))


async def test_close_while_redis_is_down_or_hung(redis_server: RedisServer) -> None:
    """close() ends a consumer waiting in its reconnect backoff at once, and one stuck
    connecting to a hung (SIGSTOP) server within its bounds."""
    bus = consumer(redis_server, backoff=wsevents.FixedDelay(delay=30.0))
    lost = asyncio.Event()
    bus.on("bus_disconnect", lambda _e: lost.set())
    redis_server.kill()
    bus.start()
    await asyncio.wait_for(lost.wait(), 5)
    await asyncio.wait_for(bus.close(), 2)

    redis_server.start()
    redis_server.pause()
    try:
        hung = consumer(redis_server, timeout=5.0)
        with pytest.raises(asyncio.TimeoutError):  # stuck connecting: PING unanswered
            await asyncio.wait_for(hung.wait_ready(), 0.3)
        await asyncio.wait_for(hung.close(timeout=0.1), 5)
    finally:
        redis_server.resume()
