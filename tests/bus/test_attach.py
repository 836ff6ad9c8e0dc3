"""RedisPublisher.attach() on any emitter with Connection's event surface (duck-typed)."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest
import redis.asyncio as aioredis
from pyee.base import EventEmitter

import wsevents
from tests.bus.redis_server import RedisServer
from tests.bus.test_publisher import records
from tests.conftest import TRANSPORT, until
from wsevents.bus import Consumer, RedisPublisher
from wsevents.bus._encoding import decode_lifecycle
from wsevents.testing import FakeServer


URL = "redis://127.0.0.1:1/0"


@attrs.frozen(kw_only=True)
class ShardConnected(wsevents.Connected):
    """A lifecycle payload with one field more, as a pool's say which shard."""

    shard: int


class Shards:
    """Not a Connection: two real connections behind one emitter surface, like a pool
    (``add_observer``, ``subscriptions``, ``overflow``); ``connect`` payloads name
    their shard."""

    def __init__(self, url: str) -> None:
        self.shards = [
            wsevents.Connection(url, subscriptions=[ch], transport=TRANSPORT) for ch in "ab"
        ]
        self.subscriptions = ("a", "b")
        self.overflow = "block"
        self._observers: list[Any] = []
        for index, shard in enumerate(self.shards):
            shard.add_observer(lambda name, payload, i=index: self._forward(i, name, payload))

    def add_observer(self, observer: Any) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: Any) -> None:
        self._observers.remove(observer)

    def _forward(self, shard: int, name: str, payload: Any) -> Any:
        if isinstance(payload, wsevents.Connected):
            payload = ShardConnected(**attrs.asdict(payload, recurse=False), shard=shard)
        results = [observer(name, payload) for observer in self._observers]
        return next((r for r in results if r is not None), None)


async def test_a_pool_like_emitter_is_published_and_consumed(
    redis_server: RedisServer,
) -> None:
    """A source that is no Connection (a pool's surface: add_observer, subscriptions,
    overflow; payloads with a shard field) is published like one, and consumed."""
    async with FakeServer() as server:
        pool = Shards(server.url)
        publisher = RedisPublisher(redis_server.url, name="pool")
        publisher.attach(pool)
        assert publisher.overflow == "block"
        bus = Consumer(redis_server.url, name="pool", channels=["a", "b"], block=0.05)
        got: list[tuple[str, Any]] = []
        bus.on("message", lambda m: got.append(("message", m["n"])))
        bus.on("connect", lambda e: got.append(("connect", e)))
        await asyncio.wait_for(bus.wait_ready(), 5)
        for n, (shard, channel) in enumerate(zip(pool.shards, "ab", strict=True), 1):
            await shard.connect()
            await (await server.wait_for_client(n)).wait_subscribed(channel)
        for n in range(3):
            await server.publish("a" if n % 2 else "b", {"n": n}, only_subscribed=True)
        await until(lambda: len(got) == 5)
        assert sorted(n for kind, n in got if kind == "message") == [0, 1, 2]
        connects = [e for kind, e in got if kind == "connect"]
        # The consumer hands over the class it knows; the extra field stays out.
        assert all(type(e) is wsevents.Connected for e in connects)
        for shard in pool.shards:
            await shard.close()
        await publisher.close()
        await bus.close()


async def test_an_emitter_with_on_only(redis_server: RedisServer) -> None:
    """A plain pyee emitter is followed through on(): lifecycle events and the channels
    named (or its subscriptions); detach() removes every listener."""
    raw = aioredis.Redis.from_url(redis_server.url)
    source = EventEmitter()
    publisher = RedisPublisher(redis_server.url, name="feed")
    publisher.attach(source, channels=["a"])
    gap = wsevents.Gap(channel="a", expected=2, received=3, missing=1)
    source.emit("message:a", {"seq": 1})
    source.emit("gap", gap)
    source.emit("message:a", {"seq": 3})
    source.emit("message:z", {"seq": 9})  # not named: not followed
    await asyncio.wait_for(publisher.flush(), 5)
    got = await records(raw, "wsevents:feed:a")
    assert [r[2] if len(r) == 3 else r[3] for r in got] == [{"seq": 1}, "gap", {"seq": 3}]
    assert decode_lifecycle("gap", got[1][2]) == gap
    assert not await raw.exists("wsevents:feed:z")
    publisher.detach(source)
    assert source.event_names() == set()
    other = EventEmitter()
    other.subscriptions = ("b",)  # type: ignore[attr-defined]
    publisher.attach(other)
    other.emit("message:b", {"seq": 1})
    await asyncio.wait_for(publisher.flush(), 5)
    assert [r[2] for r in await records(raw, "wsevents:feed:b")] == [{"seq": 1}]
    await publisher.close()
    await raw.aclose()


def test_attach_refuses_what_it_cannot_follow() -> None:
    """No add_observer and no channels to follow through on(), or channels that are not
    a list of names: a clear error, never a silent nothing."""
    publisher = RedisPublisher(URL, name="x")
    with pytest.raises(wsevents.ConfigError, match="channels"):
        publisher.attach(EventEmitter())
    with pytest.raises(wsevents.ConfigError, match="channels"):
        publisher.attach(EventEmitter(), channels="ab")
    with pytest.raises(wsevents.ConfigError, match="channels"):
        publisher.attach(EventEmitter(), channels=["a", ""])
    with pytest.raises(TypeError, match="neither"):
        publisher.attach(object())


def test_unknown_payload_fields_are_left_out() -> None:
    """A payload with a field its class lacks (a newer publisher's) still decodes."""
    connected = wsevents.Connected(url="ws://x/", attempt=1, is_reconnect=False, downtime=0.0)
    data = {**attrs.asdict(connected), "shard": 2}
    assert decode_lifecycle("connect", data) == connected
