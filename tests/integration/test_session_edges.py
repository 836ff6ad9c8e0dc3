"""Edges of the session and network paths over real sockets: a login that sends
without waiting, frames (good and bad) arriving during a login, an `on_open` that
breaks, a consumed message that answers nothing, and proxies that fail without a
status (wrong SOCKS credentials)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

import attrs
import pytest

import wsevents
from tests.conftest import Recorder
from tests.integration.test_proxy import PASSWORD, Proxy, proxies  # noqa: F401
from wsevents import CloseReason, JsonProtocol
from wsevents.routing import Frame, Session
from wsevents.testing import FakeClient, FakeServer


Make = Callable[..., wsevents.Connection]


@attrs.frozen
class Hello(JsonProtocol):
    """Sends a hello on open (no ack awaited), answers requests by ``id``."""

    async def on_open(self, session: Session) -> None:
        await session.send({"op": "hello"})
        await session.request({"op": "login"}, timeout=2.0)

    def prepare_request(self, frame: Frame, request_id: int) -> tuple[Frame, Hashable]:
        assert isinstance(frame, dict)
        return {**frame, "id": request_id}, request_id

    def reply_id(self, message: Any) -> Hashable | None:
        return message.get("id") if isinstance(message, dict) else None

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        channel, message = super().decode(frame)
        if isinstance(message, dict) and ("id" in message or message.get("op") == "noted"):
            return wsevents.CONSUMED, message
        return channel, message


async def test_frames_during_a_login_are_kept_and_delivered_after_connect(
    server: FakeServer, make_connection: Make
) -> None:
    """While the login waits for its ack: a data message is delivered after `connect`,
    a bad frame is an `error`, a consumed message that answers nothing is dropped."""

    @server.on_message
    async def venue(client: FakeClient, frame: Any) -> None:
        if frame.get("op") == "login":
            await client.send({"channel": "t", "n": 1})
            await client.send("not json")
            await client.send({"op": "noted"})
            await client.send({"id": frame["id"], "ok": True})

    ws = make_connection(server.url, protocol=Hello())
    rec = Recorder(ws, "connect", "message:t", "error")
    await ws.connect()
    await rec.wait_count("message:t", 1)
    await rec.wait_count("error", 1)
    names = rec.names()
    assert names.index("connect") < names.index("message:t")  # after connect, in order
    assert isinstance(rec.of("error")[0], wsevents.FrameError)
    assert server.received[0] == {"op": "hello"}


@attrs.frozen
class Broken(JsonProtocol):
    """An on_open with a bug."""

    async def on_open(self, session: Session) -> None:
        raise KeyError("oops")


async def test_an_on_open_that_raises_is_fatal(server: FakeServer, make_connection: Make) -> None:
    """A bug in on_open is not retried: `closed` after one attempt, its error chained."""
    ws = make_connection(server.url, protocol=Broken())
    rec = Recorder(ws, "closed")
    with pytest.raises(wsevents.ConnectError, match="on_open raised"):
        await ws.run()
    await rec.wait_count("closed", 1)
    assert rec.of("closed")[0].reason is CloseReason.FAILED
    assert server.handshakes == 1


async def test_wrong_socks_credentials_are_a_failed_attempt_with_the_reason(
    server: FakeServer, make_connection: Make, proxies: Callable[..., Proxy]  # noqa: F811
) -> None:
    """A SOCKS proxy refusing the credentials: a failed attempt naming the proxy, the
    password nowhere in it."""
    proxy = await proxies("socks5", auth=True)  # type: ignore[misc]
    wrong = proxy.url.replace(PASSWORD, "wrong")
    ws = make_connection(server.url, proxy=wrong, max_reconnect_attempts=2)
    with pytest.raises(wsevents.ConnectError) as raised:
        await ws.connect()
    shown = str(raised.value) + repr(raised.value.__cause__)
    assert "wrong" not in shown
    assert server.handshakes == 0


async def test_a_request_disconnect_while_reconnecting_pauses(make_connection: Make) -> None:
    """request_disconnect() with nothing connected (waiting to reconnect): it pauses,
    and resume() starts again."""
    async with FakeServer() as fake:
        url = fake.url
    ws = make_connection(url, backoff=wsevents.FixedDelay(3600))
    rec = Recorder(ws, "reconnecting")
    runner = asyncio.ensure_future(ws.run())
    await rec.wait_count("reconnecting", 1)
    await ws.request_disconnect(reconnect_after=3600)
    assert ws.state is wsevents.State.PAUSED
    await ws.close()
    await asyncio.wait_for(runner, 2)


async def test_picows_through_refusing_proxies(
    server: FakeServer, make_connection: Make, proxies: Callable[..., Proxy]  # noqa: F811
) -> None:
    """On picows too (whatever the suite's transport): a 407 is fatal, wrong SOCKS
    credentials a failed attempt, and the password is shown nowhere."""
    http = await proxies("http", auth=True)  # type: ignore[misc]
    ws = make_connection(server.url, transport="picows", proxy=http.url_without_credentials)
    with pytest.raises(wsevents.HandshakeRejected) as rejected:
        await ws.run()
    assert rejected.value.status == 407
    socks = await proxies("socks5", auth=True)  # type: ignore[misc]
    wrong = socks.url.replace(PASSWORD, "wrong")
    bad = make_connection(server.url, transport="picows", proxy=wrong, max_reconnect_attempts=1)
    with pytest.raises(wsevents.ConnectError) as raised:
        await bad.connect()
    assert "wrong" not in str(raised.value)


async def test_picows_subprotocols_and_local_addr(make_connection: Make) -> None:
    """subprotocols= and local_addr= on picows (whatever the suite's transport)."""
    from websockets.asyncio.server import ServerConnection, serve

    from tests.conftest import until
    from tests.integration.test_proxy import free_port

    seen: list[tuple[str | None, int]] = []

    async def handler(connection: ServerConnection) -> None:
        seen.append((connection.subprotocol, connection.remote_address[1]))
        await connection.wait_closed()

    source = free_port()
    async with serve(handler, "127.0.0.1", 0, subprotocols=["v1"]) as srv:
        port = srv.sockets[0].getsockname()[1]
        ws = make_connection(
            f"ws://127.0.0.1:{port}/",
            transport="picows",
            subprotocols=["v1"],
            local_addr=("127.0.0.1", source),
            compression=None,
        )
        await ws.connect()
        await until(lambda: bool(seen))
        await ws.close()
    assert seen == [("v1", source)]
