"""Handover and runner edges over real sockets: a close while a handover prepares,
a handover refused for good, two handover() calls at once, a protocol that cannot
build its subscribe frames, and repeated timed pauses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import pytest

import wsevents
from tests.conftest import Recorder, until
from wsevents._options import TransportOptions
from wsevents._transport import Transport, TransportConnection, WebsocketsTransport
from wsevents.routing import Frame
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


async def test_close_while_a_handover_prepares(server: FakeServer, make_connection: Make) -> None:
    """The new connection is open but silent: close() cancels the handover, closes both
    connections, and handover() returns."""
    ws = make_connection(server.url, handover_timeout=30.0)
    rec = Recorder(ws, "disconnect", "closed", "handover")
    await ws.connect()
    await server.wait_for_client()
    handing = asyncio.ensure_future(ws.handover())
    await until(lambda: server.handshakes == 2)  # the new connection is open
    await asyncio.wait_for(ws.close(), 5)
    await asyncio.wait_for(handing, 5)
    await until(lambda: not server.clients)  # both connections closed
    assert rec.of("handover") == []
    assert [d.reason for d in rec.of("disconnect")] == [wsevents.DisconnectReason.SHUTDOWN]
    assert len(rec.of("closed")) == 1


async def test_handover_called_twice_runs_one(server: FakeServer, make_connection: Make) -> None:
    ws = make_connection(server.url, handover_timeout=0.05)
    rec = Recorder(ws, "connect", "disconnect")
    await ws.connect()
    await server.wait_for_client()
    await asyncio.wait_for(asyncio.gather(ws.handover(), ws.handover()), 5)
    assert server.handshakes == 2
    assert [d.reason for d in rec.of("disconnect")] == [wsevents.DisconnectReason.HANDOVER]
    assert ws.connected


async def test_a_handover_refused_for_good_keeps_the_old_connection(
    server: FakeServer, make_connection: Make
) -> None:
    """The new connection is refused with a status that is not retried: the error is
    reported and the old connection stays in use."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "error", "disconnect", "message")
    await ws.connect()
    client = await server.wait_for_client()
    server.refuse(401)
    handing = asyncio.ensure_future(ws.handover())
    await rec.wait_count("error", 1)
    errors = rec.of("error")
    assert isinstance(errors[0], wsevents.HandshakeRejected)
    assert server.handshakes == 2
    await client.send({"channel": "t", "n": 1})
    await rec.wait_count("message", 1)  # still delivering from the old connection
    assert rec.of("disconnect") == []
    assert ws.connected
    await asyncio.wait_for(ws.close(), 5)
    await asyncio.wait_for(handing, 5)  # close() ends the wait in any case


class _UnencodableProtocol(wsevents.JsonProtocol):
    """Subscribe frames the encoder cannot serialise."""

    def subscribe(self, channels: Sequence[str]) -> list[Frame]:
        return [{"op": "subscribe", "channels": {object()}}]  # type: ignore[dict-item]


async def test_subscribe_frames_that_cannot_be_sent_close_the_connection(
    server: FakeServer, make_connection: Make
) -> None:
    """What the encoder raises on a subscribe frame ends the connection with an
    internal error; the socket just opened is closed."""
    ws = make_connection(server.url, protocol=_UnencodableProtocol(), subscriptions=["t"])
    rec = Recorder(ws, "closed")
    with pytest.raises(TypeError):
        await asyncio.wait_for(ws.run(), 5)
    assert rec.of("closed")[0].reason is wsevents.CloseReason.INTERNAL_ERROR
    await until(lambda: not server.clients)
    assert server.handshakes == 1


async def test_timed_pauses_one_after_the_other(server: FakeServer, make_connection: Make) -> None:
    """A second timed request_disconnect() while paused moves the resume time."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "connect")
    await ws.connect()
    await ws.request_disconnect(reconnect_after=60.0)
    await ws.request_disconnect(reconnect_after=0.02)
    await rec.wait_count("connect", 2)
    assert ws.connected


async def test_a_stale_connection_is_replaced(server: FakeServer, make_connection: Make) -> None:
    ws = make_connection(server.url, stale_after=0.05, check_interval=0.01)
    rec = Recorder(ws, "connect", "disconnect")
    await ws.connect()
    await rec.wait_count("connect", 2)
    assert rec.of("disconnect")[0].reason is wsevents.DisconnectReason.STALE




class _StubbornTransport(Transport):
    """A custom transport that ignores the first cancellation of its handshake and
    opens the connection anyway (a contract breach close() must survive)."""

    name = "stubborn"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = 0

    async def open(
        self, url: str, options: TransportOptions, headers: Mapping[str, str] | None
    ) -> TransportConnection:
        self.started.set()
        try:
            await asyncio.get_running_loop().create_future()  # a handshake that never ends
        except asyncio.CancelledError:
            self.cancelled += 1
        return await WebsocketsTransport().open(url, options, headers)


async def test_close_is_bounded_when_a_transport_ignores_cancellation(
    server: FakeServer, make_connection: Make
) -> None:
    """close() while connecting: the attempt ignores the cancellation and connects;
    close() still returns within close_timeout and a margin, and nothing stays open."""
    transport = _StubbornTransport()
    ws = make_connection(server.url, transport=transport, close_timeout=0.1)
    rec = Recorder(ws, "closed")
    connecting = asyncio.ensure_future(ws.connect())
    await asyncio.wait_for(transport.started.wait(), 5)
    await asyncio.wait_for(ws.close(), 5)
    assert transport.cancelled == 1
    assert ws.state is wsevents.State.CLOSED
    assert len(rec.of("closed")) == 1
    assert not ws.connected
    # connect() has its answer too (the transport did connect, after the close began)
    await asyncio.wait({connecting}, timeout=5)
    assert connecting.done()
    if connecting.exception() is not None:
        assert isinstance(connecting.exception(), wsevents.WSEventsError)
    await until(lambda: not server.clients)


async def test_a_handover_waits_for_the_previous_one_to_resolve(
    server: FakeServer, make_connection: Make
) -> None:
    """A second handover() while the first is still de-duplicating starts once the
    first resolved; every message is delivered once."""
    ws = make_connection(server.url, handover_timeout=30.0)
    rec = Recorder(ws, "message", "handover")
    await ws.connect()
    old = await server.wait_for_client(1)
    first = asyncio.ensure_future(ws.handover())
    new = await server.wait_for_client(2)
    await old.send({"channel": "t", "n": 1})  # recorded: the handover runs
    await rec.wait_count("message", 1)
    await new.send({"channel": "t", "n": 1})  # what the old one delivered: a duplicate
    await asyncio.wait_for(first, 5)
    assert rec.of("handover") == []  # still de-duplicating
    second = asyncio.ensure_future(ws.handover())
    await new.send({"channel": "t", "n": 2})  # new: the first handover resolves
    await rec.wait_count("handover", 1)
    third = await server.wait_for_client(3)
    await third.send({"channel": "t", "n": 3})
    await asyncio.wait_for(second, 5)
    await rec.wait_count("message", 3)
    assert [m["n"] for m in rec.of("message")] == [1, 2, 3]
    assert rec.of("handover")[0].duplicates_dropped == 1


async def test_request_disconnect_from_a_peer_that_stopped_reading(
    server: FakeServer, make_connection: Make
) -> None:
    """The closing handshake gets no answer: the connection is aborted after
    close_timeout and request_disconnect() returns once it is really gone."""
    ws = make_connection(server.url, close_timeout=0.1)
    rec = Recorder(ws, "disconnect")
    await ws.connect()
    client = await server.wait_for_client()
    client.freeze()
    await asyncio.wait_for(ws.request_disconnect(), 5)
    assert ws.state is wsevents.State.PAUSED
    await rec.wait_count("disconnect", 1)
    assert rec.of("disconnect")[0].reason is wsevents.DisconnectReason.USER
