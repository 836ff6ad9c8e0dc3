"""Receive timestamps, latency per channel, the clock offset and the ping round trip
(issue 14, part 1), over a real FakeServer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import Recorder, until
from wsevents._reader import Reader
from wsevents.okx import OkxProtocol
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


def step_kind(ws: wsevents.Connection) -> str:
    """Which closure the reader's step is (the plain one, or the timed variant)."""
    reader: Reader = ws._runner.link.reader
    return reader.step.__qualname__.split(".")[1]


async def test_receive_times_are_monotonic_and_within_the_tests_clock(
    server: FakeServer, make_connection: Make
) -> None:
    """Each handler reads its own message's receive time: increasing per connection,
    and between the test's clock readings before the send and after the handler."""
    ws = make_connection(server.url, subscriptions=["t"], timestamps=True)
    assert step_kind(ws) == "_make_timed_step"
    got: list[tuple[int, wsevents.ReceiveTime | None, int, int]] = []

    @ws.on("message:t")
    def handler(message: dict[str, Any]) -> None:
        got.append((message["n"], ws.receive_time(message), time.monotonic_ns(), time.time_ns()))

    rec = Recorder(ws, "message:t")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("t")
    before_mono, before_wall = time.monotonic_ns(), time.time_ns()
    for n in range(200):
        await server.publish("t", {"n": n})
    await rec.wait_count("message:t", 200)
    assert [n for n, *_ in got] == list(range(200))
    stamps = [stamp for _, stamp, _, _ in got]
    assert all(stamp is not None for stamp in stamps)
    monos = [s.monotonic_ns for s in stamps if s is not None]
    assert monos == sorted(monos)
    assert len(set(monos)) == len(monos)
    for _, stamp, mono_after, wall_after in got:
        assert stamp is not None
        assert before_mono <= stamp.monotonic_ns <= mono_after
        # the wall time is derived from the monotonic one (a few µs of slack)
        assert before_wall - 1_000_000 <= stamp.wall_ns <= wall_after + 1_000_000
        assert stamp.wall == stamp.wall_ns / 1e9
        assert stamp.monotonic == stamp.monotonic_ns / 1e9


async def test_receive_time_of_queued_messages_of_an_async_handler(
    server: FakeServer, make_connection: Make
) -> None:
    """Messages that wait in the queue (an async handler) still read their own stamp:
    the stamps come in order, one per message, and None outside a handler at first."""
    ws = make_connection(server.url, subscriptions=["t"], timestamps=True, event_time=False)
    assert ws.receive_time({}) is None
    got: list[tuple[int, int]] = []

    @ws.on("message:t")
    async def handler(message: dict[str, Any]) -> None:
        stamp = ws.receive_time(message)
        assert stamp is not None
        got.append((message["n"], stamp.monotonic_ns))
        if message["n"] % 50 == 0:
            await asyncio.sleep(0)

    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("t")
    for n in range(300):
        await server.publish("t", {"n": n})
    await until(lambda: len(got) == 300)
    assert [n for n, _ in got] == list(range(300))
    monos = [m for _, m in got]
    assert monos == sorted(monos)
    assert len(set(monos)) == 300
    assert ws.stats.latency == {}  # no event time asked for


async def test_offset_and_latency_of_a_server_250_ms_behind(
    server: FakeServer, make_connection: Make
) -> None:
    """A server stamping ``E`` 250 ms behind the client's clock: the offset estimate is
    -250 ms and the latency's p50 250 ms, within 5 ms; per channel."""
    ws = make_connection(
        server.url,
        subscriptions=["a", "b"],
        event_time="E",
    )
    assert step_kind(ws) == "_make_timed_step"
    rec = Recorder(ws, "message:a", "message:b")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("a", "b")
    for n in range(100):
        # in lockstep: the latency measured is the loopback's, not a backlog's
        await server.publish("a" if n % 4 else "b", {"n": n, "E": time.time() * 1000 - 250})
        await rec.wait(lambda r, n=n: len(r.items) == n + 1)
    await server.publish("a", {"n": 100})  # no event time: no sample
    await server.publish("a", {"n": 101, "E": "soon"})  # not a time: skipped
    await rec.wait(lambda r: len(r.items) == 102)
    stats = ws.stats
    assert stats.clock_offset is not None
    assert abs(stats.clock_offset + 0.250) < 0.005
    assert set(stats.latency) == {"a", "b"}
    assert stats.latency["a"].count == 75
    assert stats.latency["b"].count == 25
    for summary in stats.latency.values():
        assert abs(summary.p50 - 0.250) < 0.005
        assert summary.p50 <= summary.p90 <= summary.p99 <= summary.max
    assert ws.receive_time(rec.items[0][1]) is None  # event_time alone: no stamps kept


async def test_venue_default_event_time_and_key_paths(
    server: FakeServer, make_connection: Make
) -> None:
    """With ``timestamps=True`` the protocol's event time is used (OKX: ``data.0.ts``,
    a numeric string); unrouted messages are summarised under ``""``."""
    ws = make_connection(server.url, protocol=OkxProtocol(), timestamps=True)
    rec = Recorder(ws, "message")
    await ws.connect()
    await server.wait_for_client()
    ts = str(int(time.time() * 1000) - 1000)
    push = {"arg": {"channel": "trades", "instId": "X"}, "data": [{"ts": ts}]}
    await server.send_raw(json.dumps(push))
    await server.send_raw(json.dumps([1, 2]))  # unrouted, and no event time
    await rec.wait_count("message", 2)
    assert set(ws.stats.latency) == {"trades:X"}
    assert 0.9 < ws.stats.latency["trades:X"].p50 < 1.5

    other = make_connection(server.url, event_time=lambda m: m.get("at"))
    rec2 = Recorder(other, "message")
    await other.connect()
    await server.wait_for_client(2)
    await server.send_raw(json.dumps({"at": time.time() * 1000 - 2000}))
    await rec2.wait_count("message", 1)
    assert set(other.stats.latency) == {""}
    assert 1.9 < other.stats.latency[""].p50 < 2.5


async def test_everything_off_keeps_the_plain_step(
    server: FakeServer, make_connection: Make
) -> None:
    """Off by default: the reader keeps its plain step, stats show no latency and
    ``receive_time`` is None in a handler."""
    ws = make_connection(server.url, subscriptions=["t"])
    assert step_kind(ws) == "_make_step"
    seen: list[Any] = []
    ws.on("message:t", lambda m: seen.append(ws.receive_time(m)))
    rec = Recorder(ws, "message:t")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("t")
    await server.publish("t", {"E": 1})
    await rec.wait_count("message:t", 1)
    assert seen == [None]
    assert ws.stats.latency == {}
    assert ws.stats.clock_offset is None
    # a protocol's default event time alone does not turn anything on
    binance = make_connection(server.url, protocol=wsevents.BinanceProtocol())
    assert step_kind(binance) == "_make_step"


async def test_ping_rtt_from_the_transports_pings(
    server: FakeServer, make_connection: Make
) -> None:
    """``stats.ping_rtt`` is the last keepalive ping's round trip; None when closed."""
    ws = make_connection(server.url, ping_interval=0.02, ping_timeout=1.0)
    assert ws.stats.ping_rtt is None
    await ws.connect()
    await until(lambda: ws.stats.ping_rtt is not None)
    rtt = ws.stats.ping_rtt
    assert rtt is not None
    assert 0 < rtt < 1.0
    await ws.close()
    assert ws.stats.ping_rtt is None


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"timestamps": 1}, "timestamps"),
        ({"event_time": ""}, "event_time"),
        ({"event_time": "data..ts"}, "event_time"),
        ({"event_time": 3}, "event_time"),
        ({"record": 3}, "record"),
    ],
)
def test_bad_options_name_their_key(options: dict[str, Any], key: str) -> None:
    """A bad value raises ConfigError naming the option."""
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection("ws://127.0.0.1:1/", **options)
    assert raised.value.key == key
