"""RedisPublisher.attach() on any emitter with Connection's event surface (duck-typed)."""

from __future__ import annotations

import asyncio

import attrs
import pytest
import redis.asyncio as aioredis
from pyee.base import EventEmitter

import wsevents
from tests.bus.redis_server import RedisServer
from tests.bus.test_publisher import records
from wsevents.bus import RedisPublisher
from wsevents.bus._encoding import decode_lifecycle


URL = "redis://127.0.0.1:1/0"


# A real Pool attached to a publisher: tests/bus/test_pool_attach.py.


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
    data = {**attrs.asdict(connected), "venue_time": 2}
    assert decode_lifecycle("connect", data) == connected
