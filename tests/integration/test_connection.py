"""The Connection against a real FakeServer: events, payloads, ordering,
delivery under slow handlers, overflow modes, subscriptions, send and close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, Recorder, until
from wsevents import DisconnectReason, State
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


async def test_connect_event_payload_and_state(server: FakeServer, make_connection: Make) -> None:
    """connect() returns connected; the connect event carries a first-connection payload."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "connect")
    assert ws.state is State.IDLE
    await ws.connect()
    assert ws.state is State.CONNECTED
    await rec.wait_count("connect", 1)
    event = rec.of("connect")[0]
    assert isinstance(event, wsevents.Connected)
    assert event.url == server.url
    assert event.attempt == 1
    assert event.is_reconnect is False
    assert event.downtime == 0.0
    assert ws.stats.connects == 1


async def test_message_and_channel_events(server: FakeServer, make_connection: Make) -> None:
    """A published message fires `message` then `message:<channel>` with the decoded dict."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "message", "message:trades", "message:book")
    await ws.connect()
    await server.wait_for_client()
    await server.publish("trades", {"price": 1})
    await rec.wait(lambda r: len(r.items) >= 2)
    assert rec.items == [
        ("message", {"channel": "trades", "price": 1}),
        ("message:trades", {"channel": "trades", "price": 1}),
    ]
    assert ws.stats.messages_received == 1


async def test_decorator_form_and_async_handlers_in_order(
    server: FakeServer, make_connection: Make
) -> None:
    """Async handlers are awaited one message at a time: order holds even when they await."""
    ws = make_connection(server.url)
    seen: list[int] = []
    active = 0
    done = asyncio.Event()

    @ws.on("message:trades")
    async def on_trade(msg: dict[str, Any]) -> None:
        nonlocal active
        active += 1
        assert active == 1, "two deliveries overlapped"
        await asyncio.sleep(0)  # a real suspension point inside the handler
        await asyncio.sleep(0)
        seen.append(msg["n"])
        active -= 1
        if len(seen) == 200:
            done.set()

    await ws.connect()
    await server.wait_for_client()
    for n in range(200):
        await server.publish("trades", {"n": n})
    await asyncio.wait_for(done.wait(), 5)
    assert seen == list(range(200))


async def test_handler_error_goes_to_error_event_and_delivery_continues(
    server: FakeServer, make_connection: Make
) -> None:
    """A raising handler emits `error`; the next messages are still delivered."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "error", "message:trades")

    @ws.on("message:trades")
    def boom(msg: dict[str, Any]) -> None:
        if msg["n"] == 0:
            raise ValueError("bad trade")

    await ws.connect()
    await server.wait_for_client()
    for n in range(3):
        await server.publish("trades", {"n": n})
    await rec.wait_count("message:trades", 3)
    errors = rec.of("error")
    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)
    assert ws.stats.handler_errors == 1
    assert ws.state is State.CONNECTED


async def test_error_handler_that_raises_is_logged_not_recursed(
    server: FakeServer, make_connection: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """An `error` handler that raises is logged once; delivery goes on."""
    ws = make_connection(server.url)
    calls: list[Exception] = []
    rec = Recorder(ws, "message:trades")

    @ws.on("error")
    def bad_error_handler(exc: Exception) -> None:
        calls.append(exc)
        raise RuntimeError("error handler broke")

    ws.on("message:trades", lambda msg: 1 / 0)
    await ws.connect()
    await server.wait_for_client()
    await server.publish("trades", {"n": 1})
    await server.publish("trades", {"n": 2})
    await rec.wait_count("message:trades", 2)
    await until(lambda: len(calls) == 2, 5)
    assert all(isinstance(c, ZeroDivisionError) for c in calls)
    assert "an 'error' handler raised" in caplog.text


async def test_errors_without_error_handler_are_logged(
    server: FakeServer, make_connection: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """With no `error` handler, a handler's error and a bad frame are both logged."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "message:trades")

    @ws.on("message:trades")
    def handler(msg: dict[str, Any]) -> None:
        if msg["n"] == 1:
            raise ValueError("handler broke")

    await ws.connect()
    client = await server.wait_for_client()
    await server.publish("trades", {"n": 1})
    await client.send("not json{")
    await server.publish("trades", {"n": 2})
    await rec.wait_count("message:trades", 2)
    await until(lambda: caplog.text.count("unhandled error") == 2)
    assert "handler broke" in caplog.text
    assert "frame is not valid JSON" in caplog.text
    assert ws.stats.decode_errors == 1


async def test_bad_frame_is_an_error_event(server: FakeServer, make_connection: Make) -> None:
    """A frame that is not JSON becomes a FrameError event naming it; others still flow."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "error", "message:trades")
    await ws.connect()
    await server.wait_for_client()
    await server.send_raw("this is {not json")
    await server.publish("trades", {"n": 1})
    await rec.wait_count("message:trades", 1)
    await rec.wait_count("error", 1)
    error = rec.of("error")[0]
    assert isinstance(error, wsevents.FrameError)
    assert "not valid JSON" in str(error)
    assert "this is {not json" in str(error)
    assert ws.stats.decode_errors == 1


async def test_once_and_remove_listener_follow_pyee(
    server: FakeServer, make_connection: Make
) -> None:
    """once() fires once; remove_listener() stops delivery; listeners() reflects both."""
    ws = make_connection(server.url)
    once_calls: list[int] = []
    all_calls: list[int] = []
    ws.once("message:trades", lambda m: once_calls.append(m["n"]))

    def every(m: dict[str, Any]) -> None:
        all_calls.append(m["n"])

    ws.on("message:trades", every)
    assert "message:trades" in ws.event_names()
    assert every in ws.listeners("message:trades")
    await ws.connect()
    await server.wait_for_client()
    for n in range(3):
        await server.publish("trades", {"n": n})
    await until(lambda: len(all_calls) == 3, 5)
    ws.remove_listener("message:trades", every)
    await server.publish("trades", {"n": 3})
    marker: list[int] = []
    ws.on("message:control", lambda m: marker.append(1))
    await server.publish("control", {})
    await until(lambda: marker == [1], 5)
    assert once_calls == [0]
    assert all_calls == [0, 1, 2]
    assert ws.listeners("message:trades") == []


async def test_slow_handler_does_not_break_keepalive(
    server: FakeServer, make_connection: Make
) -> None:
    """A handler blocking the dispatcher 3 s with ping_interval=0.5 causes no disconnect."""
    ws = make_connection(server.url, ping_interval=0.5, ping_timeout=0.5)
    rec = Recorder(ws, "disconnect", "message:trades")

    @ws.on("message:trades")
    async def slow(msg: dict[str, Any]) -> None:
        if msg["n"] == 0:
            await asyncio.sleep(3.0)  # the slow user code under test, not synchronisation

    await ws.connect()
    await server.wait_for_client()
    for n in range(5):
        await server.publish("trades", {"n": n})
    await rec.wait_count("message:trades", 5, timeout=10)
    assert rec.of("disconnect") == []
    assert ws.state is State.CONNECTED
    assert server.connections == 1


async def _blocked_dispatcher(ws: wsevents.Connection) -> tuple[asyncio.Event, list[int]]:
    """Install a first handler that blocks until released, and record trades."""
    release = asyncio.Event()
    got: list[int] = []

    @ws.on("message:trades")
    async def handler(msg: dict[str, Any]) -> None:
        if msg["n"] == 0:
            await release.wait()
        got.append(msg["n"])

    return release, got


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [
        ("drop_oldest", [0, 7, 8, 9]),  # the oldest queued were dropped
        ("drop_newest", [0, 1, 2, 3]),  # the newest were dropped
    ],
)
async def test_drop_modes(
    server: FakeServer, make_connection: Make, overflow: str, expected: list[int]
) -> None:
    """With the dispatcher stuck, a queue of 3 keeps the right 3 messages and counts the drops."""
    ws = make_connection(server.url, queue_size=3, overflow=overflow)
    rec = Recorder(ws, "queue_full")
    release, got = await _blocked_dispatcher(ws)
    await ws.connect()
    await server.wait_for_client()
    await server.publish("trades", {"n": 0})
    await until(lambda: ws.stats.messages_received == 1, 5)
    await until(lambda: ws.stats.queue_depth == 0, 5)
    for n in range(1, 10):
        await server.publish("trades", {"n": n})
    await until(lambda: ws.stats.messages_received == 10, 5)
    assert ws.stats.messages_dropped == 6
    assert ws.stats.queue_depth == 3
    release.set()
    await until(lambda: len(got) == 4, 5)
    assert got == expected
    await rec.wait_count("queue_full", 1)
    reports = rec.of("queue_full")
    assert sum(r.dropped for r in reports) == 6
    first = reports[0]
    assert isinstance(first, wsevents.QueueFull)
    assert (first.channel, first.size, first.overflow) == ("trades", 3, overflow)
    assert len(reports) <= 2, "drops must be aggregated, not reported one by one"
    stats = ws.stats
    assert stats.messages_delivered == 4
    assert stats.queue_full_events == len(reports)


def _text_frames(texts: list[str]) -> bytes:
    """Unmasked server-to-client text frames (payloads under 126 bytes), back to back."""
    frames = bytearray()
    for text in texts:
        payload = text.encode()
        assert len(payload) < 126
        frames += bytes([0x81, len(payload)]) + payload
    return bytes(frames)


@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest"])
async def test_one_read_larger_than_the_queue_drops_nothing(
    server: FakeServer, make_connection: Make, overflow: str
) -> None:
    """Many frames in one TCP read fill the queue before the dispatcher ran: the reader
    lets it deliver first, so a dispatcher that keeps up loses nothing."""
    ws = make_connection(server.url, queue_size=10, overflow=overflow)
    got: list[int] = []
    ws.on("message:trades", lambda msg: got.append(msg["n"]))
    await ws.connect()
    client = await server.wait_for_client()
    burst = _text_frames([f'{{"channel":"trades","n":{n}}}' for n in range(200)])
    client.websocket.transport.write(burst)  # one write: ~6 KB, one read on loopback
    await until(lambda: ws.stats.messages_received == 200, 5)
    await until(lambda: len(got) == 200, 5)
    assert got == list(range(200))
    assert ws.stats.messages_dropped == 0


async def test_block_mode_loses_nothing(server: FakeServer, make_connection: Make) -> None:
    """In block mode the reader waits for space: every message arrives, none dropped."""
    ws = make_connection(server.url, queue_size=3, overflow="block")
    rec = Recorder(ws, "queue_full")
    release, got = await _blocked_dispatcher(ws)
    await ws.connect()
    await server.wait_for_client()
    for n in range(20):
        await server.publish("trades", {"n": n})
    await rec.wait_count("queue_full", 1)
    assert ws.stats.queue_depth <= 3
    release.set()
    await until(lambda: len(got) == 20, 5)
    assert got == list(range(20))
    assert ws.stats.messages_dropped == 0
    assert rec.of("queue_full")[0].dropped == 0


async def test_subscriptions_sent_and_restored_after_drop(
    server: FakeServer, make_connection: Make
) -> None:
    """Subscriptions are sent on connect and re-sent after a drop, before `connect` fires."""
    ws = make_connection(server.url, subscriptions=["trades", "book"])
    sent_at_connect: list[int] = []

    @ws.on("connect")
    def on_connect(event: wsevents.Connected) -> None:
        sent_at_connect.append(ws.stats.messages_sent)

    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    await ws.connect()
    first = await server.wait_for_client()
    await first.wait_subscribed("trades", "book")
    await ws.subscribe("ticker")
    await first.wait_subscribed("ticker")
    await server.drop()
    second = await server.wait_for_client(2)
    await second.wait_subscribed("trades", "book", "ticker")
    await rec.wait_count("connect", 2)
    assert ws.subscriptions == ("trades", "book", "ticker")
    # one frame on the first connect, one for "ticker", one on the reconnect:
    # each was sent before the `connect` event of its connection fired
    assert sent_at_connect == [1, 3]
    assert second.received == [{"op": "subscribe", "channels": ["trades", "book", "ticker"]}]
    assert rec.names() == ["connect", "disconnect", "reconnecting", "connect"]


async def test_unsubscribe(server: FakeServer, make_connection: Make) -> None:
    """unsubscribe() sends the frame and forgets the channel for later reconnects."""
    ws = make_connection(server.url, subscriptions=["trades", "book"])
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("trades", "book")
    await ws.unsubscribe("book")
    await client.wait_received(lambda frames: {"op": "unsubscribe", "channels": ["book"]} in frames)
    assert ws.subscriptions == ("trades",)


async def test_reconnect_events_after_drop(server: FakeServer, make_connection: Make) -> None:
    """A TCP drop gives disconnect(NETWORK_ERROR), reconnecting, connect(is_reconnect)."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    await ws.connect()
    await server.wait_for_client()
    await server.drop()
    await rec.wait_count("connect", 2)
    disconnect = rec.of("disconnect")[0]
    assert isinstance(disconnect, wsevents.Disconnected)
    assert disconnect.reason is DisconnectReason.NETWORK_ERROR
    assert disconnect.proactive is False
    assert disconnect.uptime >= 0
    reconnecting = rec.of("reconnecting")[0]
    assert isinstance(reconnecting, wsevents.Reconnecting)
    assert reconnecting.attempt == 1
    assert reconnecting.delay == pytest.approx(20 * MS)
    assert reconnecting.reason is DisconnectReason.NETWORK_ERROR
    again = rec.of("connect")[1]
    assert again.is_reconnect is True
    assert again.downtime > 0
    stats = ws.stats
    assert (stats.connects, stats.reconnects, stats.reactive_disconnects) == (2, 1, 1)


async def test_clean_server_close_reconnects(server: FakeServer, make_connection: Make) -> None:
    """A server's 1000 close is reported with its code and reason, then reconnected."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "connect", "disconnect")
    await ws.connect()
    await server.wait_for_client()
    await server.close_clients(code=1000, reason="bye")
    await rec.wait_count("connect", 2)
    event = rec.of("disconnect")[0]
    assert (event.reason, event.code, event.reason_text) == (
        DisconnectReason.SERVER_CLOSE,
        1000,
        "bye",
    )


async def test_clean_close_can_end_the_connection(
    server: FakeServer, make_connection: Make
) -> None:
    """With reconnect_on_clean_close=False a 1000 close ends run() without error."""
    ws = make_connection(server.url, reconnect_on_clean_close=False)
    rec = Recorder(ws, "closed")
    run = asyncio.ensure_future(ws.run())
    await server.wait_for_client()
    await server.close_clients(code=1001, reason="going away")
    await asyncio.wait_for(run, 5)
    assert ws.state is State.CLOSED
    await rec.wait_count("closed", 1)
    assert rec.of("closed")[0].error is None


async def test_max_reconnect_attempts_ends_in_closed(
    server: FakeServer, make_connection: Make
) -> None:
    """After max_reconnect_attempts failed attempts: `closed`, and run() raises."""
    ws = make_connection(server.url, max_reconnect_attempts=3)
    rec = Recorder(ws, "closed", "reconnecting")
    await ws.connect()
    await server.wait_for_client()
    server.refuse(status=503)
    run = asyncio.ensure_future(ws.run())
    await server.drop()
    with pytest.raises(wsevents.ReconnectExhausted) as raised:
        await asyncio.wait_for(run, 5)
    assert raised.value.attempts == 3
    assert isinstance(raised.value.last_error, wsevents.HandshakeRejected)
    await rec.wait_count("closed", 1)
    closed = rec.of("closed")[0]
    assert isinstance(closed.error, wsevents.ReconnectExhausted)
    assert [r.attempt for r in rec.of("reconnecting")] == [1, 2, 3]
    assert server.handshakes == 4
    assert ws.state is State.CLOSED


async def test_connect_raises_on_fatal_status(server: FakeServer, make_connection: Make) -> None:
    """A 401 handshake is fatal after exactly one attempt: connect() raises HandshakeRejected."""
    server.refuse(status=401, body="bad key")
    ws = make_connection(server.url)
    with pytest.raises(wsevents.HandshakeRejected) as raised:
        await ws.connect()
    assert raised.value.status == 401
    assert server.handshakes == 1
    with pytest.raises(wsevents.HandshakeRejected):
        await ws.run()


async def test_connect_error_when_nothing_listens(make_connection: Make) -> None:
    """Nothing listening on the port: connect() raises ConnectError after its attempts."""
    async with FakeServer() as gone:
        url = gone.url
    ws = make_connection(url, max_reconnect_attempts=2)
    with pytest.raises(wsevents.ConnectError):
        await ws.connect()
    assert ws.stats.failed_attempts == 2


async def test_send_while_disconnected_raises(server: FakeServer, make_connection: Make) -> None:
    """send() before connecting and after closing raises NotConnected."""
    ws = make_connection(server.url)
    with pytest.raises(wsevents.NotConnected):
        await ws.send({"op": "ping"})
    await ws.connect()
    client = await server.wait_for_client()
    await ws.send({"op": "ping"})
    await ws.send("text")
    await ws.send(b"\x00\x01")
    await client.wait_received(count=3)
    assert client.received[-3:] == [{"op": "ping"}, "text", b"\x00\x01"]
    with pytest.raises(TypeError):
        await ws.send(object())  # type: ignore[arg-type]
    await ws.close()
    with pytest.raises(wsevents.NotConnected):
        await ws.send({"op": "ping"})


async def test_close_is_bounded_on_a_frozen_peer(server: FakeServer, make_connection: Make) -> None:
    """close() returns within close_timeout (+ margin) when the server never answers."""
    ws = make_connection(server.url, close_timeout=0.5)
    rec = Recorder(ws, "disconnect", "closed")
    await ws.connect()
    await server.wait_for_client()
    server.freeze()
    started = time.monotonic()
    await ws.close()
    assert time.monotonic() - started < 0.5 + 0.5
    assert ws.state is State.CLOSED
    assert rec.names()[-2:] == ["disconnect", "closed"]
    assert rec.of("disconnect")[0].reason is DisconnectReason.SHUTDOWN
    assert rec.of("disconnect")[0].proactive is True


async def test_async_with_and_stream(server: FakeServer, make_connection: Make) -> None:
    """`async with` connects and closes; stream() yields payloads and ends at close."""
    ws = make_connection(server.url)
    got: list[int] = []

    async def consume() -> None:
        async for msg in ws.stream("message:trades"):
            got.append(msg["n"])

    async with ws:
        consumer = asyncio.ensure_future(consume())
        await server.wait_for_client()
        for n in range(3):
            await server.publish("trades", {"n": n})
        await until(lambda: len(got) == 3, 5)
    await asyncio.wait_for(consumer, 5)
    assert got == [0, 1, 2]
    assert ws.state is State.CLOSED


async def test_stream_fans_out(server: FakeServer, make_connection: Make) -> None:
    """Two streams of the same event both see every payload."""
    ws = make_connection(server.url)
    a: list[int] = []
    b: list[int] = []

    async def consume(into: list[int]) -> None:
        async for msg in ws.stream("message:trades"):
            into.append(msg["n"])

    await ws.connect()
    tasks = [asyncio.ensure_future(consume(a)), asyncio.ensure_future(consume(b))]
    await until(lambda: len(ws.listeners("message:trades")) == 2, 5)
    await server.wait_for_client()
    for n in range(5):
        await server.publish("trades", {"n": n})
    await until(lambda: len(a) == 5 and len(b) == 5, 5)
    await ws.close()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert a == b == list(range(5))


async def test_close_from_inside_a_handler(server: FakeServer, make_connection: Make) -> None:
    """close() awaited from a message handler returns, and the connection ends."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "closed")

    @ws.on("message:trades")
    async def stop(msg: dict[str, Any]) -> None:
        await ws.close()

    run = asyncio.ensure_future(ws.run())
    await server.wait_for_client()
    await server.publish("trades", {"n": 1})
    await asyncio.wait_for(run, 5)
    await rec.wait_count("closed", 1)
    assert ws.state is State.CLOSED


async def test_headers_callable_called_before_every_connect(
    server: FakeServer, make_connection: Make
) -> None:
    """A headers callable runs before every attempt: a reconnect carries fresh values."""
    tokens = iter(["t1", "t2", "t3"])
    ws = make_connection(server.url, headers=lambda: {"X-Token": next(tokens)})
    rec = Recorder(ws, "connect")
    await ws.connect()
    await server.wait_for_client()
    await server.drop()
    await rec.wait_count("connect", 2)
    assert [r.headers["X-Token"] for r in server.requests] == ["t1", "t2"]



async def test_stream_listens_from_creation(server: FakeServer, make_connection: Make) -> None:
    """A stream created before connect() sees the `connect` event, and aclose() unregisters."""
    ws = make_connection(server.url)
    connects = ws.stream("connect")
    await ws.connect()
    event = await asyncio.wait_for(connects.__anext__(), 5)
    assert isinstance(event, wsevents.Connected)
    assert len(ws.listeners("connect")) == 1
    await connects.aclose()  # type: ignore[attr-defined]
    assert ws.listeners("connect") == []
    with pytest.raises(StopAsyncIteration):
        await connects.__anext__()


async def test_stream_of_closed_ends_after_one(server: FakeServer, make_connection: Make) -> None:
    """stream("closed") yields the Closed payload once, then ends."""
    ws = make_connection(server.url)
    closed = ws.stream("closed")
    await ws.connect()
    await ws.close()
    got = [item async for item in closed]
    assert len(got) == 1
    assert isinstance(got[0], wsevents.Closed)

