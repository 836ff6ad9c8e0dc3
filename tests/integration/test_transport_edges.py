"""Opening a connection against servers that answer the handshake badly, on every
transport (named explicitly: these run on picows in the default run too).

The peers are real loopback TCP servers that write a scripted HTTP response: a
garbled one, an upgrade without its headers, a refusal with a body, nothing at
all, or a close before answering.  What ``Transport.open`` raises must be
wsevents' own error, of the right kind, whatever the library underneath.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import Recorder, until
from wsevents._options import TransportOptions
from wsevents._picows import PicowsTransport
from wsevents._transport import Transport, WebsocketsTransport
from wsevents.exceptions import ConnectError, HandshakeRejected
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]

#: every way to open: websockets, picows with its frame callback, picows as it is
TRANSPORTS: dict[str, Callable[[], Transport]] = {
    "websockets": WebsocketsTransport,
    "picows": PicowsTransport,
    "picows-recv": lambda: PicowsTransport(receiver=False, use_aiofastnet=False),
}
ALL = pytest.mark.parametrize("transport", list(TRANSPORTS))


def options(**changes: Any) -> TransportOptions:
    values: dict[str, Any] = {
        "open_timeout": 5.0, "ping_interval": None, "ping_timeout": None,
        "close_timeout": 1.0, "max_size": 2**20, "ssl": None, "user_agent": None,
    }
    values.update(changes)
    return TransportOptions(**values)


class RawServer:
    """A loopback TCP server answering every handshake with ``response`` (None: never),
    then closing (``close_after``) or keeping the connection open."""

    def __init__(
        self, response: bytes | None, *, close_after: bool = True, at_once: bool = False
    ) -> None:
        self.response = response
        #: write the response on connect, without reading a request
        self.at_once = at_once
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.ended = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                if not self.at_once:
                    self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                if self.response is not None:
                    writer.write(self.response)
                    await writer.drain()
                if not self.close_after or self.response is None:
                    await reader.read()  # until the client goes
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.ended.set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"


@contextlib.asynccontextmanager
async def raw_server(response: bytes | None, **kwargs: Any) -> AsyncIterator[RawServer]:
    raw = RawServer(response, **kwargs)
    raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    try:
        yield raw
    finally:
        raw.server.close()
        await asyncio.wait_for(raw.server.wait_closed(), 5)


async def open_with(transport: str, url: str, **changes: Any) -> Any:
    return await asyncio.wait_for(TRANSPORTS[transport]().open(url, options(**changes), None), 10)


@ALL
async def test_a_garbled_response_is_a_retryable_connect_error(transport: str) -> None:
    async with raw_server(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n") as raw:
        with pytest.raises(ConnectError) as raised:
            await open_with(transport, raw.url)
    assert not isinstance(raised.value, HandshakeRejected)
    assert raised.value.kind in ("network", "invalid")
    assert raised.value.__cause__ is not None


@ALL
async def test_an_upgrade_without_its_headers_is_invalid(transport: str) -> None:
    async with raw_server(b"HTTP/1.1 101 Switching Protocols\r\n\r\n") as raw:
        with pytest.raises(ConnectError) as raised:
            await open_with(transport, raw.url)
    assert raised.value.kind == "invalid"
    assert "handshake" in str(raised.value)


@ALL
async def test_a_refusal_keeps_its_status_headers_and_body(transport: str) -> None:
    body = b"go away"
    response = (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: test\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    async with raw_server(response) as raw:
        with pytest.raises(HandshakeRejected) as raised:
            await open_with(transport, raw.url, user_agent="edge-tests/1")
    assert raised.value.status == 403
    assert {k.lower(): v for k, v in raised.value.headers.items()}["x-why"] == "test"
    assert "go away" in str(raised.value.body)
    assert b"User-Agent: edge-tests/1" in raw.requests[0]


@ALL
async def test_a_close_before_the_answer_is_a_network_error(transport: str) -> None:
    async with raw_server(b"") as raw:
        with pytest.raises(ConnectError) as raised:
            await open_with(transport, raw.url)
    assert not isinstance(raised.value, HandshakeRejected)
    assert raised.value.kind == "network"


@ALL
async def test_no_answer_within_open_timeout(transport: str) -> None:
    """The handshake times out: a timeout error, and the TCP connection is ended."""
    async with raw_server(None) as raw:
        with pytest.raises(ConnectError) as raised:
            await open_with(transport, raw.url, open_timeout=0.2)
        await asyncio.wait_for(raw.ended.wait(), 5)
    assert raised.value.kind == "timeout"


@ALL
async def test_a_refused_port(transport: str) -> None:
    async with raw_server(None) as raw:
        url = raw.url
    with pytest.raises(ConnectError) as raised:
        await open_with(transport, url)
    assert raised.value.kind == "network"


@ALL
async def test_a_bad_uri_is_invalid(transport: str) -> None:
    with pytest.raises(ConnectError) as raised:
        await open_with(transport, "ws://127.0.0.1:notaport/")
    assert raised.value.kind == "invalid"


@ALL
async def test_cancelled_while_opening(transport: str) -> None:
    """A cancellation (close() while connecting) goes through, and ends the TCP connection."""
    async with raw_server(None) as raw:
        task = asyncio.ensure_future(open_with(transport, raw.url))
        await until(lambda: bool(raw.requests))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(raw.ended.wait(), 5)


@ALL
async def test_tls_to_a_server_that_speaks_plain_http(transport: str) -> None:
    async with raw_server(b"HTTP/1.1 400 Bad Request\r\n\r\n", at_once=True) as raw:
        url = raw.url.replace("ws://", "wss://")
        with pytest.raises(ConnectError) as raised:
            await open_with(transport, url, ssl=ssl.create_default_context())
    assert raised.value.kind == "tls"
    assert not isinstance(raised.value, HandshakeRejected)


# -- a connection over each transport, start to end ------------------------------------


@ALL
async def test_a_connection_lives_and_ends_on_each_transport(
    make_connection: Make, transport: str
) -> None:
    """Connect, receive (text, a non-UTF-8 text frame fails the connection), reconnect,
    and close, through every transport: the same events."""
    async with FakeServer() as server:
        ws = make_connection(server.url, transport=TRANSPORTS[transport](), user_agent="edge/1")
        rec = Recorder(ws, "connect", "disconnect", "message", "error")
        await ws.connect()
        client = await server.wait_for_client()
        await client.send({"channel": "t", "n": 1})
        await rec.wait_count("message", 1)
        await client.close(code=1012, reason="restart")
        await rec.wait_count("connect", 2)
        disconnect = rec.of("disconnect")[0]
        assert disconnect.code == 1012
        assert ws.stats.reconnects == 1
        await ws.close()
    assert rec.of("message") == [{"channel": "t", "n": 1}]


@ALL
async def test_close_against_a_server_that_stopped_reading(
    make_connection: Make, transport: str
) -> None:
    """The closing handshake gets no answer: the TCP connection is aborted within
    close_timeout, and close() returns."""
    async with FakeServer() as server:
        ws = make_connection(server.url, transport=TRANSPORTS[transport](), close_timeout=0.2)
        rec = Recorder(ws, "disconnect", "closed")
        await ws.connect()
        client = await server.wait_for_client()
        client.freeze()
        await asyncio.wait_for(ws.close(), 5)
        assert ws.state is wsevents.State.CLOSED
        assert len(rec.of("closed")) == 1
        assert not ws.connected
