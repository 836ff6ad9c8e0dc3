"""FakeServer's venue limits, over real sockets with real wsevents Connections:
channels per connection (error reply or close), a client frame rate limit that
counts pings and pongs and closes with 1008, the record of connection attempts,
and scripted replies (reply_to)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, Recorder, until
from wsevents.testing import FakeServer, Violation, busiest_window


Make = Callable[..., wsevents.Connection]


# -- max_channels --------------------------------------------------------------------------


async def test_a_subscribe_over_max_channels_gets_an_error_reply(make_connection: Make) -> None:
    """The whole request is refused with an error frame; the connection stays; a
    subscribe that fits is then accepted."""
    async with FakeServer(max_channels=3) as server:
        ws = make_connection(server.url, subscriptions=["a", "b"])
        rec = Recorder(ws, "message", "disconnect")
        await ws.connect()
        client = await server.wait_for_client()
        await client.wait_subscribed("a", "b")

        await ws.subscribe("c", "d")
        await rec.wait_count("message", 1)
        assert rec.of("message") == [
            {
                "op": "error",
                "code": 1008,
                "reason": "too many channels",
                "channels": ["c", "d"],
                "max_channels": 3,
            }
        ]
        assert client.subscriptions == {"a", "b"}
        [violation] = server.violations
        assert violation.client == client.id
        assert violation.limit == "max_channels"
        assert "2 more channel(s) with 2 of 3 taken" in violation.detail

        await ws.send({"op": "subscribe", "channels": ["x", "y"], "id": 7})
        await rec.wait_count("message", 2)
        assert rec.of("message")[1]["id"] == 7

        await ws.unsubscribe("c", "d")  # never subscribed on the server: no-op there
        await ws.send({"op": "subscribe", "channels": ["c"]})
        await client.wait_subscribed("a", "b", "c")
        assert len(server.violations) == 2
        assert rec.of("disconnect") == []


async def test_a_subscribe_over_max_channels_can_close_the_connection(
    make_connection: Make,
) -> None:
    """on_excess="close": the connection is closed with the configured code and reason."""
    async with FakeServer(
        max_channels=2, on_excess="close", excess_code=4001, excess_reason="stream limit"
    ) as server:
        ws = make_connection(server.url, subscriptions=["a", "b", "c"])
        rec = Recorder(ws, "disconnect")
        await ws.connect()
        await rec.wait_count("disconnect", 1)
        [lost] = rec.of("disconnect")
        assert (lost.code, lost.reason_text) == (4001, "stream limit")
        first = server.all_clients[0]
        assert first.subscriptions == set()
        assert server.violations[0] == Violation(
            first.id, "max_channels", server.violations[0].at, server.violations[0].detail
        )


# -- client_rate_limit ---------------------------------------------------------------------


async def test_more_frames_than_the_rate_limit_close_with_1008(make_connection: Make) -> None:
    """The fourth frame within a second closes the connection with 1008 and is recorded."""
    async with FakeServer(client_rate_limit=(3, 1.0)) as server:
        ws = make_connection(server.url, ping_interval=None)
        rec = Recorder(ws, "disconnect")
        await ws.connect()
        client = await server.wait_for_client()
        for i in range(4):
            await ws.send({"n": i})
        await rec.wait_count("disconnect", 1)
        assert rec.of("disconnect")[0].code == 1008
        assert rec.of("disconnect")[0].reason_text == "too many frames"
        [violation] = server.violations
        assert (violation.client, violation.limit) == (client.id, "client_rate_limit")
        assert violation.detail == "4 frames in 1 s (limit 3)"
        assert violation.at == client.frame_times[3]
        assert [m["n"] for m in client.received] == [0, 1, 2, 3]


async def test_frames_within_the_limit_are_fine(make_connection: Make) -> None:
    """Exactly n frames: no close, no violation (the limit is not off by one)."""
    async with FakeServer(client_rate_limit=(3, 60.0)) as server:
        ws = make_connection(server.url, ping_interval=None)
        await ws.connect()
        client = await server.wait_for_client()
        for i in range(3):
            await ws.send({"n": i})
        await client.wait_received(count=3)
        assert server.violations == []
        assert not client.closed
        assert len(client.frame_times) == 3
        assert client.frame_times == sorted(client.frame_times)


async def test_keepalive_pings_count_against_the_rate_limit(make_connection: Make) -> None:
    """A client that sends nothing but its keepalive pings is closed too."""
    async with FakeServer(client_rate_limit=(2, 60.0)) as server:
        ws = make_connection(server.url, ping_interval=20 * MS, ping_timeout=1.0)
        rec = Recorder(ws, "disconnect")
        await ws.connect()
        client = await server.wait_for_client()
        await rec.wait_count("disconnect", 1)
        assert rec.of("disconnect")[0].code == 1008
        assert client.received == []  # no data frame: the pings did it
        assert len(client.frame_times) >= 3
        assert server.violations[0].limit == "client_rate_limit"


async def test_pongs_count_against_the_rate_limit(make_connection: Make) -> None:
    """A client answering the server's pings is closed when its pongs exceed the limit."""
    async with FakeServer(
        client_rate_limit=(2, 60.0), ping_interval=20 * MS, ping_timeout=1.0
    ) as server:
        ws = make_connection(server.url, ping_interval=None)
        rec = Recorder(ws, "disconnect")
        await ws.connect()
        client = await server.wait_for_client()
        await rec.wait_count("disconnect", 1)
        assert rec.of("disconnect")[0].code == 1008
        assert client.received == []
        assert server.violations[0].detail == "3 frames in 60 s (limit 2)"


async def test_frames_are_timed_without_a_limit(make_connection: Make) -> None:
    """Without client_rate_limit nothing is enforced, but every frame is timed."""
    async with FakeServer() as server:
        ws = make_connection(server.url, ping_interval=None)
        await ws.connect()
        client = await server.wait_for_client()
        for i in range(20):
            await ws.send({"n": i})
        await client.wait_received(count=20)
        assert len(client.frame_times) == 20
        assert busiest_window(client.frame_times, 60.0) == 20
        assert server.violations == []


# -- attempts --------------------------------------------------------------------------------


async def test_every_connection_attempt_is_timed(make_connection: Make) -> None:
    """Refused handshakes count as attempts too, each with its time."""
    async with FakeServer() as server:
        server.refuse(503, count=2)
        loop = asyncio.get_running_loop()
        before = loop.time()
        ws = make_connection(server.url)
        await ws.connect()
        assert len(server.attempts) == 3 == server.handshakes
        assert before <= server.attempts[0] <= server.attempts[1] <= server.attempts[2]
        assert server.attempts[2] <= loop.time()
        assert server.attempts[1] - server.attempts[0] >= 15 * MS  # the backoff


async def test_a_connect_budget_paced_by_a_rate_limit_holds_at_the_server(
    make_connection: Make,
) -> None:
    """Eight connections opened through a RateLimit of 3 per 0.1 s (plus a 50 % margin):
    the server never sees more than 3 attempts in any 0.1 s; a control burst
    without the limit shows all 8 in one window.

    The margin is needed: the server times an attempt when it arrives, and the
    time from acquire() to arrival varies (here with the other handshakes in
    the loop), so a pacer at exactly the venue's limit is sometimes seen over it.
    """
    async with FakeServer() as server:
        budget = wsevents.RateLimit(3, per=0.15)

        async def open_one() -> None:
            await budget.acquire()
            await make_connection(server.url).connect()

        await asyncio.gather(*(open_one() for _ in range(8)))
        assert len(server.attempts) == 8
        assert busiest_window(server.attempts, 0.1) == 3

    async with FakeServer() as server:
        await asyncio.gather(*(make_connection(server.url).connect() for _ in range(8)))
        assert busiest_window(server.attempts, 0.1) == 8


# -- reply_to --------------------------------------------------------------------------------


async def test_reply_to_answers_matching_frames(make_connection: Make) -> None:
    """A mapping matches dicts holding its items; the answer may be made from the request;
    delayed answers come later while frames keep being read; count stops answering."""
    async with FakeServer() as server:
        server.reply_to(
            {"method": "SUBSCRIBE"},
            lambda request: {"result": None, "id": request["id"]},
            delay=50 * MS,
            count=2,
        )
        server.reply_to(lambda m: m == {"op": "ping"}, {"op": "pong"})
        server.reply_to({"op": "silent"}, lambda _request: None)
        ws = make_connection(server.url, ping_interval=None)
        rec = Recorder(ws, "message", "error")
        await ws.connect()
        client = await server.wait_for_client()
        for i in (1, 2, 3):
            await ws.send({"method": "SUBSCRIBE", "params": ["a"], "id": i})
        await ws.send({"op": "silent"})
        await ws.send({"op": "ping"})
        await client.wait_received(count=5)
        await rec.wait_count("message", 3)
        answers = [p for _, p in rec.items]
        assert answers[0] == {"op": "pong"}  # not delayed: before the delayed ones
        assert answers[1:] == [{"result": None, "id": 1}, {"result": None, "id": 2}]
        await ws.send({"op": "ping"})
        await rec.wait_count("message", 4)
        assert [p for _, p in rec.items][3] == {"op": "pong"}  # id 3 never answered (count=2)


async def test_a_delayed_reply_to_a_closed_connection_is_dropped(
    make_connection: Make,
) -> None:
    """The connection goes away before the answer is due: no error, no task left."""
    async with FakeServer() as server:
        server.reply_to({"op": "hello"}, {"op": "late"}, delay=10.0)
        ws = make_connection(server.url, ping_interval=None)
        await ws.connect()
        client = await server.wait_for_client()
        await ws.send({"op": "hello"})
        await client.wait_received(count=1)
        assert len(client._tasks) == 1
        await ws.close()
        await client.wait_closed()
        assert client._tasks == set()
        assert server.errors == []


async def test_a_reply_that_meets_a_closing_connection_is_dropped() -> None:
    """An immediate answer to a client that already closed is dropped quietly."""
    import websockets.asyncio.client

    async with FakeServer() as server:
        server.reply_to({"op": "bye"}, {"op": "too late"})
        async with websockets.asyncio.client.connect(server.url) as raw:
            await raw.send('{"op": "bye"}')
        client = await server.wait_for_client()
        await client.wait_closed()
        assert server.errors == []
        await until(lambda: not server.clients)


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"max_channels": 0},
        {"max_channels": True},
        {"max_channels": 1.5},
        {"on_excess": "drop"},
        {"client_rate_limit": 5},
        {"client_rate_limit": (5,)},
        {"client_rate_limit": (0, 1.0)},
        {"client_rate_limit": (5, 0)},
    ],
)
def test_bad_limits_are_value_errors(options: dict[str, Any]) -> None:
    """Every bad limit option is refused when the server is built."""
    with pytest.raises(ValueError, match=next(iter(options))):
        FakeServer(**options)


def test_reply_to_and_busiest_window_validate() -> None:
    """A negative delay or a non-positive count or window is refused."""
    server = FakeServer()
    with pytest.raises(ValueError, match="delay"):
        server.reply_to({}, "x", delay=-1)
    with pytest.raises(ValueError, match="count"):
        server.reply_to({}, "x", count=0)
    with pytest.raises(ValueError, match="per"):
        busiest_window([1.0], 0)
    assert busiest_window([0.0, 0.5, 1.0, 1.2], 1.0) == 3
