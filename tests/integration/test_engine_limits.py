"""Venue limits carried out by the engine: `send_limit` paces every frame a
connection sends (subscriptions split into frames of at most
`max_channels_per_frame`, user sends, requests), `connect_limit` paces every
attempt of every connection sharing it, and a protocol's venue defaults apply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest

import wsevents
from tests.conftest import until
from wsevents import JsonProtocol, RateLimit
from wsevents.routing import Frame
from wsevents.testing import FakeServer, busiest_window


Make = Callable[..., wsevents.Connection]


@attrs.frozen
class PerFrame200(JsonProtocol):
    """JSON channels, a venue taking at most 200 channels per subscribe frame."""

    max_channels_per_frame = 200


async def test_send_limit_paces_3000_subscriptions_and_user_sends() -> None:
    """3,000 channels (15 frames of at most 200) and 5 user sends through
    send_limit=RateLimit(5, per=0.25): the server, which closes a client sending a
    6th frame within 0.2 s, sees every frame and no violation."""
    async with FakeServer(client_rate_limit=(5, 0.2)) as server:
        channels = [f"ch{n}" for n in range(3000)]
        ws = wsevents.Connection(
            server.url,
            protocol=PerFrame200(),
            subscriptions=channels,
            send_limit=RateLimit(5, per=0.25),
            backoff=wsevents.FixedDelay(0.02),
            close_timeout=1.0,
        )
        rec: list[Any] = []
        ws.on("disconnect", rec.append)
        try:
            await ws.connect()
            await asyncio.gather(*(ws.send({"op": "note", "n": n}) for n in range(5)))
            client = await server.wait_for_client()
            await client.wait_received(count=20, timeout=10)
            await client.wait_subscribed(*channels, timeout=10)
            subscribes = [f for f in client.received if f.get("op") == "subscribe"]
            assert len(subscribes) == 15
            assert max(len(f["channels"]) for f in subscribes) == 200
            assert server.violations == []
            assert busiest_window(client.frame_times, 0.2) <= 5
            assert rec == []
        finally:
            await ws.close()


async def test_without_send_limit_the_same_venue_closes_with_1008() -> None:
    """The control: unpaced, the same burst is over the venue's limit (1008)."""
    async with FakeServer(client_rate_limit=(5, 0.2)) as server:
        ws = wsevents.Connection(
            server.url,
            protocol=PerFrame200(),
            subscriptions=[f"ch{n}" for n in range(3000)],
            backoff=wsevents.FixedDelay(5),
            close_timeout=1.0,
        )
        disconnects: list[wsevents.Disconnected] = []
        ws.on("disconnect", disconnects.append)
        try:
            await ws.connect()
            await until(lambda: bool(disconnects))
            assert disconnects[0].code == 1008
        finally:
            await ws.close()


async def test_a_shared_connect_limit_spreads_ten_reconnects(make_connection: Make) -> None:
    """10 connections share connect_limit=RateLimit(3, per=0.4); the server drops them
    all at once: every window of 0.3 s at the server holds at most 3 attempts, and
    all 10 come back.  (0.1 s of margin for the trip: the server stamps an attempt
    when its loop, shared with the clients, gets to it; 0.05 s was not enough on
    a loaded machine.  Without the shared limit, a window holds all 10.)"""
    limit = RateLimit(3, per=0.4)
    async with FakeServer() as server:
        conns = [make_connection(server.url, connect_limit=limit) for _ in range(10)]
        await asyncio.gather(*(c.connect() for c in conns))
        await server.wait_for_client(10, timeout=10)
        assert busiest_window(server.attempts, 0.3) <= 3
        await server.drop()
        await server.wait_for_client(20, timeout=10)
        await until(lambda: all(c.connected for c in conns), 10)
        assert busiest_window(server.attempts, 0.3) <= 3
        assert len(server.attempts) == 20


@pytest.mark.parametrize("name", ["send_limit", "connect_limit"])
def test_a_bad_limit_is_a_config_error(name: str) -> None:
    """A limit that is not a rate limit names the option."""
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection("ws://127.0.0.1:1/", **{name: (5, 1.0)})
    assert raised.value.key == name


async def test_the_protocols_venue_limit_applies_by_default() -> None:
    """A protocol's send_limit default paces its connections (with a margin)."""

    @attrs.frozen
    class Paced(JsonProtocol):
        send_limit = (5, 0.2)

        def subscribe(self, channels: Sequence[str]) -> list[Frame]:
            return [{"op": "subscribe", "channels": [c]} for c in channels]

    async with FakeServer(client_rate_limit=(5, 0.2)) as server:
        ws = wsevents.Connection(
            server.url, protocol=Paced(), subscriptions=[f"c{n}" for n in range(12)],
            close_timeout=1.0,
        )
        try:
            await ws.connect()
            client = await server.wait_for_client()
            await client.wait_received(count=12, timeout=10)
            assert server.violations == []
        finally:
            await ws.close()
