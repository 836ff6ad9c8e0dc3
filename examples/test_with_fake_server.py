"""Testing your own code with FakeServer: a pytest file, as it would sit in your suite.

With wsevents installed, pytest finds the ``fake_server`` and
``wsevents_connection`` fixtures by itself (the ``pytest11`` entry point).
They are pytest-asyncio fixtures: with ``asyncio_mode = "auto"`` in your
pytest configuration any ``async def`` test can use them (in strict mode, mark
the tests ``@pytest.mark.asyncio``)::

    pytest examples/test_with_fake_server.py
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import wsevents
from wsevents.pytest_plugin import ConnectionFactory
from wsevents.ratelimit import chunks
from wsevents.testing import FakeServer, busiest_window


class PriceBook:
    """The code under test: keeps the last price of each symbol of a feed."""

    def __init__(self, ws: wsevents.Connection) -> None:
        self.prices: dict[str, float] = {}
        self.updated = asyncio.Event()
        ws.on("message:trades", self.on_trade)

    def on_trade(self, trade: dict[str, Any]) -> None:
        self.prices[trade["symbol"]] = trade["price"]
        self.updated.set()


async def test_price_book_survives_a_drop(
    fake_server: FakeServer, wsevents_connection: ConnectionFactory
) -> None:
    ws = wsevents_connection(fake_server, subscriptions=["trades"])
    book = PriceBook(ws)
    await ws.connect()
    await (await fake_server.wait_for_client()).wait_subscribed("trades")

    await fake_server.drop()  # the exchange resets the TCP connection
    again = await fake_server.wait_for_client(2)  # the client reconnects...
    await again.wait_subscribed("trades")  # ...and subscribes again
    await fake_server.publish("trades", {"symbol": "BTCUSDT", "price": 42_000.5})

    await asyncio.wait_for(book.updated.wait(), 5)
    assert book.prices == {"BTCUSDT": 42_000.5}
    assert ws.stats.reconnects == 1


async def test_bad_credentials_are_fatal(
    fake_server: FakeServer, wsevents_connection: ConnectionFactory
) -> None:
    fake_server.refuse(401)
    ws = wsevents_connection(fake_server, headers={"Authorization": "Bearer expired"})
    with pytest.raises(wsevents.HandshakeRejected) as refused:
        await ws.connect()
    assert refused.value.status == 401
    assert fake_server.requests[0].headers["Authorization"] == "Bearer expired"


async def subscribe_in_frames(
    ws: wsevents.Connection, channels: list[str], pace: wsevents.RateLimit
) -> None:
    """The code under test: subscribes in frames of at most 50 channels, paced."""
    for group in chunks(channels, 50):
        await pace.acquire()
        await ws.subscribe(*group)


async def test_subscribing_stays_within_the_venue_limits(
    wsevents_connection: ConnectionFactory,
) -> None:
    # a venue that takes 500 channels per connection and 5 frames per 0.2 s
    async with FakeServer(max_channels=500, client_rate_limit=(5, 0.2)) as venue:
        ws = wsevents_connection(venue)
        await ws.connect()
        channels = [f"sym{i}@trade" for i in range(500)]
        await subscribe_in_frames(ws, channels, wsevents.RateLimit(5, per=0.25))
        client = await venue.wait_for_client()
        await client.wait_subscribed(*channels)

    assert venue.violations == []  # no refused subscribe, no close with 1008
    assert busiest_window(client.frame_times, 0.2) <= 5
    assert max(len(frame["channels"]) for frame in client.received) <= 50
