"""FakeServer edges: bad arguments, its repr and URLs, bytes-like frames, subscribe
frames of other shapes, a dropped client, a refusal overriding a header, and a
frozen client's close reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import wsevents
from tests.conftest import Recorder
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


@pytest.mark.parametrize("name", ["ping_interval", "max_age", "close_timeout", "open_timeout"])
@pytest.mark.parametrize("value", [0, -1.0])
def test_durations_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        FakeServer(**{name: value})  # type: ignore[arg-type]


async def test_repr_urls_and_state() -> None:
    fake = FakeServer()
    assert repr(fake) == "<FakeServer 127.0.0.1 stopped, 0 open>"
    async with fake:
        assert repr(fake).startswith(f"<FakeServer 127.0.0.1:{fake.port} serving")
        assert fake.url_for("x?token=1") == f"ws://127.0.0.1:{fake.port}/x?token=1"
        assert not fake.frozen
        fake.freeze()
        assert fake.frozen
        fake.unfreeze()
        with pytest.raises(ValueError, match="at least 1"):
            await fake.wait_for_client(0)


async def test_bytes_like_frames_and_subscribe_shapes(make_connection: Make) -> None:
    """bytearray and memoryview go out as binary frames; a subscribe frame naming one
    channel as a string counts, one without a list of channels is ignored."""
    async with FakeServer() as server:
        ws = make_connection(server.url)
        rec = Recorder(ws, "message", "error")
        await ws.connect()
        client = await server.wait_for_client()
        await client.send(bytearray(b'{"channel": "a", "n": 1}'))
        await client.send(memoryview(b'{"channel": "a", "n": 2}'))
        await rec.wait_count("message", 2)
        assert [m["n"] for m in rec.of("message")] == [1, 2]
        await ws.send({"op": "subscribe", "channels": "solo"})
        await ws.send({"op": "subscribe", "channels": {"not": "a list"}})
        await ws.send({"op": "unsubscribe"})
        await server.wait_received(count=3)
        assert client.subscriptions == {"solo"}
        with pytest.raises(TypeError, match="cannot send"):
            await client.send(3.5)


async def test_a_dropped_client_and_a_closed_one(make_connection: Make) -> None:
    async with FakeServer() as server:
        ws = make_connection(server.url)
        rec = Recorder(ws, "connect", "disconnect")
        await ws.connect()
        client = await server.wait_for_client()
        await client.drop()
        assert client.closed
        await rec.wait_count("connect", 2)
        assert rec.of("disconnect")[0].code == 1006
        second = await server.wait_for_client(2)
        await ws.close()
        await second.wait_closed()
        assert second.close_code == 1000
        assert second.close_reason == ""


async def test_a_refusal_replaces_a_default_header(make_connection: Make) -> None:
    async with FakeServer() as server:
        server.refuse(503, headers={"Content-Type": "application/json"}, body="{}", count=1)
        ws = make_connection(server.url, max_reconnect_attempts=0)
        with pytest.raises(wsevents.HandshakeRejected) as raised:
            await ws.connect()
    headers = {k.lower(): v for k, v in raised.value.headers.items()}
    assert headers["content-type"] == "application/json"


async def test_closing_a_frozen_client_times_out(make_connection: Make) -> None:
    """A client the server stopped reading cannot finish the closing handshake in time."""
    async with FakeServer(close_timeout=5.0) as server:
        ws = make_connection(server.url, close_timeout=0.2)
        await ws.connect()
        client = await server.wait_for_client()
        client.freeze()
        with pytest.raises(TimeoutError, match="timed out"):
            await asyncio.wait_for(client.close(timeout=0.05), 5)
        await ws.close()
