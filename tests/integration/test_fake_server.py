"""FakeServer, checked over the socket with the raw ``websockets`` client.

These tests do not use ``wsevents.Connection``: each fault FakeServer scripts is
observed from a plain ``websockets.asyncio.client.connect`` client, so the
toolkit is known to be right before the client is tested against it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from wsevents.testing import FakeClient, FakeServer


T = TypeVar("T")

# One time unit for the waits below; raise the factor on slow machines.
MS = 0.001 * float(os.environ.get("WSEVENTS_TEST_TIMEOUT_FACTOR", "1"))
# Upper bound for anything that should happen "at once" on loopback.
SOON = 2000 * MS


async def within(awaitable: Awaitable[T], seconds: float = SOON) -> T:
    """Await ``awaitable``, failing the test if it takes longer than ``seconds``."""
    # asyncio.timeout() is Python 3.11+; wait_for works on 3.10 too.
    return await asyncio.wait_for(awaitable, seconds)


async def recv_json(ws: ClientConnection) -> Any:
    """Receive one frame and decode it as JSON, within SOON."""
    return json.loads(await within(ws.recv()))


async def test_url_port_and_url_for() -> None:
    """The URL points at the bound loopback port, and url_for() keeps path and query."""
    async with FakeServer() as server:
        assert server.port > 0
        assert server.url == f"ws://127.0.0.1:{server.port}/"
        assert server.url_for("/x?token=1") == f"ws://127.0.0.1:{server.port}/x?token=1"
        assert server.serving
    assert not server.serving


async def test_url_before_start_raises() -> None:
    """Asking for the URL of a server that never started is a clear error."""
    server = FakeServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url


async def test_publish_arrives_as_json_with_channel_key() -> None:
    """publish() sends {"channel": ..., **data} to every open client and counts them."""
    async with FakeServer() as server, connect(server.url) as a, connect(server.url) as b:
        await server.wait_for_client(2)
        sent = await server.publish("trades", {"price": 1})
        assert sent == 2
        assert await recv_json(a) == {"channel": "trades", "price": 1}
        assert await recv_json(b) == {"channel": "trades", "price": 1}


async def test_publish_uses_the_configured_channel_key() -> None:
    """channel_key changes the key the channel name is stored under."""
    async with FakeServer(channel_key="stream") as server, connect(server.url) as ws:
        client = await server.wait_for_client()
        await client.publish("book", {"bid": 2})
        assert await recv_json(ws) == {"stream": "book", "bid": 2}


async def test_subscriptions_are_tracked_and_only_subscribed_filters() -> None:
    """Subscribe/unsubscribe frames update client.subscriptions; only_subscribed honours them."""
    async with FakeServer() as server, connect(server.url) as subscribed, connect(server.url):
        first = await server.wait_for_client(1)
        second = await server.wait_for_client(2)
        await subscribed.send(json.dumps({"op": "subscribe", "channels": ["trades", "book"]}))
        await subscribed.send(json.dumps({"op": "unsubscribe", "channels": ["book"]}))
        await first.wait_received(count=2)
        assert first.subscriptions == {"trades"}
        assert second.subscriptions == set()

        assert await server.publish("trades", {"n": 1}, only_subscribed=True) == 1
        assert await recv_json(subscribed) == {"channel": "trades", "n": 1}
        assert await server.publish("book", {}, only_subscribed=True) == 0


async def test_wait_subscribed() -> None:
    """wait_subscribed() returns once the client subscribed to every named channel."""
    async with FakeServer() as server, connect(server.url) as ws:
        client = await server.wait_for_client()
        await ws.send(json.dumps({"op": "subscribe", "channels": ["a", "b"]}))
        await client.wait_subscribed("a", "b", timeout=SOON)
        with pytest.raises(TimeoutError, match="subscribe"):
            await client.wait_subscribed("c", timeout=50 * MS)


async def test_records_what_clients_sent_in_order() -> None:
    """Frames are recorded globally and per client: JSON decoded, other text and bytes raw."""
    async with FakeServer() as server, connect(server.url) as a, connect(server.url) as b:
        client_a = await server.wait_for_client(1)
        client_b = await server.wait_for_client(2)
        await a.send(json.dumps({"op": "ping", "n": 1}))
        await a.send("not json")
        await a.send(b"\x00\x01")
        await client_a.wait_received(count=3)
        await b.send("[1, 2]")
        received = await server.wait_received(count=4)

        assert received == [{"op": "ping", "n": 1}, "not json", b"\x00\x01", [1, 2]]
        assert client_a.received == [{"op": "ping", "n": 1}, "not json", b"\x00\x01"]
        assert client_b.received == [[1, 2]]


async def test_wait_received_with_predicate_and_timeout() -> None:
    """wait_received() takes a predicate, and raises TimeoutError naming what it waited for."""
    async with FakeServer() as server, connect(server.url) as ws:
        await server.wait_for_client()
        await ws.send(json.dumps({"op": "hello"}))
        msgs = await server.wait_received(lambda m: {"op": "hello"} in m)
        assert msgs == [{"op": "hello"}]
        with pytest.raises(TimeoutError, match="2 frame"):
            await server.wait_received(count=2, timeout=50 * MS)


async def test_send_raw_text_and_binary() -> None:
    """send_raw() delivers a non-JSON text frame and a binary frame unchanged."""
    async with FakeServer() as server, connect(server.url) as ws:
        await server.wait_for_client()
        assert await server.send_raw("not json") == 1
        assert await server.send_raw(b"\xff\x00") == 1
        assert await within(ws.recv()) == "not json"
        assert await within(ws.recv()) == b"\xff\x00"


async def test_client_send_encodes_by_type() -> None:
    """FakeClient.send(): dict/list as JSON text, str as text, bytes as binary."""
    async with FakeServer() as server, connect(server.url) as ws:
        client = await server.wait_for_client()
        await client.send({"a": 1})
        await client.send([1])
        await client.send("x")
        await client.send(b"y")
        assert [await within(ws.recv()) for _ in range(4)] == ['{"a":1}', "[1]", "x", b"y"]
        with pytest.raises(TypeError, match="int"):
            await client.send(3)


async def test_requests_record_path_and_headers() -> None:
    """Each handshake records its path (with query) and headers; the client sees them too."""
    async with FakeServer() as server:
        url = server.url_for("/x?token=1")
        async with connect(url, additional_headers={"Authorization": "Bearer t"}):
            client = await server.wait_for_client()
        assert client.path == "/x?token=1"
        assert client.request_headers["authorization"] == "Bearer t"
        assert len(server.requests) == 1
        assert server.requests[0].path == "/x?token=1"
        assert server.requests[0].headers["Authorization"] == "Bearer t"
        assert server.requests[0].refused_with is None
        assert server.handshakes == 1
        assert server.connections == 1


async def test_drop_gives_connection_closed_error_without_close_frame() -> None:
    """drop() aborts the TCP connection: the client gets 1006 with no close frame."""
    async with FakeServer() as server, connect(server.url) as ws:
        client = await server.wait_for_client()
        await server.drop()
        assert client.closed
        assert server.clients == []
        with pytest.raises(ConnectionClosedError) as raised:
            await within(ws.recv())
        assert raised.value.rcvd is None
        assert raised.value.sent is None
        assert client.close_code == 1006


async def test_close_clients_sends_the_close_code() -> None:
    """close_clients() performs a close handshake with the given code and reason."""
    async with FakeServer() as server, connect(server.url) as ws:
        client = await server.wait_for_client()
        await server.close_clients(code=4001, reason="bye")
        assert client.closed
        with pytest.raises(ConnectionClosedError) as raised:
            await within(ws.recv())
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == 4001
        assert raised.value.rcvd.reason == "bye"


async def test_client_close_1013() -> None:
    """FakeClient.close() sends its code to that client only."""
    async with FakeServer() as server, connect(server.url) as a, connect(server.url) as b:
        first = await server.wait_for_client(1)
        await server.wait_for_client(2)
        await first.close(1013, "try again later")
        with pytest.raises(ConnectionClosedError) as raised:
            await within(a.recv())
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == 1013
        assert len(server.clients) == 1
        assert await server.publish("x") == 1
        assert await recv_json(b) == {"channel": "x"}


async def test_refuse_gives_invalid_status_with_headers_and_body() -> None:
    """refuse() answers the handshake with the status, headers and body; count limits it."""
    async with FakeServer() as server:
        server.refuse(status=503, headers={"Retry-After": "2"}, body="down", count=2)
        for _ in range(2):
            with pytest.raises(InvalidStatus) as raised:
                await within(connect(server.url, open_timeout=SOON).__aenter__())
            response = raised.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "2"
            assert response.body == b"down"
        assert server.handshakes == 2
        assert server.connections == 0
        assert [r.refused_with for r in server.requests] == [503, 503]

        async with connect(server.url):
            await server.wait_for_client()
        assert server.handshakes == 3
        assert server.connections == 1


async def test_refuse_until_accept_handshakes() -> None:
    """refuse() without count refuses until accept_handshakes(); the body defaults to the phrase."""
    async with FakeServer() as server:
        server.refuse(status=429)
        for _ in range(3):
            with pytest.raises(InvalidStatus) as raised:
                await within(connect(server.url).__aenter__())
            assert raised.value.response.status_code == 429
            assert raised.value.response.body == b"Too Many Requests\n"
        server.accept_handshakes()
        async with connect(server.url):
            await server.wait_for_client()


async def test_refuse_rejects_bad_arguments() -> None:
    """refuse() rejects 101, unknown statuses and non-positive counts."""
    server = FakeServer()
    with pytest.raises(ValueError, match="101"):
        server.refuse(status=101)
    with pytest.raises(ValueError, match="999"):
        server.refuse(status=999)
    with pytest.raises(ValueError, match="count"):
        server.refuse(count=0)


async def test_process_request_hook() -> None:
    """A user process_request hook can answer the handshake; FakeServer records it."""

    def forbid(connection: Any, request: Any) -> Any:
        if "token" not in request.path:
            return connection.respond(403, "no token\n")
        return None

    async with FakeServer(process_request=forbid) as server:
        with pytest.raises(InvalidStatus) as raised:
            await within(connect(server.url).__aenter__())
        assert raised.value.response.status_code == 403
        async with connect(server.url_for("/?token=1")):
            await server.wait_for_client()
        assert [r.refused_with for r in server.requests] == [403, None]


async def test_accept_then_close() -> None:
    """accept_then_close() completes the handshake, then closes with the code, count times."""
    async with FakeServer() as server:
        server.accept_then_close(code=1011, reason="boom", count=1)
        async with connect(server.url) as ws:
            with pytest.raises(ConnectionClosedError) as raised:
                await within(ws.recv())
            assert raised.value.rcvd is not None
            assert raised.value.rcvd.code == 1011
            assert raised.value.rcvd.reason == "boom"
        first = await server.wait_for_client(1)
        await first.wait_closed()
        assert first.close_code == 1011

        async with connect(server.url) as ws:
            second = await server.wait_for_client(2)
            assert not second.closed
            assert await server.publish("still", {}) == 1
            assert await recv_json(ws) == {"channel": "still"}


async def test_accept_then_close_until_cancelled() -> None:
    """accept_then_close() without count lasts until cancel_accept_then_close()."""
    async with FakeServer() as server:
        server.accept_then_close(code=1013)
        for _ in range(2):
            async with connect(server.url) as ws:
                with pytest.raises(ConnectionClosedError):
                    await within(ws.recv())
        server.cancel_accept_then_close()
        async with connect(server.url):
            client = await server.wait_for_client(3)
            assert not client.closed


async def test_freeze_causes_client_ping_timeout() -> None:
    """A frozen server does not answer pings: the client fails with 1011 ping timeout."""
    async with FakeServer() as server:
        server.freeze()
        async with connect(
            server.url, ping_interval=0.2, ping_timeout=0.2, close_timeout=0.2
        ) as ws:
            client = await server.wait_for_client()
            assert client.frozen
            with pytest.raises(ConnectionClosedError) as raised:
                await within(ws.recv(), 3.0)
            assert raised.value.sent is not None
            assert raised.value.sent.code == 1011
            assert "ping timeout" in raised.value.sent.reason


async def test_freeze_stops_reading_and_unfreeze_resumes() -> None:
    """Frames sent to a frozen server are not read until unfreeze(); sending still works."""
    async with FakeServer() as server, connect(server.url) as ws:
        client = await server.wait_for_client()
        server.freeze()
        assert client.frozen
        await ws.send(json.dumps({"n": 1}))
        with pytest.raises(TimeoutError):
            await server.wait_received(count=1, timeout=100 * MS)
        assert await server.publish("out", {}) == 1
        assert await recv_json(ws) == {"channel": "out"}
        server.unfreeze()
        assert await server.wait_received(count=1) == [{"n": 1}]
        # A pong arrives once reading resumes.
        await within(await ws.ping())


async def test_max_age_closes_connections() -> None:
    """max_age closes each connection with code 1000 once it is that old."""
    async with FakeServer(max_age=0.2) as server, connect(server.url) as ws:
        client = await server.wait_for_client()
        with pytest.raises(ConnectionClosedOK) as raised:
            await within(ws.recv())
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == 1000
        await client.wait_closed()


async def test_max_age_set_later_with_custom_code() -> None:
    """Setting max_age applies to open connections; max_age_code picks the close code."""
    async with FakeServer(max_age_code=4000, max_age_reason="24h") as server:
        async with connect(server.url) as ws:
            await server.wait_for_client()
            server.max_age = 0.1
            with pytest.raises(ConnectionClosedError) as raised:
                await within(ws.recv())
            assert raised.value.rcvd is not None
            assert raised.value.rcvd.code == 4000
            assert raised.value.rcvd.reason == "24h"
        server.max_age = None
        async with connect(server.url):
            client = await server.wait_for_client(2)
        assert client.close_code == 1000


async def test_wait_for_client_times_out_with_a_clear_message() -> None:
    """wait_for_client() raises TimeoutError saying which connection it waited for."""
    async with FakeServer() as server:
        with pytest.raises(TimeoutError, match="connection #1"):
            await server.wait_for_client(timeout=50 * MS)


async def test_client_wait_closed_when_client_leaves() -> None:
    """When the client closes, the FakeClient is closed and leaves server.clients."""
    async with FakeServer() as server:
        async with connect(server.url):
            client = await server.wait_for_client()
            assert server.clients == [client]
        await client.wait_closed()
        assert client.closed
        assert client.close_code == 1000
        assert server.clients == []
        assert server.all_clients == [client]


async def test_hooks_can_answer_and_failures_are_recorded() -> None:
    """on_connect and on_message run per connection and frame; a raising hook closes 1011."""
    async with FakeServer() as server:

        @server.on_connect
        async def greet(client: FakeClient) -> None:
            await client.send({"hello": client.id})

        @server.on_message
        def echo(client: FakeClient, message: Any) -> None:
            if message == "boom":
                raise RuntimeError("boom")

        async with connect(server.url) as ws:
            assert await recv_json(ws) == {"hello": 1}
            await ws.send("boom")
            with pytest.raises(ConnectionClosedError) as raised:
                await within(ws.recv())
            assert raised.value.rcvd is not None
            assert raised.value.rcvd.code == 1011
        assert len(server.errors) == 1
        assert str(server.errors[0]) == "boom"


async def test_stop_is_quick_even_when_frozen() -> None:
    """stop() aborts frozen connections instead of waiting for a close handshake."""
    server = FakeServer(close_timeout=10.0)
    await server.start()
    async with connect(server.url, close_timeout=0.1) as ws:
        client = await server.wait_for_client()
        server.freeze()
        await within(server.stop(), 1.0)
        assert client.closed
        with pytest.raises(ConnectionClosedError):
            await within(ws.recv())


async def test_stop_closes_with_1001_and_leaves_no_task() -> None:
    """stop() closes open clients with 1001 and leaves no task behind."""
    server = FakeServer()
    await server.start()
    async with connect(server.url) as ws:
        await server.wait_for_client()
        await within(server.stop())
        with pytest.raises(ConnectionClosedOK) as raised:
            await within(ws.recv())
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == 1001
    await server.stop()  # idempotent
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_restart_keeps_the_url() -> None:
    """After stop(), start() binds the same port so clients reconnect to the same URL."""
    server = FakeServer()
    await server.start()
    try:
        url = server.url
        await server.stop()
        with pytest.raises(ConnectionRefusedError):
            await within(connect(url).__aenter__())
        await server.start()
        assert server.url == url
        async with connect(url):
            await server.wait_for_client()
    finally:
        await server.stop()


async def test_start_twice_raises() -> None:
    """Starting a started server is an error."""
    async with FakeServer() as server:
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
