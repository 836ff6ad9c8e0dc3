"""Pool edges over real sockets: options, states, subscribing to a connected shard,
rebalance cancelled, requests, handovers, close() bounded with a slow handler."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, TRANSPORT, Recorder, until
from wsevents import Pool, State
from wsevents.testing import FakeServer


def _pool(url: str, **options: Any) -> Pool:
    options.setdefault("backoff", wsevents.FixedDelay(20 * MS))
    options.setdefault("close_timeout", 1.0)
    options.setdefault("transport", TRANSPORT)
    return Pool(url, **options)


async def test_bad_options_and_streams() -> None:
    with pytest.raises(wsevents.ConfigError, match="unknown option"):
        Pool("ws://127.0.0.1:9", nonsense=1)
    pool = Pool("ws://127.0.0.1:9")
    with pytest.raises(wsevents.ConfigError, match="event"):
        pool.stream("")
    early = pool.stream("message")
    await pool.close()  # never started: the stream ends with it
    assert [m async for m in early] == []
    ended = pool.stream("message")
    assert [m async for m in ended] == []
    await pool.wait_closed()  # never started: returns at once


async def test_one_shard_without_caps_and_subscribing_to_a_connected_shard() -> None:
    """Without max_channels everything goes on one shard; new channels on a connected
    shard are subscribed at once; channels already placed are left alone; the state
    reads CONNECTING until every shard is up."""
    async with FakeServer() as server:
        pool = _pool(server.url, subscriptions=["a"])
        assert pool.state is State.IDLE
        await pool.subscribe("a")  # before the start: placed, nothing sent
        await pool.connect()
        await pool.subscribe("b", "a")
        client = await server.wait_for_client()
        await client.wait_subscribed("a", "b")
        assert [s.subscriptions for s in pool.shards] == [("a", "b")]
        assert pool.subscriptions == ("a", "b")
        await pool.close()
        assert await pool.rebalance() == 0  # closed
    handshakes = asyncio.Event()
    arrived: list[object] = []

    async def hold(_connection: object, request: object) -> None:
        arrived.append(request)
        await handshakes.wait()  # the handshakes hang until the test lets them go

    async with FakeServer(process_request=hold) as held:
        capped = _pool(held.url, subscriptions=["x", "y"], max_channels=1)
        connecting = asyncio.ensure_future(capped.connect())
        await until(lambda: len(arrived) == 2)
        assert capped.state is State.CONNECTING
        assert not capped.connected
        handshakes.set()
        await asyncio.wait_for(connecting, 5)
        assert capped.state is State.CONNECTED
        assert await capped.rebalance() == 0  # already even
        await capped.close()


async def test_async_with_requests_and_handovers() -> None:
    """`async with`, request() on the least-loaded shard (a protocol without requests
    says so), handover() of every shard one at a time."""
    async with FakeServer() as server, _pool(
        server.url,
        subscriptions=["a", "b"],
        max_channels=1,
        recycle_spacing=0.05,
        handover_timeout=0.1,
    ) as pool:
        rec = Recorder(pool, "handover", "disconnect")
        with pytest.raises(wsevents.ConfigError, match="request"):
            await pool.request({"op": "ping"}, timeout=1)
        await asyncio.wait_for(pool.handover(), 10)
        await rec.wait_count("handover", 2)
        assert sorted(e.shard for e in rec.of("disconnect")) == [0, 1]
        assert all(e.reason is wsevents.DisconnectReason.HANDOVER for e in rec.of("disconnect"))


async def test_rebalance_cancelled_leaves_no_gate_and_run_cancelled_closes() -> None:
    """A rebalance cancelled while a quiet channel waits for its overlap leaves the
    channel where it was; run() cancelled closes the pool."""
    async with FakeServer() as server:
        pool = _pool(server.url, subscriptions=["a", "b", "c"], max_channels=3)
        await pool.connect()
        await pool.subscribe("d")
        await until(lambda: pool.connected)
        moving = asyncio.ensure_future(pool.rebalance())
        await until(lambda: sum(len(c.subscriptions) for c in server.clients) == 5)
        moving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await moving
        assert pool.shard_of("c").id == 0
        running = asyncio.ensure_future(pool.run())
        await asyncio.sleep(0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert pool.state is State.CLOSED


async def test_close_is_bounded_with_a_slow_handler(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that holds the loop past close_timeout: close() returns within the
    bound, the messages left are counted as dropped, and said so in the log."""
    async with FakeServer() as server:
        pool = _pool(server.url, subscriptions=["a"], close_timeout=0.2)
        started = asyncio.Event()

        @pool.on("message:a")
        async def slow(_message: Any) -> None:
            started.set()
            await asyncio.sleep(5)  # a handler that takes its time

        await pool.connect()
        client = await server.wait_for_client()
        await client.wait_subscribed("a")
        for n in range(5):
            await server.publish("a", {"n": n})
        await asyncio.wait_for(started.wait(), 5)
        with caplog.at_level(logging.WARNING, logger="wsevents"):
            await asyncio.wait_for(pool.close(), 2)
        assert pool.stats.messages_dropped >= 4
        assert "undelivered" in caplog.text


async def test_unsubscribing_while_moving_and_while_paused() -> None:
    """A channel unsubscribed while it moves leaves both shards; unknown channels
    are ignored; a shard keeping channels stays; a paused shard refuses sends and
    requests, and its unsubscribes wait for the next connect."""
    async with FakeServer() as server:
        pool = _pool(
            server.url, subscriptions=["a", "b", "c"], max_channels=3, handover_timeout=0.3
        )
        closed = pool.stream("closed")
        messages = pool.stream("message")
        await pool.connect()  # (a second connect() waits for nothing new)
        await pool.connect()
        await pool.subscribe("d")
        await until(lambda: pool.connected)
        moving = asyncio.ensure_future(pool.rebalance())
        await until(lambda: sum(len(c.subscriptions) for c in server.clients) == 5)
        await pool.unsubscribe("c", "nope")
        assert await asyncio.wait_for(moving, 5) == 1
        assert "c" not in pool.subscriptions
        assert all("c" not in s.subscriptions for s in pool.shards)
        await until(lambda: all("c" not in c.subscriptions for c in server.clients))
        await pool.unsubscribe("a")
        assert len(pool.shards) == 2  # shard 0 keeps b
        await pool.request_disconnect()
        await until(lambda: not any(s.connected for s in pool.shards))
        shard = pool.shard_of("b").id
        with pytest.raises(wsevents.NotConnected, match=f"shard {shard}"):
            await pool.send({"op": "x"}, shard=shard)
        with pytest.raises(wsevents.NotConnected, match=f"shard {shard}"):
            await pool.request({"op": "x"}, shard=shard)
        await pool.unsubscribe("b")  # shard 0 retired while paused
        assert [s.subscriptions for s in pool.shards] == [("d",)]
        await pool.close()
        assert [e.reason for e in [e async for e in closed]] == [wsevents.CloseReason.USER]
        assert [m async for m in messages] == []


async def test_an_empty_pool_connects_at_once() -> None:
    async with FakeServer() as server:
        pool = _pool(server.url)
        await asyncio.wait_for(pool.connect(), 5)
        assert pool.shards == ()
        assert pool.state is State.CONNECTED
        assert not pool.connected
        await pool.close()


async def test_timestamps_and_one_recording_for_every_shard(tmp_path: Any) -> None:
    """timestamps=True: a handler reads its message's receive time through the pool;
    record= a path: one file for every shard, each lifecycle event in it once."""
    from wsevents.record import read_recording

    path = tmp_path / "pool.jsonl"
    async with FakeServer() as server:
        pool = _pool(
            server.url, subscriptions=["a", "b"], max_channels=1, timestamps=True, record=path
        )
        times: list[Any] = []
        pool.on("message", lambda m: times.append(pool.receive_time(m)))
        # alive from before the messages: its id is none of theirs (a freed
        # message's id may be reused by a newer object, which it then finds)
        unknown = {"n": 3}
        await pool.connect()
        await until(lambda: sum(len(c.subscriptions) for c in server.clients) == 2)
        await server.publish("a", {"n": 1}, only_subscribed=True)
        await server.publish("b", {"n": 2}, only_subscribed=True)
        await until(lambda: len(times) == 2)
        assert all(t is not None for t in times)
        assert pool.receive_time(unknown) is None
        await pool.close()
    lines = list(read_recording(path))
    events = [line["event"] for line in lines if line["kind"] == "event"]
    assert events.count("connect") == 2
    assert events.count("closed") == 1
    frames = [line for line in lines if line["kind"] == "frame"]
    assert len(frames) == 2
    # one numbering for both shards: each connection, and its frames, apart
    opened = sorted(line["conn"] for line in lines if line["kind"] == "open")
    assert opened == [1, 2]
    assert sorted(line["conn"] for line in lines if line["kind"] == "close") == [1, 2]
    assert sorted(line["conn"] for line in frames) == [1, 2]


async def test_metrics_of_a_pool_are_labelled_per_shard() -> None:
    """A StatsCollector of a real Pool: the aggregate (shard="") and one series per shard."""
    from prometheus_client import CollectorRegistry

    from wsevents.metrics import StatsCollector

    async with FakeServer() as server:
        pool = _pool(server.url, subscriptions=["a", "b"], max_channels=1)
        collector = StatsCollector(pool, feed="pool", registry=CollectorRegistry())
        await pool.connect()
        families = {f.name: f for f in collector.collect()}
        connects = families["wsevents_connects"].samples
        by_shard = {s.labels["shard"]: s.value for s in connects if s.name.endswith("_total")}
        assert by_shard == {"": 2.0, "0": 1.0, "1": 1.0}
        await pool.close()


async def test_soak_false_gap_when_a_channel_returns_to_a_shard_that_carried_it() -> None:
    """Found by the chaos soak: a channel unsubscribed, placed on another shard, then
    back on the first one was checked against that shard's stale last number (a
    false `gap`). The pool's shards share one numbering per channel."""
    async with FakeServer() as server:
        pool = _pool(server.url, max_channels=2, sequence=lambda m: m["seq"])
        got: list[int] = []
        gaps = Recorder(pool, "gap")
        pool.on("message:c", lambda m: got.append(m["seq"]))
        await pool.connect()

        async def deliver(*numbers: int) -> None:
            await until(lambda: sum("c" in client.subscriptions for client in server.clients) == 1)
            for seq in numbers:
                await server.publish("c", {"seq": seq}, only_subscribed=True)
            await until(lambda: got[-1:] == [numbers[-1]])

        await pool.subscribe("a", "c")  # shard 0: a, c
        first = pool.shard_of("c").id
        await deliver(1, 2, 3)
        await pool.unsubscribe("c")
        await pool.subscribe("r")  # shard 0 again full: a, r
        await pool.subscribe("c")  # so c goes to a new shard
        assert pool.shard_of("c").id != first
        await deliver(4, 5, 6, 7, 8)
        await pool.unsubscribe("c", "r")  # that shard is retired
        await pool.subscribe("c")  # back on shard 0, which carried it before
        assert pool.shard_of("c").id == first
        await deliver(9)
        assert got == list(range(1, 10))
        assert gaps.of("gap") == []
        await pool.close()
