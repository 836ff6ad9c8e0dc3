"""Connection edges over real sockets: a connection closed before it started,
subscriptions changed while disconnected, failures of user code around the
connection (headers callable, custom transport, backoff), configured protocols,
and control calls in unusual states."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, Recorder, until
from wsevents._options import TransportOptions
from wsevents._transport import Transport, TransportConnection
from wsevents.binance import BinanceProtocol
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection("ws://127.0.0.1:9/", queue_sise=10)
    assert raised.value.key == "options"
    assert raised.value.value == ["queue_sise"]


async def test_a_connection_closed_before_it_started(make_connection: Make) -> None:
    """close() on a new connection: CLOSED at once, nothing to wait for, streams end,
    and connect()/run() say it is closed."""
    ws = make_connection("ws://127.0.0.1:9/")
    before = ws.stream("message:t")
    await ws.close()
    assert ws.state is wsevents.State.CLOSED
    assert [m async for m in before] == []
    after = ws.stream()
    assert [m async for m in after] == []
    await asyncio.wait_for(ws.wait_closed(), 5)
    with pytest.raises(wsevents.WSEventsError, match="closed"):
        await ws.connect()
    with pytest.raises(wsevents.WSEventsError, match="closed"):
        await ws.run()


@pytest.mark.parametrize("event", ["", 5, None])
def test_stream_needs_an_event_name(event: Any) -> None:
    ws = wsevents.Connection("ws://127.0.0.1:9/")
    with pytest.raises(wsevents.ConfigError) as raised:
        ws.stream(event)
    assert raised.value.key == "event"


async def test_subscriptions_changed_while_disconnected_are_sent_on_connect(
    server: FakeServer, make_connection: Make
) -> None:
    ws = make_connection(server.url, subscriptions=["a"])
    await ws.subscribe("b", "a")
    await ws.unsubscribe("a", "zzz")
    assert ws.subscriptions == ("b",)
    await ws.connect()
    await ws.connect()  # connected already: returns at once
    client = await server.wait_for_client()
    await client.wait_subscribed("b")
    await ws.subscribe("b")  # nothing new: no frame
    await ws.unsubscribe("zzz")  # nothing subscribed: no frame
    await ws.subscribe("c")
    await client.wait_subscribed("c")
    await ws.unsubscribe("c")
    await until(lambda: "c" not in client.subscriptions)
    assert client.subscriptions == {"b"}
    assert ws.stats.messages_sent == 3


async def test_a_raising_headers_callable_fails_the_attempt(
    server: FakeServer, make_connection: Make
) -> None:
    """The attempt fails with an error naming the callable, never a header value."""

    def headers() -> Mapping[str, str]:
        raise RuntimeError("vault unreachable")

    ws = make_connection(server.url, headers=headers, max_reconnect_attempts=0)
    with pytest.raises(wsevents.ConnectError, match="headers callable raised") as raised:
        await ws.connect()
    assert "vault unreachable" in str(raised.value)
    assert server.handshakes == 0


async def test_a_headers_callable_returning_a_bad_mapping(
    server: FakeServer, make_connection: Make
) -> None:
    ws = make_connection(
        server.url, headers=lambda: {"X-Key": 42}, max_reconnect_attempts=0
    )
    with pytest.raises(wsevents.ConnectError):
        await ws.connect()
    assert server.handshakes == 0


class _BrokenTransport(Transport):
    """A custom transport that breaks the contract: it raises a plain exception."""

    name = "broken"

    async def open(
        self, url: str, options: TransportOptions, headers: Mapping[str, str] | None
    ) -> TransportConnection:
        raise LookupError("no such route")


async def test_a_custom_transport_raising_anything_is_a_connect_error(
    make_connection: Make,
) -> None:
    ws = make_connection("ws://127.0.0.1:9/", transport=_BrokenTransport())
    with pytest.raises(wsevents.ConnectError) as raised:
        await asyncio.wait_for(ws.connect(), 5)
    assert raised.value.kind == "invalid"
    assert isinstance(raised.value.__cause__, LookupError)


class _RaisingBackoff:
    def delay(self, attempt: int) -> float:
        raise ArithmeticError("backoff broke")


async def test_an_internal_error_closes_the_connection(
    server: FakeServer, make_connection: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """A backoff that raises: the connection closes with INTERNAL_ERROR, run() raises it."""
    server.refuse(503)
    ws = make_connection(server.url, backoff=_RaisingBackoff())
    rec = Recorder(ws, "closed")
    with caplog.at_level(logging.ERROR, logger="wsevents"), pytest.raises(ArithmeticError):
        await asyncio.wait_for(ws.run(), 5)
    closed = rec.of("closed")
    assert len(closed) == 1
    assert closed[0].reason is wsevents.CloseReason.INTERNAL_ERROR
    assert isinstance(closed[0].error, ArithmeticError)
    assert "internal error in the connection loop" in caplog.text
    assert ws.state is wsevents.State.CLOSED


@pytest.mark.parametrize(
    ("table", "kind"),
    [({"kind": "binance"}, BinanceProtocol), ({"kind": "json", "channel_key": "ch"}, None)],
)
def test_protocols_from_config(table: dict[str, Any], kind: type | None) -> None:
    ws = wsevents.Connection.from_config({"url": "ws://127.0.0.1:9/", "protocol": table})
    if kind is not None:
        assert isinstance(ws.protocol, kind)
    else:
        assert isinstance(ws.protocol, wsevents.JsonProtocol)
        assert ws.protocol.decode('{"ch": "x"}') == ("x", {"ch": "x"})


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"kind": "json", "nope": 1}, "protocol"),
        ({"kind": "binance", "nope": 1}, "protocol"),
        ({"kind": "protobuf"}, "protocol.kind"),
    ],
)
def test_bad_protocols_from_config(table: dict[str, Any], key: str) -> None:
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection.from_config({"url": "ws://127.0.0.1:9/", "protocol": table})
    assert raised.value.key == key


async def test_close_while_waiting_to_retry(server: FakeServer, make_connection: Make) -> None:
    """close() during a backoff wait: closed at once, connect() fails with a clear error."""
    server.refuse(503)
    ws = make_connection(server.url, backoff=wsevents.FixedDelay(delay=30.0))
    rec = Recorder(ws, "reconnecting", "closed")
    connecting = asyncio.ensure_future(ws.connect())
    await rec.wait_count("reconnecting", 1)
    await asyncio.wait_for(ws.close(), 5)
    with pytest.raises(wsevents.WSEventsError):
        await asyncio.wait_for(connecting, 5)
    assert rec.of("closed")[0].reason is wsevents.CloseReason.USER


async def test_request_disconnect_then_resume(server: FakeServer, make_connection: Make) -> None:
    ws = make_connection(server.url)
    rec = Recorder(ws, "connect", "disconnect")
    await ws.connect()
    await ws.request_disconnect()
    assert ws.state is wsevents.State.PAUSED
    assert not ws.connected
    await ws.request_disconnect()  # paused already: nothing more to do
    await ws.resume()
    await rec.wait_count("connect", 2)
    assert rec.of("disconnect")[0].reason is wsevents.DisconnectReason.USER
    assert ws.stats.proactive_disconnects == 1


async def test_request_disconnect_with_a_timed_resume(
    server: FakeServer, make_connection: Make
) -> None:
    ws = make_connection(server.url)
    rec = Recorder(ws, "connect")
    await ws.connect()
    await ws.request_disconnect(reconnect_after=30 * MS)
    await rec.wait_count("connect", 2)
    assert ws.state is wsevents.State.CONNECTED


async def test_close_right_after_connect_was_called(
    server: FakeServer, make_connection: Make
) -> None:
    """close() before the first attempt got anywhere: nothing is left open, and
    connect() says it is closed."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "closed")
    connecting = asyncio.ensure_future(ws.connect())
    await asyncio.sleep(0)  # connect() started the runner; its task has not run yet
    assert ws.state is wsevents.State.CONNECTING
    await asyncio.wait_for(ws.close(), 5)
    with pytest.raises(wsevents.WSEventsError):
        await asyncio.wait_for(connecting, 5)
    assert ws.state is wsevents.State.CLOSED
    assert ws.stats.connects == 0
    await until(lambda: not server.clients)
    assert rec.of("closed")[0].reason is wsevents.CloseReason.USER


async def test_a_channel_spelled_like_consumed_is_delivered(
    server: FakeServer, make_connection: Make
) -> None:
    """A feed's channel whose name equals wsevents.CONSUMED is a channel like any
    other (not silently consumed), and the protocol's own consumed frames stay
    consumed after it."""
    ws = make_connection(server.url, protocol=BinanceProtocol())
    got: list[Any] = []
    ws.on("message", got.append)
    await ws.connect()
    await server.wait_for_client()
    for n in (1, 2):
        await server.send_raw(f'{{"stream": "\\u0000consumed", "data": {{"n": {n}}}}}')
        await server.send_raw('{"result": null, "id": 7}')  # a reply: consumed
    await until(lambda: len(got) == 2)
    assert got == [{"n": 1}, {"n": 2}]
    assert ws.stats.messages_received == 4
