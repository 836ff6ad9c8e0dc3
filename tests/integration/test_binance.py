"""BinanceProtocol over a real socket: FakeServer plays frames of the shapes
Binance sends (combined-stream envelopes, acknowledgements, error replies, raw
payloads) and records the SUBSCRIBE requests the client sends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import wsevents
from tests.conftest import Recorder
from wsevents.binance import BinanceProtocol
from wsevents.testing import FakeClient, FakeServer


Make = Callable[..., wsevents.Connection]

# Recorded shapes (values shortened) of Binance spot stream frames.
TRADE = {
    "e": "trade", "E": 1672515782136, "s": "BTCUSDT", "t": 12345, "p": "16500.01",
    "q": "0.002", "T": 1672515782136, "m": True, "M": True,
}  # fmt: skip
KLINE = {
    "e": "kline", "E": 1672515782136, "s": "ETHUSDT",
    "k": {"t": 1672515780000, "T": 1672515839999, "s": "ETHUSDT", "i": "1m", "o": "1200.1",
          "c": "1201.5", "h": "1202.0", "l": "1199.9", "v": "310.2", "n": 812, "x": True},
}  # fmt: skip


def envelope(stream: str, data: Any) -> str:
    return json.dumps({"stream": stream, "data": data}, separators=(",", ":"))


def acknowledge(server: FakeServer) -> asyncio.Event:
    """Answer every request the way Binance does: {"result": null, "id": n}.

    Returns an event set once an acknowledgement was sent.
    """
    sent = asyncio.Event()

    @server.on_message
    async def reply(client: FakeClient, message: Any) -> None:
        if isinstance(message, dict) and "method" in message:
            await client.send({"result": None, "id": message.get("id")})
            sent.set()

    return sent


async def test_combined_stream_routed_to_stream_channel(
    server: FakeServer, make_connection: Make
) -> None:
    """`message:btcusdt@trade` gets the data payload; the acknowledgement is not delivered."""
    acked = acknowledge(server)
    ws = make_connection(
        server.url_for("/stream"),
        protocol=BinanceProtocol(),
        subscriptions=["btcusdt@trade", "ethusdt@kline_1m"],
    )
    rec = Recorder(ws, "message", "message:btcusdt@trade", "message:ethusdt@kline_1m", "error")
    await ws.connect()
    client = await server.wait_for_client()
    # The subscribe request, as the server recorded it.
    received = await client.wait_received(count=1)
    assert received[0] == {
        "method": "SUBSCRIBE",
        "params": ["btcusdt@trade", "ethusdt@kline_1m"],
        "id": 1,
    }
    await asyncio.wait_for(acked.wait(), 5)
    await server.send_raw(envelope("btcusdt@trade", TRADE))
    await server.send_raw(envelope("ethusdt@kline_1m", KLINE))
    await rec.wait_count("message:ethusdt@kline_1m", 1)
    assert rec.of("message:btcusdt@trade") == [TRADE]
    assert rec.of("message:ethusdt@kline_1m") == [KLINE]
    # The ack {"result": null, "id": 1} was consumed: only the two data frames arrived.
    assert rec.of("message") == [TRADE, KLINE]
    assert rec.of("error") == []
    assert ws.stats.messages_received == 3  # the ack, then the two events


async def test_live_subscribe_ids_increase_and_survive_reconnect(
    server: FakeServer, make_connection: Make
) -> None:
    """subscribe()/unsubscribe() send requests with increasing ids; a reconnect
    re-subscribes the whole set in one request with the next id."""
    acknowledge(server)
    ws = make_connection(
        server.url_for("/stream"), protocol=BinanceProtocol(), subscriptions=["btcusdt@trade"]
    )
    await ws.connect()
    first = await server.wait_for_client()
    await first.wait_received(count=1)
    await ws.subscribe("ethusdt@trade")
    await ws.unsubscribe("btcusdt@trade")
    frames = await first.wait_received(count=3)
    assert frames == [
        {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1},
        {"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 2},
        {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 3},
    ]
    await server.drop()
    second = await server.wait_for_client(2)
    assert await second.wait_received(count=1) == [
        {"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 4}
    ]


async def test_error_reply_is_an_error_event(server: FakeServer, make_connection: Make) -> None:
    """An error reply becomes a FrameError on `error`; the stream goes on."""
    ws = make_connection(server.url_for("/stream"), protocol=BinanceProtocol())
    rec = Recorder(ws, "error", "message:btcusdt@trade")
    await ws.connect()
    await server.wait_for_client()
    await server.send_raw(
        json.dumps({"error": {"code": 2, "msg": "Invalid request: too many parameters"}, "id": 7})
    )
    await server.send_raw(envelope("btcusdt@trade", TRADE))
    await rec.wait_count("message:btcusdt@trade", 1)
    await rec.wait_count("error", 1)
    error = rec.of("error")[0]
    assert isinstance(error, wsevents.FrameError)
    assert "request id 7" in str(error)
    assert "too many parameters" in str(error)
    assert ws.state is wsevents.State.CONNECTED


async def test_raw_stream_routed_by_event_type(server: FakeServer, make_connection: Make) -> None:
    """On a raw endpoint (/ws/<stream>) payloads go to `message:<e>`; the whole
    envelope is kept with envelope=True on combined frames."""
    ws = make_connection(
        server.url_for("/ws/btcusdt@trade"), protocol=BinanceProtocol(envelope=True)
    )
    rec = Recorder(ws, "message", "message:trade", "message:btcusdt@trade")
    await ws.connect()
    await server.wait_for_client()
    await server.send_raw(json.dumps(TRADE))
    await server.send_raw(envelope("btcusdt@trade", TRADE))
    await rec.wait_count("message", 2)
    assert rec.of("message:trade") == [TRADE]
    assert rec.of("message:btcusdt@trade") == [{"stream": "btcusdt@trade", "data": TRADE}]
