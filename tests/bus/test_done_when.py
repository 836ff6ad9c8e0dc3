"""The issue's done-when scenarios, against a real Redis server process.

Every scenario runs a FakeServer feed through a Connection and a RedisPublisher
into the server, and reads it back with Consumers.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

import wsevents
from tests.bus.redis_server import RedisServer
from tests.conftest import TRANSPORT, until
from wsevents.bus import Consumer, RedisPublisher
from wsevents.testing import FakeServer


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: the size of the group scenario (the issue asks for 100 k)
GROUP_MESSAGES = int(os.environ.get("WSEVENTS_TEST_BUS_MESSAGES", "100000"))


@pytest.fixture
async def feed() -> AsyncIterator[FakeServer]:
    async with FakeServer() as server:
        yield server


def connection(server: FakeServer, **options: Any) -> wsevents.Connection:
    options.setdefault("transport", TRANSPORT)
    options.setdefault("backoff", wsevents.FixedDelay(delay=0.02))
    return wsevents.Connection(server.url, subscriptions=["a", "b"], **options)


async def publish(server: FakeServer, start: int, stop: int) -> None:
    """Seq ``start .. stop-1``, even ones on channel a, odd ones on b."""
    for seq in range(start, stop):
        await server.publish("b" if seq % 2 else "a", {"seq": seq})


def descents(values: list[int]) -> int:
    return sum(1 for x, y in itertools.pairwise(values) if y < x)


class Collect:
    """Records what a consumer delivers: seqs per channel, and every event in order."""

    def __init__(self, consumer: Consumer, channels: tuple[str, ...] = ("a", "b")) -> None:
        self.seqs: dict[str, list[int]] = {c: [] for c in channels}
        self.events: list[tuple[str, Any]] = []
        for channel in channels:
            consumer.on(f"message:{channel}", self._message(channel))
        for name in ("connect", "disconnect", "gap", "queue_full", "bus_connect",
                     "bus_disconnect", "error"):
            consumer.on(name, self._event(name))

    def _message(self, channel: str) -> Any:
        def record(message: dict[str, Any]) -> None:
            self.seqs[channel].append(message["seq"])
            self.events.append((channel, message["seq"]))

        return record

    def _event(self, name: str) -> Any:
        return lambda payload: self.events.append((name, payload))

    def all(self) -> list[int]:
        return [seq for seqs in self.seqs.values() for seq in seqs]

    def of(self, name: str) -> list[Any]:
        return [p for n, p in self.events if n == name]


async def test_group_of_three_with_one_killed_gets_everything_once(
    feed: FakeServer, redis_server: RedisServer
) -> None:
    """N messages reach a group of 3 (one of them a process killed with SIGKILL midway)
    exactly once after dedup; a fan-out consumer sees each once, in order per channel."""
    n = GROUP_MESSAGES
    stall = min(5000, n // 10)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bus.consumer_process", redis_server.url, "feed",
         "workers", "doomed", str(stall), "a", "b"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    doomed: list[str] = []
    try:
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 20)
        assert line == "READY\n"
        workers = [
            Consumer(redis_server.url, name="feed", group="workers", consumer=f"w{i}",
                     channels=["a", "b"], start="0", claim_after=0.5, block=0.05)
            for i in (1, 2)
        ]
        watcher = Consumer(redis_server.url, name="feed", channels=["a", "b"], start="0",
                           block=0.05)
        seen = [Collect(c) for c in (*workers, watcher)]
        for c in (*workers, watcher):
            c.start()
        # block: a busy loop must not make the feed's own queue drop (picows reads in
        # large chunks); what is measured here is the bus, not the connection
        ws = connection(feed, overflow="block")
        publisher = RedisPublisher(redis_server.url, name="feed")
        publisher.attach(ws)
        await ws.connect()
        client = await feed.wait_for_client()
        await client.wait_subscribed("a", "b")
        sender = asyncio.ensure_future(publish(feed, 0, n))

        def read_child() -> None:
            assert child.stdout is not None
            for text in child.stdout:
                doomed.append(text)
                if len(doomed) >= stall:
                    return

        await asyncio.wait_for(asyncio.to_thread(read_child), 30)
        child.kill()
        child.wait(10)
        doomed.extend(child.stdout.read().splitlines(keepends=True))
        await asyncio.wait_for(sender, 40)
        await until(lambda: len(seen[2].all()) >= n, 40)
        got = {int(t.split()[1]) for t in doomed} | set(seen[0].all()) | set(seen[1].all())
        await until(
            lambda: len(set(seen[0].all()) | set(seen[1].all()) | got) >= n, 30
        )
        got |= set(seen[0].all()) | set(seen[1].all())
        assert got == set(range(n))
        assert sum(w.claimed for w in workers) > 0  # the dead one's entries were taken over
        for collect, worker in zip(seen[:2], workers, strict=True):
            for seqs in collect.seqs.values():
                # in order per channel, but for the entries claimed from the dead consumer
                assert descents(seqs) <= worker.claimed
        for channel, seqs in seen[2].seqs.items():
            assert seqs == [s for s in range(n) if (s % 2 == 1) == (channel == "b")]
        assert publisher.stats.published == n
        await ws.close()
        await publisher.close()
        for c in (*workers, watcher):
            await c.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


async def test_redis_kill_9_and_restart_with_block_loses_and_duplicates_nothing(
    feed: FakeServer, durable_redis: RedisServer
) -> None:
    """Redis (appendfsync always) killed with -9 and restarted mid-stream: with
    overflow="block" every message arrives, once, in order per channel."""
    n = 20_000
    ws = connection(feed, overflow="block", queue_size=1000)
    publisher = RedisPublisher(durable_redis.url, name="feed", buffer=2000, timeout=1.0,
                               overflow="block", backoff=wsevents.FixedDelay(delay=0.05))
    publisher.attach(ws)
    lost = asyncio.Event()
    publisher.on("bus_disconnect", lambda _e: lost.set())
    publisher.on("error", lambda _e: None)
    consumer = Consumer(durable_redis.url, name="feed", channels=["a", "b"], start="0",
                        block=0.05, timeout=1.0, backoff=wsevents.FixedDelay(delay=0.05))
    seen = Collect(consumer)
    consumer.start()
    await ws.connect()
    client = await feed.wait_for_client()
    await client.wait_subscribed("a", "b")
    sender = asyncio.ensure_future(publish(feed, 0, n))
    await until(lambda: len(seen.all()) >= n // 4, 20)
    durable_redis.kill()
    await asyncio.wait_for(lost.wait(), 10)
    durable_redis.start()
    await asyncio.wait_for(sender, 40)
    await until(lambda: len(seen.all()) >= n, 30)
    assert sorted(seen.all()) == list(range(n))
    for channel, seqs in seen.seqs.items():
        assert seqs == [s for s in range(n) if (s % 2 == 1) == (channel == "b")]
    assert seen.of("bus_disconnect")
    assert len(seen.of("bus_connect")) >= 2
    assert ws.stats.messages_dropped == 0
    await ws.close()
    await publisher.close()
    await consumer.close()


async def test_drop_oldest_loses_only_what_queue_full_reported(
    feed: FakeServer, redis_server: RedisServer
) -> None:
    """Redis stopped (SIGSTOP) while the feed runs: the bounded buffer drops its oldest
    messages, and the queue_full reports consumers receive add up to what is missing."""
    n = 6000
    ws = connection(feed)
    publisher = RedisPublisher(redis_server.url, name="feed", buffer=500, timeout=0.3,
                               overflow="drop_oldest", backoff=wsevents.FixedDelay(delay=0.05))
    publisher.attach(ws)
    errors: list[Exception] = []
    publisher.on("error", errors.append)
    consumer = Consumer(redis_server.url, name="feed", channels=["a", "b"], start="0",
                        block=0.05, timeout=0.3, backoff=wsevents.FixedDelay(delay=0.05))
    seen = Collect(consumer)
    consumer.start()
    up = asyncio.Event()
    publisher.on("bus_connect", lambda _e: up.set())
    await publisher.start()
    await asyncio.wait_for(up.wait(), 5)
    await ws.connect()
    client = await feed.wait_for_client()
    await client.wait_subscribed("a", "b")
    await publish(feed, 0, 200)
    await until(lambda: len(seen.all()) >= 200, 10)
    redis_server.pause()
    try:
        await publish(feed, 200, n)
        await until(lambda: ws.stats.messages_delivered >= n, 10)
    finally:
        redis_server.resume()
    await asyncio.wait_for(publisher.flush(), 20)
    reported = sum(q.dropped for q in seen.of("queue_full"))

    def complete() -> bool:
        return len(seen.all()) + sum(q.dropped for q in seen.of("queue_full")) >= n

    await until(complete, 20)
    reported = sum(q.dropped for q in seen.of("queue_full"))
    got = seen.all()
    assert reported > 0
    assert len(got) == len(set(got))
    assert len(got) + reported == n
    assert reported == publisher.stats.dropped
    assert any(isinstance(e, wsevents.BusError) for e in errors)
    await ws.close()
    await publisher.close()
    await consumer.close()


async def test_gap_and_disconnect_reach_the_consumer_between_the_right_messages(
    feed: FakeServer, redis_server: RedisServer
) -> None:
    """A gap on channel a arrives between a's messages around it; a feed disconnect
    arrives before the first message received after it, on either channel."""
    ws = connection(feed, sequence={"a": lambda m: m["seq"]})
    publisher = RedisPublisher(redis_server.url, name="feed")
    publisher.attach(ws)
    consumer = Consumer(redis_server.url, name="feed", channels=["a", "b"], start="0",
                        block=0.05)
    seen = Collect(consumer)
    consumer.start()
    await ws.connect()
    client = await feed.wait_for_client()
    await client.wait_subscribed("a", "b")
    for seq in (1, 2, 3):
        await feed.publish("a", {"seq": seq})
        await feed.publish("b", {"seq": 100 + seq})
    await feed.publish("a", {"seq": 5})  # 4 is missing
    await feed.publish("a", {"seq": 6})
    await until(lambda: ws.stats.messages_delivered >= 8)
    await feed.drop()
    client = await feed.wait_for_client(2)
    await client.wait_subscribed("a", "b")
    await feed.publish("b", {"seq": 200})
    await feed.publish("a", {"seq": 7})
    await until(lambda: len(seen.all()) >= 10)
    a_view = [e for e in seen.events if e[0] in ("a", "gap")]
    assert [e if e[0] == "a" else ("gap", e[1].expected, e[1].received) for e in a_view] == [
        ("a", 1), ("a", 2), ("a", 3), ("gap", 4, 5), ("a", 5), ("a", 6), ("a", 7)
    ]
    names = [name if name not in ("a", "b") else seq for name, seq in seen.events
             if name in ("a", "b", "disconnect", "connect")]
    # one connect, one disconnect, one reconnect: each once, though written into
    # both channel streams
    assert names.count("disconnect") == 1
    assert names.count("connect") == 2
    assert names.index("disconnect") < names.index(200)
    assert names.index("disconnect") < names.index(7)
    assert names.index("disconnect") > names.index(6)
    assert seen.of("disconnect")[0].reason is wsevents.DisconnectReason.NETWORK_ERROR
    await ws.close()
    await publisher.close()
    await consumer.close()


async def test_feed_answers_pings_through_a_10_second_redis_outage(
    redis_server: RedisServer,
) -> None:
    """Redis hangs (SIGSTOP) for 10 s: the exchange connection keeps answering the
    server's pings, keeps its own pings answered, and never disconnects."""
    async with FakeServer(ping_interval=0.1, ping_timeout=0.5) as server:
        ws = wsevents.Connection(server.url, subscriptions=["a"], transport=TRANSPORT,
                                 ping_interval=0.1, ping_timeout=0.5)
        publisher = RedisPublisher(redis_server.url, name="feed", timeout=0.5,
                                   backoff=wsevents.FixedDelay(delay=0.1))
        publisher.on("error", lambda _e: None)
        publisher.attach(ws)
        await ws.connect()
        client = await server.wait_for_client()
        await client.wait_subscribed("a")
        redis_server.pause()
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + 10.0
            seq = 0
            while loop.time() < end:
                await server.publish("a", {"seq": seq})
                seq += 1
                await asyncio.sleep(0.005)  # the feed's pace, not synchronisation
            await until(lambda: ws.stats.messages_delivered >= seq)
            assert ws.stats.disconnects == 0
            assert server.handshakes == 1
            assert not client.closed
        finally:
            redis_server.resume()
        await asyncio.wait_for(publisher.flush(), 10)
        assert publisher.stats.published == seq
        await ws.close()
        await publisher.close()
