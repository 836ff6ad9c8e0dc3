"""RedisPublisher against a real Redis server: layout, trimming, failures, overflow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

import wsevents
from tests.bus.redis_server import RedisServer
from tests.conftest import TRANSPORT, until
from wsevents.bus import RedisPublisher
from wsevents.bus._encoding import loads
from wsevents.testing import FakeServer


class Source:
    """The smallest thing a publisher attaches to: add_observer / remove_observer."""

    def __init__(self, subscriptions: tuple[str, ...] = (), overflow: str | None = None) -> None:
        self.observers: list[Callable[[str, Any], Any]] = []
        self.subscriptions = subscriptions
        if overflow is not None:
            self.overflow = overflow

    def add_observer(self, fn: Callable[[str, Any], Any]) -> None:
        self.observers.append(fn)

    def remove_observer(self, fn: Callable[[str, Any], Any]) -> None:
        self.observers.remove(fn)

    def deliver(self, name: str, payload: Any) -> Any:
        results = [fn(name, payload) for fn in self.observers]
        return results[0] if results else None


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def records(raw: aioredis.Redis, key: str) -> list[list[Any]]:
    return [rec for _id, fields in await raw.xrange(key) for rec in loads(fields[b"d"])]


async def test_layout_of_streams_and_entries(redis_server: RedisServer,
                                            raw: aioredis.Redis) -> None:
    """Messages go to wsevents:<name>:<channel> in batch entries; lifecycle events go to
    _events and into every channel stream, with one global publish sequence."""
    publisher = RedisPublisher(redis_server.url, name="feed", sequence=lambda m: m["seq"],
                               dedup_key=lambda m: m["seq"] * 10)
    source = Source(subscriptions=("a", "b"))
    publisher.attach(source)
    assert publisher.overflow == "drop_oldest"
    connected = wsevents.Connected(url="ws://x/", attempt=1, is_reconnect=False, downtime=0.0)
    source.deliver("connect", connected)
    for seq in range(3):
        source.deliver("message:a", {"seq": seq})
    source.deliver("message", {"seq": 9})  # unrouted
    source.deliver("error", ValueError("not published"))
    await asyncio.wait_for(publisher.flush(), 5)
    a = await records(raw, "wsevents:feed:a")
    assert [r[0] for r in a] == [1, 2, 3, 4]
    assert a[0][3] == "connect"
    assert [(r[2], r[3], r[4]) for r in a[1:]] == [({"seq": s}, s, str(s * 10)) for s in range(3)]
    assert (await records(raw, "wsevents:feed:b"))[0][3] == "connect"
    assert [r[3] for r in await records(raw, "wsevents:feed:_events")] == ["connect"]
    assert (await records(raw, "wsevents:feed:_message"))[0][2] == {"seq": 9}
    entries = await raw.xrange("wsevents:feed:a")
    assert len(entries) == 1  # one flush: one entry
    assert set(entries[0][1]) == {b"r", b"d"}
    stats = publisher.stats
    assert stats.published == 4
    assert stats.pending == 0
    publisher.detach(source)
    assert not source.observers
    await publisher.close()


async def test_a_failing_sequence_function_is_an_error(redis_server: RedisServer) -> None:
    """sequence= raising: an error event, and the message is still published."""
    publisher = RedisPublisher(redis_server.url, name="feed", sequence=lambda m: m["nope"])
    errors: list[Exception] = []
    publisher.on("error", errors.append)
    source = Source()
    publisher.attach(source)
    source.deliver("message:a", {"seq": 1})
    await asyncio.wait_for(publisher.flush(), 5)
    assert "sequence/dedup_key function failed" in str(errors[0])
    assert publisher.stats.published == 1
    await publisher.close()


async def test_trimming_by_length(redis_server: RedisServer, raw: aioredis.Redis) -> None:
    """maxlen: streams are trimmed (MAXLEN ~) as they are written."""
    publisher = RedisPublisher(redis_server.url, name="feed", maxlen=10)
    source = Source()
    publisher.attach(source)
    for seq in range(400):
        source.deliver("message:a", {"seq": seq})
        await publisher.flush()  # one entry each
    assert publisher.stats.entries == 400
    assert await raw.xlen("wsevents:feed:a") < 400
    await publisher.close()


async def test_trimming_by_age(redis_server: RedisServer, raw: aioredis.Redis) -> None:
    """max_age: entries older than it are trimmed (MINID ~)."""
    for n in range(300):
        await raw.xadd("wsevents:feed:a", {"r": "old", "d": "[]"}, id=f"{1000 + n}-0")
    publisher = RedisPublisher(redis_server.url, name="feed", max_age=60)
    source = Source()
    publisher.attach(source)
    source.deliver("message:a", {"seq": 1})
    await publisher.flush()
    assert await raw.xlen("wsevents:feed:a") < 300
    await publisher.close()


async def test_a_stream_ahead_of_the_clock_is_continued(redis_server: RedisServer,
                                                        raw: aioredis.Redis) -> None:
    """A stream whose last id is in the future (another clock): the publisher writes
    after it instead of failing."""
    await raw.xadd("wsevents:feed:a", {"r": "x", "d": "[]"}, id="99999999999999-5")
    publisher = RedisPublisher(redis_server.url, name="feed")
    source = Source()
    publisher.attach(source)
    source.deliver("message:a", {"seq": 1})
    await asyncio.wait_for(publisher.flush(), 5)
    last = await raw.xrevrange("wsevents:feed:a", count=1)
    assert last[0][0] == b"99999999999999-6"
    assert publisher.stats.published == 1
    await publisher.close()


async def test_an_entry_redis_refuses_is_reported_lost(redis_server: RedisServer,
                                                       raw: aioredis.Redis) -> None:
    """A key of the wrong type: the entry's messages are counted as dropped, with an
    error (BusError) and a queue_full report; other streams are unaffected."""
    await raw.set("wsevents:feed:a", "not a stream")
    publisher = RedisPublisher(redis_server.url, name="feed")
    errors: list[Exception] = []
    reports: list[wsevents.QueueFull] = []
    publisher.on("error", errors.append)
    publisher.on("queue_full", reports.append)
    source = Source()
    publisher.attach(source)
    source.deliver("message:a", {"seq": 1})
    source.deliver("message:b", {"seq": 2})
    await asyncio.wait_for(publisher.flush(), 5)
    await asyncio.wait_for(publisher.flush(), 5)  # the report itself
    assert isinstance(errors[0], wsevents.BusError)
    assert "WRONGTYPE" in str(errors[0])
    assert reports[0].dropped == 1
    assert publisher.stats.dropped == 1
    assert await raw.xlen("wsevents:feed:b") >= 1
    await publisher.close()


async def test_drop_newest_and_block_overflow(redis_server: RedisServer) -> None:
    """Past the buffer: drop_newest drops the new message; block returns an awaitable
    that completes once the writer made room."""
    for mode in ("drop_newest", "block"):
        publisher = RedisPublisher(redis_server.url, name=f"feed{mode}", buffer=2, timeout=0.3)
        source = Source(overflow=mode)
        publisher.attach(source)
        assert publisher.overflow == mode
        errors: list[Exception] = []
        publisher.on("error", errors.append)
        await publisher.start()
        redis_server.pause()
        waits = []
        try:
            for seq in range(5):
                result = source.deliver("message:a", {"seq": seq})
                if result is not None:
                    waits.append(result)
        finally:
            redis_server.resume()
        if mode == "drop_newest":
            assert publisher.stats.dropped >= 2
            assert any("dropped" in str(e) for e in errors)
            assert not waits
        else:
            assert waits
            await asyncio.wait_for(asyncio.gather(*waits), 10)
            await asyncio.wait_for(publisher.flush(), 10)
            assert publisher.stats.published == 5
            assert publisher.stats.dropped == 0
        await publisher.close()


async def test_bus_connection_events_and_reconnect(redis_server: RedisServer) -> None:
    """The publisher's own Redis connection: bus_connect / bus_disconnect events,
    reconnect through the backoff, nothing lost."""
    publisher = RedisPublisher(redis_server.url, name="feed", timeout=0.5,
                               backoff=wsevents.FixedDelay(delay=0.02))
    events: list[Any] = []
    publisher.on("bus_connect", events.append)
    publisher.on("bus_disconnect", events.append)
    source = Source()
    publisher.attach(source)
    async with publisher:
        await until(lambda: len(events) == 1)
        redis_server.kill()
        source.deliver("message:a", {"seq": 1})
        await until(lambda: len(events) == 2)
        redis_server.start()
        await asyncio.wait_for(publisher.flush(), 10)
    assert [type(e).__name__ for e in events] == ["BusConnected", "BusDisconnected",
                                                  "BusConnected"]
    assert events[2].is_reconnect
    assert publisher.stats.published == 1


async def test_pipelines_in_flight_when_redis_hangs_are_written_once(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    """Pipelines go out without waiting for the last one's replies; when Redis hangs
    with some in flight, they are written again after the reconnect, and what the
    hung server applied meanwhile is not written twice."""
    publisher = RedisPublisher(redis_server.url, name="feed", timeout=0.3,
                               backoff=wsevents.FixedDelay(delay=0.05))
    lost: list[Any] = []
    publisher.on("bus_disconnect", lost.append)
    source = Source()
    publisher.attach(source)
    async with publisher:
        source.deliver("message:a", {"seq": 0})
        await asyncio.wait_for(publisher.flush(), 5)
        redis_server.pause()
        for seq in range(1, 4):  # three pipelines, sent at once, unanswered
            source.deliver("message:a", {"seq": seq})
            await until(lambda s=seq: publisher._pipe.depth == s)
        await until(lambda: bool(lost))
        redis_server.resume()
        await asyncio.wait_for(publisher.flush(), 10)
    got = await records(raw, "wsevents:feed:a")
    assert [r[2]["seq"] for r in got] == [0, 1, 2, 3]
    assert publisher.stats.published == 4


async def test_close_gives_up_on_a_dead_redis_within_its_timeout(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """close() is bounded even when Redis never comes back; without an error handler,
    errors are logged."""
    publisher = RedisPublisher(redis_server.url, name="feed", timeout=0.2,
                               backoff=wsevents.FixedDelay(delay=0.02))
    source = Source()
    publisher.attach(source)
    await publisher.start()
    redis_server.kill()
    source.deliver("message:a", {"seq": 1})
    await asyncio.wait_for(publisher.close(timeout=0.3), 5)
    assert publisher.stats.pending == 1
    assert "lost Redis" in caplog.text


async def test_handler_errors_of_the_publisher_are_logged(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising handler of the publisher's own events never stops it."""
    publisher = RedisPublisher(redis_server.url, name="feed")
    publisher.on("bus_connect", lambda e: 1 / 0)
    source = Source()
    publisher.attach(source)
    source.deliver("message:a", {"seq": 1})
    await asyncio.wait_for(publisher.flush(), 5)
    assert publisher.stats.published == 1
    assert "ZeroDivisionError" in caplog.text
    await publisher.close()


async def test_attached_to_a_connection(redis_server: RedisServer, raw: aioredis.Redis) -> None:
    """On a real Connection: the subscriptions name the channel streams of lifecycle
    events before any message arrived."""
    async with FakeServer() as server:
        ws = wsevents.Connection(server.url, subscriptions=["a"], transport=TRANSPORT)
        publisher = RedisPublisher(redis_server.url, name="feed")
        publisher.attach(ws)
        await ws.connect()
        await asyncio.wait_for(publisher.flush(), 5)
        assert [r[3] for r in await records(raw, "wsevents:feed:a")] == ["connect"]
        await ws.close()
        await asyncio.wait_for(publisher.flush(), 5)
        names = [r[3] for r in await records(raw, "wsevents:feed:_events")]
        assert names[0] == "connect"
        assert names[-1] == "closed"
        await publisher.close()


async def test_payloads_json_cannot_encode(redis_server: RedisServer,
                                           raw: aioredis.Redis) -> None:
    """Objects JSON does not know travel as text (attrs classes as dicts); a payload
    that cannot be encoded at all loses its entry, reported, and the writer goes on."""
    publisher = RedisPublisher(redis_server.url, name="feed")
    errors: list[Exception] = []
    publisher.on("error", errors.append)
    source = Source()
    publisher.attach(source)
    gap = wsevents.Gap(channel="a", expected=1, received=3, missing=2)
    stamp = type("Stamp", (), {"__str__": lambda self: "t0"})()
    source.deliver("message:a", {"when": stamp, "gap": gap})
    await asyncio.wait_for(publisher.flush(), 5)
    message = (await records(raw, "wsevents:feed:a"))[0][2]
    assert message == {"when": "t0", "gap": {"channel": "a", "expected": 1, "received": 3,
                                            "missing": 2, "shard": None}}
    loop: dict[str, Any] = {}
    loop["self"] = loop
    source.deliver("message:b", loop)
    source.deliver("message:c", {"seq": 1})
    await asyncio.wait_for(publisher.flush(), 5)
    await asyncio.wait_for(publisher.flush(), 5)
    assert "could not be written" in str(errors[0])
    assert publisher.stats.dropped == 1
    assert [r[2] for r in await records(raw, "wsevents:feed:c") if len(r) == 3] == [{"seq": 1}]
    await publisher.close()


async def test_soak_found_an_event_after_close_raised_invalid_state(
    redis_server: RedisServer,
) -> None:
    """Found by bench/soak.py: closing the publisher and its source together
    cancelled the idle writer's wake-up future; the source's last lifecycle
    event, already on its way to the observer, then set it:
    ``InvalidStateError`` in the source's ``error`` event."""
    publisher = RedisPublisher(redis_server.url, name="feed")
    source = Source(subscriptions=("a",))
    publisher.attach(source)
    await publisher.start()
    observer = source.observers[0]  # what a dispatcher holds while it delivers
    await asyncio.wait_for(publisher.flush(), 5)
    await until(lambda: publisher._wake is not None)  # the writer waits for records
    await publisher.close()
    closed = wsevents.Closed(reason=wsevents.CloseReason.USER, error=None)
    assert observer("closed", closed) is None  # no InvalidStateError
    assert publisher.stats.pending == 2  # _events and a's stream: taken, never written
