"""The faces of a Pool: wsevents.sync.Pool (blocking, threads), streams, pausing,
sending to a shard, closing from a handler, the shard read-outs."""

from __future__ import annotations

import asyncio
import queue
import time
from typing import Any

import pytest

import wsevents
import wsevents.sync
from tests.conftest import MS, TRANSPORT, Recorder, until
from tests.integration.test_sync import ServerThread, wsevents_threads
from wsevents import Pool, State
from wsevents.testing import FakeServer


def test_sync_pool_places_delivers_rebalances_and_closes() -> None:
    """The blocking pool: decorators, wait_connected, shards, send to a shard,
    rebalance, stats, close; every thread gone afterwards."""
    served = ServerThread()
    try:
        pool = wsevents.sync.Pool(
            served.url,
            subscriptions=["a", "b", "c"],
            max_channels=3,
            handover_timeout=0.3,  # a quiet channel switches after it
            backoff=wsevents.FixedDelay(20 * MS),
            close_timeout=1.0,
            transport=TRANSPORT,
        )
        got: queue.Queue[tuple[str, int]] = queue.Queue()

        @pool.on("message")
        def on_message(message: dict[str, Any]) -> None:
            got.put((message["channel"], message["n"]))

        assert repr(pool).startswith("<wsevents.sync.Pool of <wsevents.Pool")
        pool.start()
        pool.wait_connected(timeout=5)
        assert [len(s.subscriptions) for s in pool.shards] == [3]
        pool.subscribe("d")
        assert sorted(len(s.subscriptions) for s in pool.shards) == [1, 3]
        served.run(until(lambda: sum(len(c.subscriptions) for c in served.server.clients) == 4))
        assert pool.rebalance(timeout=10) == 1
        assert sorted(len(s.subscriptions) for s in pool.shards) == [2, 2]
        target = pool.shard_of("d").id
        pool.send({"op": "note"}, shard=target)
        served.run(until(lambda: any(f.get("op") == "note" for f in served.server.received)))
        for n in (1, 2):
            served.run(served.server.publish("d", {"n": n}, only_subscribed=True))
        assert got.get(timeout=5) == ("d", 1)
        assert got.get(timeout=5) == ("d", 2)
        deadline = time.monotonic() + 5
        while pool.stats.messages_delivered < 2:  # counted once the queue is empty
            assert time.monotonic() < deadline
            time.sleep(MS)
        assert pool.stats.messages_delivered == 2
        assert set(pool.stats.shards) == {s.id for s in pool.shards}
        pool.close(timeout=5)
        assert pool.state is State.CLOSED
        assert wsevents_threads() == []
    finally:
        served.close()


async def test_pool_stream_pause_resume_and_close_from_a_handler() -> None:
    """stream() follows every shard; request_disconnect()/resume() pause and bring
    back every shard; close() from a handler returns and `closed` follows."""
    async with FakeServer() as server:
        pool = Pool(
            server.url,
            subscriptions=["a", "b"],
            max_channels=1,
            backoff=wsevents.FixedDelay(20 * MS),
            close_timeout=1.0,
            transport=TRANSPORT,
        )
        rec = Recorder(pool, "connect", "disconnect", "closed")
        stream = pool.stream("message")
        await pool.connect()
        assert pool.connected
        await until(lambda: sum(len(c.subscriptions) for c in server.clients) == 2)
        await server.publish("a", {"n": 1}, only_subscribed=True)
        await server.publish("b", {"n": 2}, only_subscribed=True)
        seen = [await asyncio.wait_for(stream.__anext__(), 5) for _ in range(2)]
        assert sorted(m["n"] for m in seen) == [1, 2]

        await pool.request_disconnect()
        await rec.wait_count("disconnect", 2)
        assert all(e.reason is wsevents.DisconnectReason.USER for e in rec.of("disconnect"))
        assert pool.state is State.PAUSED
        with pytest.raises(wsevents.NotConnected):
            await pool.send({"op": "x"})
        with pytest.raises(wsevents.NotConnected, match="no shard 7"):
            await pool.send({"op": "x"}, shard=7)
        await pool.resume()
        await rec.wait_count("connect", 4)
        await until(lambda: pool.state is State.CONNECTED)

        @pool.on("message:a")
        async def close_now(_message: Any) -> None:
            await pool.close()

        await until(lambda: sum(len(c.subscriptions) for c in server.clients) == 2)
        await server.publish("a", {"n": 3}, only_subscribed=True)
        await asyncio.wait_for(pool.wait_closed(), 5)
        assert rec.of("closed")[0].reason is wsevents.CloseReason.USER
        assert pool.state is State.CLOSED
        rest = await asyncio.wait_for(_drain(stream), 5)  # the stream ended with the pool
        assert [m["n"] for m in rest] == [3]
        with pytest.raises(wsevents.WSEventsError, match="closed"):
            await pool.connect()


async def _drain(stream: Any) -> list[Any]:
    return [item async for item in stream]


async def test_pool_closed_before_start_and_shard_readouts() -> None:
    """A pool closed before it started closes its (idle) shards quietly; a shard
    tells its id, state, channels and stats."""
    pool = Pool("ws://127.0.0.1:9", subscriptions=["a", "b", "c"], max_channels=2)
    shard = pool.shard_of("c")
    assert repr(shard) == f"<wsevents.Shard {shard.id} IDLE, {shard.load} channels>"
    assert pool.state is State.IDLE
    assert "IDLE: 2 shards, 3 channels" in repr(pool)
    assert pool.stats.connects == 0
    assert pool.overflow == "drop_oldest"
    assert pool.check_interval > 0
    assert not pool.connected
    await pool.close()
    assert pool.state is State.CLOSED
    with pytest.raises(KeyError):
        pool.shard_of("zzz")


async def test_a_shard_ending_by_itself_ends_the_pool() -> None:
    """A shard whose server closes cleanly with reconnect_on_clean_close=False ends
    the pool: run() returns, `closed` names the shard."""
    async with FakeServer() as server:
        pool = Pool(
            server.url,
            subscriptions=["a", "b"],
            max_channels=1,
            reconnect_on_clean_close=False,
            close_timeout=1.0,
            transport=TRANSPORT,
        )
        rec = Recorder(pool, "closed")
        await pool.connect()
        await until(lambda: len(server.clients) == 2)
        victim = server.clients[0]
        await victim.close(1000, "bye")
        await asyncio.wait_for(pool.run(), 5)
        (closed,) = rec.of("closed")
        assert closed.reason is wsevents.CloseReason.SERVER_CLOSED
        assert closed.shard in {s.id for s in pool.shards}
