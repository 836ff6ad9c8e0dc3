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
from tests.conftest import Recorder
from wsevents import DisconnectReason


Make = Callable[..., wsevents.Connection]
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


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


async def _unused() -> AsyncIterator[None]:  # pragma: no cover - keeps typing happy
    yield
