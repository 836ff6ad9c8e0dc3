"""A Stream on its own, fed by a Dispatcher: its bound in each overflow mode, and its end."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import until
from wsevents._config import Overflow
from wsevents._delivery import Dispatcher
from wsevents._emitter import Emitter
from wsevents._stats import Counters
from wsevents._stream import Stream


def make(overflow: Overflow, event: str = "message:t", maxsize: int = 2) -> tuple[
    Emitter, Dispatcher, Counters, Stream, list[Any]
]:
    em = Emitter()
    counters = Counters()
    d = Dispatcher(em, queue_size=16, overflow=overflow, counters=counters)
    reports: list[Any] = []
    em.on("queue_full", reports.append)
    ended: list[Stream] = []
    stream = Stream(em, d, event, maxsize, ended.append)
    return em, d, counters, stream, reports


async def take(stream: Stream) -> list[Any]:
    return [item async for item in stream]


async def test_drop_oldest_keeps_the_newest_and_counts() -> None:
    _, d, counters, stream, reports = make("drop_oldest")
    for n in range(4):
        d.offer("message:t", n)
    d.offer_lifecycle("closed", None)  # ends the stream
    d.start()
    assert await asyncio.wait_for(take(stream), 5) == [2, 3]
    await asyncio.wait_for(d.barrier(), 5)
    assert counters.messages_dropped == 2
    assert {r.channel for r in reports} == {"t"}
    assert sum(r.dropped for r in reports) == 2


async def test_drop_newest_keeps_the_oldest() -> None:
    _, d, counters, stream, reports = make("drop_newest", event="connect")
    for n in range(3):
        d.offer_lifecycle("connect", n)
    d.start()
    await until(lambda: counters.messages_dropped == 1)
    stream.end()
    stream.end()  # idempotent
    assert await asyncio.wait_for(take(stream), 5) == [0, 1]
    await asyncio.wait_for(d.barrier(), 5)
    assert [r.channel for r in reports] == [None]  # not a channel's stream


async def test_block_makes_the_dispatcher_wait_for_the_consumer() -> None:
    em, d, counters, stream, _ = make("block", maxsize=1)
    after: list[int] = []
    em.on("message:t", after.append)
    for n in range(3):
        d.offer("message:t", n)
    d.start()
    await until(lambda: after == [0])
    assert await asyncio.wait_for(anext(stream), 5) == 0
    assert await asyncio.wait_for(anext(stream), 5) == 1
    await until(lambda: after == [0, 1, 2])
    assert counters.messages_dropped == 0
    await stream.aclose()  # forgets the buffered 2
    assert await asyncio.wait_for(take(stream), 5) == []
    await asyncio.wait_for(d.barrier(), 5)


async def test_a_blocked_delivery_ends_with_the_stream() -> None:
    """The dispatcher waits for room; the stream ends: the payload is not kept."""
    em, d, _, stream, _ = make("block", maxsize=1)
    after: list[int] = []
    em.on("message:t", after.append)
    d.offer("message:t", 0)
    d.offer("message:t", 1)
    d.start()
    await until(lambda: after == [0])
    stream.end()
    await asyncio.wait_for(d.barrier(), 5)
    assert after == [0, 1]
    assert await asyncio.wait_for(take(stream), 5) == [0]


async def test_a_stream_of_closed_ends_with_it() -> None:
    em, d, _, stream, _ = make("drop_oldest", event="closed")
    d.offer_lifecycle("closed", "bye")
    d.start()
    assert await asyncio.wait_for(take(stream), 5) == ["bye"]
    em.remove_all_listeners()
    stream.end()  # ended already
    await asyncio.wait_for(d.barrier(), 5)


async def test_end_after_remove_all_listeners() -> None:
    """The connection's listeners were removed already: ending is still clean."""
    em, _, _, stream, _ = make("drop_oldest")
    em.remove_all_listeners()
    stream.end()
    assert await asyncio.wait_for(take(stream), 5) == []
