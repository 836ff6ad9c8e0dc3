"""RFC 6455's edges, the same on both transports: a server that writes raw frames
(after its close frame, after a protocol error, with RSV bits no extension
negotiated, with invalid close codes) gets the same events, reasons and close
codes from the websockets and the picows transports, and nothing is delivered
after a close frame or a protocol error (sections 5.2, 5.5.1, 7.4)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import Recorder, until
from wsevents import DisconnectReason
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOL_ERROR = DisconnectReason.PROTOCOL_ERROR


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """One unmasked server frame (payloads under 126 bytes)."""
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | (rsv << 4) | opcode, len(payload)]) + payload


def close(code: int | None, reason: bytes = b"") -> bytes:
    return frame(0x8, b"" if code is None else struct.pack("!H", code) + reason)


def text(data: str) -> bytes:
    return frame(0x1, data.encode())


class RawServer:
    """A TCP server that answers the opening handshake itself (no extension, no
    subprotocol), then writes ``script`` as is and keeps reading until the client
    goes away."""

    def __init__(self, script: bytes) -> None:
        self.script = script
        self.received = b""
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        writer.write(self.script)
        try:
            # The client's first frame after these is its close frame (or its answer
            # to ours): a real server then closes the TCP connection.
            self.received = await reader.read(4096)
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
def raw() -> Callable[[bytes], RawServer]:
    return RawServer


async def run_until_disconnect(
    make_connection: Make, url: str
) -> tuple[list[Any], wsevents.Disconnected]:
    """Connect once (no reconnect) and return the messages and the disconnect."""
    ws = make_connection(url, max_reconnect_attempts=0)
    got: list[Any] = []
    ws.on("message", got.append)
    rec = Recorder(ws, "disconnect", "closed")
    await ws.connect()
    await rec.wait_count("closed", 1)
    return got, rec.of("disconnect")[0]


CASES = {
    "data after the server's close frame": (
        text('{"n": 1}') + close(1000) + text('{"n": 2}'),
        [{"n": 1}],
        DisconnectReason.SERVER_CLOSE,
        1000,
    ),
    "data after an invalid continuation": (
        text('{"n": 1}') + frame(0x0, b"orphan") + text('{"n": 2}'),
        [{"n": 1}],
        DisconnectReason.PROTOCOL_ERROR,
        1002,
    ),
    "RSV2 without a negotiated extension": (
        text('{"n": 1}') + frame(0x1, b'{"n": 2}', rsv=0b010) + text('{"n": 3}'),
        [{"n": 1}],
        DisconnectReason.PROTOCOL_ERROR,
        1002,
    ),
    "RSV3 without a negotiated extension": (
        frame(0x1, b'{"n": 2}', rsv=0b001),
        [],
        DisconnectReason.PROTOCOL_ERROR,
        1002,
    ),
    "RSV1 without a negotiated extension": (
        frame(0x1, b'{"n": 2}', rsv=0b100),
        [],
        DisconnectReason.PROTOCOL_ERROR,
        1002,
    ),
    "close code 0": (close(0), [], DisconnectReason.PROTOCOL_ERROR, 1002),
    "close code 1006": (close(1006), [], DisconnectReason.PROTOCOL_ERROR, 1002),
    "close code 999": (close(999), [], DisconnectReason.PROTOCOL_ERROR, 1002),
    "close with a one-byte payload": (
        frame(0x8, b"\x03"),
        [],
        DisconnectReason.PROTOCOL_ERROR,
        1002,
    ),
    "a close frame without a code": (close(None), [], DisconnectReason.SERVER_CLOSE, 1005),
    # What the picows fuzz exclusions hid (tests/fuzz/test_raw_frames.py): picows
    # answered pings itself, before any check; its parser reads one frame ahead
    # and refuses some close frames itself (the frame read before is delivered).
    "a ping with RSV1 set": (frame(0x9, b"x", rsv=0b100), [], PROTOCOL_ERROR, 1002),
    "a ping with RSV3 set": (frame(0x9, b"", rsv=0b001), [], PROTOCOL_ERROR, 1002),
    "a pong with RSV2 set": (frame(0xA, b"", rsv=0b010), [], PROTOCOL_ERROR, 1002),
    "data around a close reason that is not UTF-8": (
        text('{"n": 1}') + close(1000, b"\xff") + text('{"n": 2}'),
        [{"n": 1}],
        DisconnectReason.PROTOCOL_ERROR,
        1007,
    ),
    "data around close code 1004": (
        text('{"n": 1}') + close(1004) + text('{"n": 2}'),
        [{"n": 1}],
        DisconnectReason.PROTOCOL_ERROR,
        1002,
    ),
    "an invalid continuation before close code 4999": (
        frame(0x0, b"orphan") + close(4999),
        [],
        DisconnectReason.PROTOCOL_ERROR,
        1002,
    ),
    "a close frame before one picows refuses": (
        close(1000, b"bye") + close(1000, b"\xff"),
        [],
        DisconnectReason.SERVER_CLOSE,
        1000,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("transport", ["websockets", "picows"])
async def test_protocol_edges_are_the_same_on_both_transports(
    raw: Callable[[bytes], RawServer], make_connection: Make, case: str, transport: str
) -> None:
    """The same messages (none after a close or a protocol error), reason and code."""
    script, messages, reason, code = CASES[case]

    def make(url: str, **options: Any) -> wsevents.Connection:
        return make_connection(url, transport=transport, **options)

    async with raw(script) as server:
        got, disconnect = await run_until_disconnect(make, server.url)
    assert got == messages
    assert (disconnect.reason, disconnect.code) == (reason, code)


def fragments(count: int) -> bytes:
    """The message ``[1]`` in ``count`` frames: a text frame, then continuations."""
    parts = [frame(0x1, b"[", fin=False)]
    parts += [frame(0x0, b" ", fin=False)] * (count - 2)
    parts.append(frame(0x0, b"1]"))
    return b"".join(parts)


@pytest.mark.parametrize(
    ("count", "messages", "reason", "code"),
    [
        (4096, [[1], {"n": 2}], DisconnectReason.SERVER_CLOSE, 1000),
        (4097, [], DisconnectReason.PROTOCOL_ERROR, 1009),
    ],
)
@pytest.mark.parametrize("transport", ["websockets", "picows"])
async def test_a_message_in_more_than_4096_fragments_is_refused_on_both_transports(
    raw: Callable[[bytes], RawServer],
    make_connection: Make,
    transport: str,
    count: int,
    messages: list[Any],
    reason: DisconnectReason,
    code: int,
) -> None:
    """websockets' cap on the frames of one message (``WEBSOCKETS_MAX_FRAGMENTS``,
    4,096 by default): one more fails the connection with 1009, on picows too."""

    def make(url: str, **options: Any) -> wsevents.Connection:
        return make_connection(url, transport=transport, **options)

    # Accepted, the server's close ends the test; refused, the client's close does.
    end = close(1000) if code == 1000 else b""
    async with raw(fragments(count) + text('{"n": 2}') + end) as server:
        got, disconnect = await run_until_disconnect(make, server.url)
    assert got == messages
    assert (disconnect.reason, disconnect.code) == (reason, code)


@pytest.mark.parametrize(
    ("refused", "code"),
    [
        (frame(0x8, b"\x03"), 1002),
        (close(1004), 1002),
        (close(1000, b"\xc3"), 1007),
    ],
    ids=["one-byte close", "close code 1004", "reason not UTF-8"],
)
@pytest.mark.parametrize("transport", ["websockets", "picows"])
async def test_nothing_after_a_close_frame_picows_refuses_is_delivered(
    server: FakeServer, make_connection: Make, transport: str, refused: bytes, code: int
) -> None:
    """picows' parser refuses such a close frame before the listener sees it, and
    parses on past it when the next read comes (the server's answer to the
    client's close): what followed the refused frame is not delivered."""
    ws = make_connection(server.url, transport=transport, backoff=wsevents.Immediate())
    rec = Recorder(ws, "disconnect", "connect", "message")
    await ws.connect()
    await server.wait_for_client()
    late = text('{"n": 2}') + frame(0x3, b"")  # then a frame that is refused in turn
    server.clients[0].websocket.transport.write(text('{"n": 1}') + refused + late)
    await rec.wait_count("connect", 2)
    await server.wait_for_client(2)
    await server.publish("a", {"n": 3})
    await rec.wait(lambda r: {"channel": "a", "n": 3} in r.of("message"))
    assert rec.of("message") == [{"n": 1}, {"channel": "a", "n": 3}]
    event = rec.of("disconnect")[0]
    assert (event.reason, event.code) == (DisconnectReason.PROTOCOL_ERROR, code)


@pytest.mark.parametrize("transport", ["websockets", "picows"])
async def test_pings_are_answered_with_their_payload(
    server: FakeServer, make_connection: Make, transport: str
) -> None:
    """A server's ping gets its pong (picows' auto-pong is off: the listener answers
    after its checks), also while messages are queued behind a slow handler."""
    ws = make_connection(server.url, transport=transport)
    release = asyncio.Event()
    got: list[Any] = []

    async def slow(message: Any) -> None:
        got.append(message)
        await release.wait()

    ws.on("message", slow)
    await ws.connect()
    client = await server.wait_for_client()
    await server.send_raw('{"n": 1}')
    await server.send_raw('{"n": 2}')
    for payload in (b"", b"abc", bytes(range(125))):
        pong = await client.websocket.ping(payload)
        await asyncio.wait_for(pong, 5)
    release.set()
    await until(lambda: len(got) == 2)
    assert got == [{"n": 1}, {"n": 2}]


async def _unused() -> AsyncIterator[None]:  # pragma: no cover - keeps typing happy
    yield
