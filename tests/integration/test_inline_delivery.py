"""Delivery straight from the transport's frame callback (picows).

The picows transport hands complete text frames to the connection inside its
own callback, and the dispatcher delivers them there when it is idle and the
handlers are plain functions.  These tests pin down that this changes nothing a
handler can see: order, error reporting, awaitables returned by plain
functions, handlers added on the way, the overflow modes, stats.  The ordering
tests run on both transports, compressed and not, and expect the same records.

Where it matters, a handler tells the two paths apart by
``asyncio.current_task()``: None in the frame callback, the dispatcher task
otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import wsevents
import wsevents._bounded
import wsevents._picows
from tests.conftest import Recorder, until
from wsevents.testing import FakeClient, FakeServer


Make = Callable[..., wsevents.Connection]

#: (transport, FakeServer compression): picows takes complete text frames inline,
#: compressed ones inflated in its frame callback
PATHS = [
    pytest.param("picows", None, id="picows-inline"),
    pytest.param("picows", "deflate", id="picows-inflated"),
    pytest.param("websockets", None, id="websockets"),
]


@pytest.fixture(params=[None, "deflate"], ids=["uncompressed", "deflate"])
async def inline_server(request: pytest.FixtureRequest) -> AsyncIterator[FakeServer]:
    """A FakeServer that refuses or accepts permessage-deflate: either way, picows'
    inline path applies (compressed frames are inflated in the frame callback)."""
    async with FakeServer(compression=request.param) as fake:
        yield fake


async def _burst(client: FakeClient, count: int, channel: str = "t", start: int = 0) -> None:
    """Send ``count`` messages without yielding in between: one read on the client."""
    for n in range(start, start + count):
        await client.send({"channel": channel, "n": n})


@pytest.mark.parametrize(("transport", "compression"), PATHS)
async def test_errors_and_awaitables_keep_their_place(
    make_connection: Make, transport: str, compression: str | None
) -> None:
    """A raising handler's error, and an awaitable a plain function returns, come in
    order: before the message's next handler and before the next message."""
    async with FakeServer(compression=compression) as server:
        ws = make_connection(server.url, transport=transport)
        seen: list[tuple[str, int]] = []

        async def later(n: int) -> None:
            await asyncio.sleep(0)
            seen.append(("awaited", n))

        def first(msg: dict[str, Any]) -> Any:
            n = msg["n"]
            seen.append(("first", n))
            if n == 2:
                raise ValueError(n)
            if n == 4:
                return later(n)  # a plain function returning a coroutine
            return None

        def second(msg: dict[str, Any]) -> None:
            seen.append(("second", msg["n"]))

        ws.on("message:t", first)
        ws.on("message:t", second)
        ws.on("error", lambda exc: seen.append(("error", exc.args[0])))
        await ws.connect()
        client = await server.wait_for_client()
        await _burst(client, 7)
        await until(lambda: ("second", 6) in seen)
        assert seen == [
            ("first", 0), ("second", 0),
            ("first", 1), ("second", 1),
            ("first", 2), ("error", 2), ("second", 2),
            ("first", 3), ("second", 3),
            ("first", 4), ("awaited", 4), ("second", 4),
            ("first", 5), ("second", 5),
            ("first", 6), ("second", 6),
        ]  # fmt: skip
        assert ws.stats.handler_errors == 1
        await until(lambda: ws.stats.messages_delivered == 7)


@pytest.mark.parametrize(("transport", "compression"), PATHS)
async def test_frames_of_every_kind_keep_their_order(
    make_connection: Make, transport: str, compression: str | None
) -> None:
    """Binary, fragmented and consumed frames (answered) among text frames: every
    message in the order sent, whichever path each frame took."""
    async with FakeServer(compression=compression) as server:
        protocol = wsevents.JsonProtocol(heartbeat=({"op": "ping"}, {"op": "pong"}))
        ws = make_connection(server.url, transport=transport, protocol=protocol)
        got: list[int] = []
        ws.on("message:t", lambda msg: got.append(msg["n"]))
        await ws.connect()
        client = await server.wait_for_client()
        await _burst(client, 2)
        await client.send(b'{"channel": "t", "n": 2}')
        await client.websocket.send(['{"channel": "t", ', '"n": 3}'])
        await client.send({"op": "ping"})
        await _burst(client, 3, start=4)
        await client.websocket.send(['{"channel": "t", ', '"n": 7}'])
        await _burst(client, 2, start=8)
        await until(lambda: len(got) == 10)
        assert got == list(range(10))
        assert await client.wait_received(lambda frames: {"op": "pong"} in frames)
        assert ws.stats.messages_received == 11  # the ping counts


async def test_plain_handlers_run_in_the_frame_callback(
    inline_server: FakeServer, make_connection: Make
) -> None:
    """On picows, compressed or not: a plain function runs in the frame callback, a
    coroutine function in the dispatcher, in order all the same."""
    ws = make_connection(inline_server.url, transport="picows")
    tasks: dict[str, list[asyncio.Task[Any] | None]] = {"t": [], "u": []}
    order: list[str] = []

    def on_t(msg: dict[str, Any]) -> None:
        tasks["t"].append(asyncio.current_task())
        order.append(f"t{msg['n']}")

    async def on_u(msg: dict[str, Any]) -> None:
        tasks["u"].append(asyncio.current_task())
        order.append(f"u{msg['n']}")

    ws.on("message:t", on_t)
    ws.on("message:u", on_u)
    rec = Recorder(ws, "connect")
    await ws.connect()
    client = await inline_server.wait_for_client()
    await rec.wait_count("connect", 1)  # the dispatcher is idle from here on
    await _burst(client, 3, "t")
    await until(lambda: len(order) == 3)
    await _burst(client, 2, "u")
    await _burst(client, 2, "t", start=3)
    await until(lambda: len(order) == 7)
    assert order == ["t0", "t1", "t2", "u0", "u1", "t3", "t4"]
    assert tasks["t"][:3] == [None, None, None]
    assert all(task is not None for task in tasks["u"])
    await until(lambda: ws.stats.messages_delivered == 7)
    assert ws.stats.last_message_at is not None


async def test_handlers_added_on_the_way_are_called_from_the_next_message(
    inline_server: FakeServer, make_connection: Make
) -> None:
    """A handler that adds an async handler and removes itself: the change applies
    from the next message on, and the async handler is awaited in order."""
    ws = make_connection(inline_server.url, transport="picows")
    seen: list[str] = []

    async def awaited(msg: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append(f"async{msg['n']}")

    def plain(msg: dict[str, Any]) -> None:
        seen.append(f"plain{msg['n']}")
        if msg["n"] == 1:
            ws.on("message:t", awaited)
            ws.remove_listener("message:t", plain)

    ws.on("message:t", plain)
    ws.once("message:t", awaited)  # pyee wraps it in a plain function
    await ws.connect()
    client = await inline_server.wait_for_client()
    await _burst(client, 4)
    await until(lambda: "async3" in seen)
    assert seen == ["plain0", "async0", "plain1", "async2", "async3"]


async def test_a_long_burst_lets_the_loop_run(
    inline_server: FakeServer, make_connection: Make
) -> None:
    """Handlers that hold the loop (2 ms of CPU each, 150 messages in one read): after
    YIELD_INTERVAL the rest goes through the dispatcher, which lets timers run,
    instead of the frame callback keeping the loop for the whole burst."""
    ws = make_connection(inline_server.url, transport="picows")
    seen: list[Any] = []
    loop = asyncio.get_running_loop()

    def busy(msg: dict[str, Any]) -> None:
        if msg["n"] == 0:
            loop.call_soon(seen.append, "timer")
        deadline = time.perf_counter() + 0.002
        while time.perf_counter() < deadline:
            pass
        seen.append(msg["n"])

    ws.on("message:t", busy)
    await ws.connect()
    client = await inline_server.wait_for_client()
    # One write of 150 frames: the client reads them in one callback.
    frames = [json.dumps({"channel": "t", "n": n}).encode() for n in range(150)]
    client.websocket.transport.write(b"".join(bytes([0x81, len(f)]) + f for f in frames))
    await until(lambda: 149 in seen, 10)
    assert [n for n in seen if n != "timer"] == list(range(150))
    # 50 ms of 2 ms handlers: the timer runs after at most ~26 messages, long before the end.
    assert seen.index("timer") < 60


async def test_a_burst_of_megabytes_stays_in_the_frame_callback(
    make_connection: Make,
) -> None:
    """8 MB written at once, 8,000 frames whose handlers take 40 µs each: picows'
    reads are bounded (``MAX_READ``), so no callback holds more than about 10 ms
    of handlers and every message is delivered inline.  Unbounded, picows'
    read buffer doubles with each full read, one callback soon holds more than
    YIELD_INTERVAL of handlers, and the rest of the burst goes through the
    queue, decoded."""
    async with FakeServer() as server:
        ws = make_connection(server.url, transport="picows")
        tasks: list[asyncio.Task[Any] | None] = []

        def busy(msg: dict[str, Any]) -> None:
            deadline = time.perf_counter() + 0.00004
            while time.perf_counter() < deadline:
                pass
            tasks.append(asyncio.current_task())

        ws.on("message:t", busy)
        rec = Recorder(ws, "connect")
        await ws.connect()
        client = await server.wait_for_client()
        await rec.wait_count("connect", 1)  # the dispatcher is idle from here on
        pad = "x" * 1000
        frames = [json.dumps({"channel": "t", "n": n, "pad": pad}).encode() for n in range(8000)]
        client.websocket.transport.write(
            b"".join(bytes([0x81, 126]) + len(f).to_bytes(2, "big") + f for f in frames)
        )
        await until(lambda: len(tasks) == 8000, 20)
        assert sum(task is not None for task in tasks) == 0
        assert wsevents._bounded.MAX_READ == 256 * 1024


@pytest.mark.parametrize(
    ("overflow", "expected", "dropped"),
    [
        ("block", list(range(12)), 0),
        ("drop_newest", [0, 1, 2, 3], 8),
        ("drop_oldest", [0, 9, 10, 11], 8),
    ],
)
async def test_a_full_queue_applies_the_overflow_mode(
    inline_server: FakeServer,
    make_connection: Make,
    overflow: str,
    expected: list[int],
    dropped: int,
) -> None:
    """Frames that find the queue full leave the frame callback for the reader task,
    which applies the overflow mode as on any transport."""
    ws = make_connection(inline_server.url, transport="picows", queue_size=3, overflow=overflow)
    release = asyncio.Event()
    got: list[int] = []
    rec = Recorder(ws, "queue_full")

    @ws.on("message:t")
    async def stuck(msg: dict[str, Any]) -> None:
        if msg["n"] == 0:
            await release.wait()
        got.append(msg["n"])

    await ws.connect()
    client = await inline_server.wait_for_client()
    await _burst(client, 12)
    if overflow == "block":
        # reported at once (the report goes to the front of the queue)
        await rec.wait_count("queue_full", 1)
    else:
        await until(lambda: ws.stats.messages_dropped == dropped)
    release.set()
    await rec.wait_count("queue_full", 1)
    assert rec.of("queue_full")[0].channel == "t"
    await until(lambda: len(got) == len(expected))
    await until(lambda: ws.stats.messages_received == 12)
    assert got == expected
    assert ws.stats.messages_dropped == dropped
    assert ws.stats.queue_depth <= 3


async def test_receiver_off_keeps_every_frame_on_recv(
    inline_server: FakeServer, make_connection: Make
) -> None:
    """PicowsTransport(receiver=False) (internal: for A/B benchmarks): picows.websockets
    as it is, handlers in the dispatcher task."""
    transport = wsevents._picows.PicowsTransport(receiver=False)
    ws = make_connection(inline_server.url, transport=transport)
    tasks: list[asyncio.Task[Any] | None] = []
    ws.on("message:t", lambda msg: tasks.append(asyncio.current_task()))
    await ws.connect()
    client = await inline_server.wait_for_client()
    await _burst(client, 5)
    await until(lambda: len(tasks) == 5)
    assert all(task is not None for task in tasks)


@pytest.mark.parametrize(("transport", "compression"), PATHS)
async def test_bad_compressed_frames_fail_the_connection_the_same_way(
    make_connection: Make, transport: str, compression: str | None
) -> None:
    """Invalid UTF-8 (1007) and a message over ``max_size`` once inflated (1009): the
    same reasons and codes whichever path the frame took."""
    async with FakeServer(compression=compression) as server:
        ws = make_connection(server.url, transport=transport, max_size=1000)
        got: list[int] = []
        ws.on("message:t", lambda msg: got.append(msg["n"]))
        rec = Recorder(ws, "disconnect", "connect")
        await ws.connect()
        client = await server.wait_for_client()
        await client.send({"channel": "t", "n": 0})
        await client.websocket.send(b"\xff\xfe{}", text=True)
        await rec.wait_count("connect", 2)
        client = await server.wait_for_client(2)
        await client.send({"channel": "t", "n": 1})
        await client.send({"channel": "t", "n": 2, "blob": "x" * 5000})
        await rec.wait_count("connect", 3)
        assert got == [0, 1]
        events = rec.of("disconnect")
        assert [(e.reason, e.code) for e in events] == [
            (wsevents.DisconnectReason.PROTOCOL_ERROR, 1007),
            (wsevents.DisconnectReason.PROTOCOL_ERROR, 1009),
        ]


class _StopsReading(asyncio.Protocol):
    """A WebSocket server that answers the handshake and then stops reading until
    told (a peer that stalls): only bytes are counted, no frame is parsed."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.received = 0
        self.upgraded = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.upgraded.is_set():
            self.received += len(data)
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        key = next(
            line.split(b":", 1)[1].strip()
            for line in self.head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.transport.pause_reading()
        self.upgraded.set()


async def test_sends_wait_for_a_server_that_stops_reading(make_connection: Make) -> None:
    """The picows transport's bounded reads sit between the socket and picows: a
    server that stops reading pauses picows' writing and one that reads again
    resumes it, so that the sends made meanwhile all arrive."""
    loop = asyncio.get_running_loop()
    peer = _StopsReading()
    server = await loop.create_server(lambda: peer, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        ws = make_connection(f"ws://127.0.0.1:{port}/", transport="picows", ping_interval=None)
        await ws.connect()
        await peer.upgraded.wait()
        # picows' own transport, and the socket's under it (white box: its write
        # buffer says when writing is paused)
        socket_transport = ws._runner.link.ws.ws.wire.underlying_transport
        assert isinstance(socket_transport.get_protocol(), wsevents._bounded.BoundedReads)
        high = socket_transport.get_write_buffer_limits()[1]
        pad = "x" * 1_000_000
        sends: list[asyncio.Future[None]] = []
        while socket_transport.get_write_buffer_size() <= high:  # the kernel's buffers first
            assert len(sends) < 300, "the socket never filled"
            sends.append(asyncio.ensure_future(ws.send({"n": len(sends), "pad": pad})))
            await asyncio.sleep(0)  # let the send write
        big = len(sends)
        waiting = asyncio.ensure_future(ws.send({"n": big, "pad": ""}))
        await asyncio.sleep(0)
        assert not waiting.done()  # picows holds sends while writing is paused
        sends.append(waiting)
        assert peer.transport is not None
        peer.transport.resume_reading()
        await asyncio.wait_for(asyncio.gather(*sends), 20)
        await until(lambda: socket_transport.get_write_buffer_size() == 0, 20)
        await ws.send({"n": big + 1, "pad": ""})  # writing resumed
        await until(lambda: peer.received > big * 1_000_000, 20)
        assert ws.connected
    finally:
        server.close()
