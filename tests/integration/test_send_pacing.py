"""RateLimit as a send pacer from user code, in front of Connection.subscribe/send,
against a FakeServer enforcing a venue's frame limit (Binance: 5 frames per
second per connection, close 1008 beyond).  Windows are scaled down to 0.2 s to
keep the test short."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import wsevents
from tests.conftest import Recorder
from wsevents.ratelimit import chunks
from wsevents.testing import FakeServer, busiest_window


Make = Callable[..., wsevents.Connection]

#: the venue's window, scaled: 5 frames per 0.2 s instead of per second
PER = 0.2
#: the pacer's window: the venue's plus a margin, since the server counts
#: arrivals and the time from acquire() to arrival varies (more on a loaded CI
#: machine under coverage: 10 % was enough on an idle one)
PACED = PER * 1.25


async def test_3000_channels_and_user_sends_never_exceed_5_frames_per_window(
    make_connection: Make,
) -> None:
    """3,000 channels in subscribe frames of at most 200, interleaved with user sends,
    all through one RateLimit(5): the server never sees a 6th frame in any window,
    records no violation, and has every channel."""
    channels = [f"sym{i}@trade" for i in range(3000)]
    async with FakeServer(client_rate_limit=(5, PER), max_channels=3000) as server:
        ws = make_connection(server.url, ping_interval=None)
        rec = Recorder(ws, "disconnect")
        await ws.connect()
        client = await server.wait_for_client()
        pacer = wsevents.RateLimit(5, per=PACED)

        async def subscribe_all() -> None:
            for group in chunks(channels, 200):
                await pacer.acquire()
                await ws.subscribe(*group)

        async def user_sends() -> None:
            for i in range(10):
                await pacer.acquire()
                await ws.send({"op": "order", "n": i})

        await asyncio.gather(subscribe_all(), user_sends())
        await client.wait_received(count=25)
        await client.wait_subscribed(*channels)

        assert server.violations == []
        assert rec.of("disconnect") == []
        assert busiest_window(client.frame_times, PER) == 5
        subscribes = [m for m in client.received if m.get("op") == "subscribe"]
        assert len(subscribes) == 15
        assert max(len(m["channels"]) for m in subscribes) == 200
        orders = [m["n"] for m in client.received if m.get("op") == "order"]
        assert orders == list(range(10))
        assert ws.stats.messages_sent >= 25


async def test_the_same_frames_without_the_pacer_are_closed_with_1008(
    make_connection: Make,
) -> None:
    """The control: the same subscribe frames sent at once break the limit."""
    channels = [f"sym{i}@trade" for i in range(3000)]
    async with FakeServer(client_rate_limit=(5, PER), max_channels=3000) as server:
        ws = make_connection(server.url, ping_interval=None)
        rec = Recorder(ws, "disconnect")
        await ws.connect()
        for group in chunks(channels, 200):
            await ws.subscribe(*group)
        await rec.wait_count("disconnect", 1)
        assert rec.of("disconnect")[0].code == 1008
        assert server.violations[0].limit == "client_rate_limit"
