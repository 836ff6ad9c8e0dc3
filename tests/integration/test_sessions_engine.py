"""Sessions through the engine itself (DESIGN.md section 11): a `Connection` logs in
on every connect before it subscribes and before `connect` fires, a rejected login
ends in one attempt, requests get their replies by id, a drop fails every pending
request at once, client heartbeats keep an OKX-like server from closing an idle
connection, a missed answer replaces the connection, and a venue's shutdown
notice starts a handover."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, Recorder, until
from tests.integration.test_sessions import (  # the venue scripts
    KEY,
    SECRET,
    VENUES,
    Clock,
    Tasks,
    okx_heartbeat,
    silent_client_killer,
    tasks,  # noqa: F401 - the fixture
)
from wsevents import (
    AuthenticationError,
    CloseReason,
    ConnectionLost,
    DisconnectReason,
    HeartbeatSpec,
    RequestError,
)
from wsevents.binance import BinanceApiProtocol, binance_signature
from wsevents.bybit import BybitProtocol
from wsevents.okx import OkxProtocol
from wsevents.testing import FakeClient, FakeServer


Make = Callable[..., wsevents.Connection]


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_each_reconnect_logs_in_afresh_before_subscribing_and_connect_waits(
    server: FakeServer, make_connection: Make, tasks: Tasks, venue: str  # noqa: F811
) -> None:
    """5 reconnects: every connection's first frame is a login with a fresh, valid
    signature; nothing is subscribed before the (delayed) ack, and `connect` fires
    only after it."""
    script = VENUES[venue]
    clock = Clock()
    acked: list[int] = []
    connect_seen_acks: list[int] = []

    async def ack_later(client: FakeClient, frame: Any) -> None:
        await asyncio.sleep(30 * MS)
        assert script["check"](frame, clock.now * 1000)
        assert not any(script["is_subscribe"](f) for f in client.received)
        acked.append(client.id)
        await client.send(script["ack"])

    @server.on_message
    def on_login(client: FakeClient, frame: Any) -> None:
        if script["is_login"](frame):
            tasks.start(ack_later(client, frame))

    ws = make_connection(
        server.url, protocol=script["make"](clock), subscriptions=list(script["channels"])
    )
    ws.on("connect", lambda e: connect_seen_acks.append(len(acked)))
    rec = Recorder(ws, "connect")
    await ws.connect()
    for attempt in range(5):
        client = server.all_clients[attempt]
        await client.wait_received(lambda frames: any(map(script["is_subscribe"], frames)))
        assert script["is_login"](client.received[0])
        await rec.wait_count("connect", attempt + 1)
        if attempt < 4:
            clock.now += 1.0  # a new timestamp, a new signature
            await client.drop()
            await server.wait_for_client(attempt + 2)
    signatures = {script["signature"](c.received[0]) for c in server.all_clients[:5]}
    assert len(signatures) == 5
    assert connect_seen_acks == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_a_rejected_login_is_fatal_after_one_attempt(
    server: FakeServer, make_connection: Make, venue: str
) -> None:
    """The venue says no: `closed` with AuthenticationError, run() raises it, one
    handshake only, nothing subscribed."""
    script = VENUES[venue]

    @server.on_message
    async def reject(client: FakeClient, frame: Any) -> None:
        if script["is_login"](frame):
            await client.send(script["nack"])

    ws = make_connection(
        server.url, protocol=script["make"](Clock()), subscriptions=list(script["channels"])
    )
    rec = Recorder(ws, "closed", "reconnecting")
    with pytest.raises(AuthenticationError):
        await ws.run()
    await rec.wait_count("closed", 1)
    closed = rec.of("closed")[0]
    assert closed.reason is CloseReason.AUTHENTICATION
    assert isinstance(closed.error, AuthenticationError)
    assert rec.of("reconnecting") == []
    assert server.handshakes == 1
    assert not any(script["is_subscribe"](f) for f in server.received)


async def test_a_login_timeout_is_an_ordinary_failed_attempt(
    server: FakeServer, make_connection: Make
) -> None:
    """No ack in time: a failed attempt through the backoff, then a login that works."""
    calls = 0

    @server.on_message
    async def ack_the_second(client: FakeClient, frame: Any) -> None:
        nonlocal calls
        if isinstance(frame, dict) and frame.get("op") == "auth":
            calls += 1
            if calls > 1:
                await client.send(VENUES["bybit"]["ack"])

    protocol = BybitProtocol(
        api_key=KEY, api_secret=SECRET, login_timeout=50 * MS, client_heartbeat=None
    )
    ws = make_connection(server.url, protocol=protocol)
    rec = Recorder(ws, "reconnecting", "connect")
    await ws.connect()
    assert len(rec.of("reconnecting")) == 1
    assert "login failed" in str(rec.of("reconnecting")[0].error)
    assert server.handshakes == 2


def binance_api() -> BinanceApiProtocol:
    return BinanceApiProtocol(api_key=KEY, api_secret=SECRET, clock=Clock())


async def test_a_thousand_requests_get_their_own_replies_in_any_order(
    server: FakeServer, make_connection: Make
) -> None:
    """1,000 concurrent ws.request() answered in a shuffled order: each caller gets
    its own reply; replies never reach the handlers."""
    shuffle = random.Random(7)
    batch: list[tuple[FakeClient, Any]] = []

    @server.on_message
    async def answer_all(client: FakeClient, frame: Any) -> None:
        batch.append((client, frame))
        if len(batch) < 1000:
            return
        shuffle.shuffle(batch)
        for peer, request in batch:
            params = dict(request.get("params", {}))
            signature = params.pop("signature", None)
            assert signature is None or signature == binance_signature(SECRET, params)
            await peer.send({"id": request["id"], "status": 200, "result": params})

    ws = make_connection(server.url, protocol=binance_api())
    delivered = Recorder(ws, "message")
    await ws.connect()
    replies = await asyncio.wait_for(
        asyncio.gather(
            *(
                ws.request({"method": "order.test" if n % 10 == 0 else "depth", "params": {"n": n}})
                for n in range(1000)
            )
        ),
        30,
    )
    assert [r["result"]["n"] for r in replies] == list(range(1000))
    assert delivered.items == []


async def test_a_drop_fails_fifty_pending_requests_at_once_and_none_is_resent(
    server: FakeServer, make_connection: Make
) -> None:
    """50 requests waiting, the TCP connection dropped: all fail with ConnectionLost
    within 100 ms; the next connection receives none of them."""
    ws = make_connection(server.url, protocol=binance_api())
    await ws.connect()
    calls = [
        asyncio.ensure_future(ws.request({"method": "order.test", "params": {"n": n}}))
        for n in range(50)
    ]
    client = await server.wait_for_client()
    await client.wait_received(count=50)
    loop = asyncio.get_running_loop()
    failed_at: list[float] = []
    for call in calls:
        call.add_done_callback(lambda _f: failed_at.append(loop.time()))
    dropped_at = loop.time()
    await client.drop()
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, ConnectionLost) for r in results), results
    assert max(failed_at) - dropped_at < 0.1
    second = await server.wait_for_client(2)
    await until(lambda: ws.connected)
    await ws.close()
    await second.wait_closed()
    assert second.received == []
    assert len(server.received) == 50


async def test_error_reply_and_timeout_through_the_engine(
    server: FakeServer, make_connection: Make
) -> None:
    """An error reply raises RequestError with the venue's code; silence, TimeoutError."""

    @server.on_message
    async def script(client: FakeClient, frame: Any) -> None:
        if frame["method"] == "order.place":
            await client.send(
                {"id": frame["id"], "status": 429, "error": {"code": -1003, "msg": "Too much"}}
            )

    ws = make_connection(server.url, protocol=binance_api())
    await ws.connect()
    with pytest.raises(RequestError) as info:
        await ws.request({"method": "order.place", "params": {"symbol": "BTCUSDT"}})
    assert info.value.code == -1003
    with pytest.raises(TimeoutError):
        await ws.request({"method": "silence"}, timeout=30 * MS)


async def test_requests_need_a_connection_and_a_protocol_that_has_them(
    server: FakeServer, make_connection: Make
) -> None:
    """Not connected: NotConnected; a protocol without ids: ConfigError."""
    ws = make_connection(server.url, protocol=binance_api())
    with pytest.raises(wsevents.NotConnected):
        await ws.request({"method": "ping"})
    plain = make_connection(server.url)
    await plain.connect()
    with pytest.raises(wsevents.ConfigError):
        await plain.request({"method": "ping"})


async def test_the_okx_heartbeat_keeps_an_idle_connection_open(
    server: FakeServer, make_connection: Make, tasks: Tasks  # noqa: F811
) -> None:
    """A server closing clients silent for 300 ms never closes an OkxProtocol
    connection (idle ping every 100 ms); pongs are not messages."""
    closes = silent_client_killer(server, tasks, idle=300 * MS)
    ws = make_connection(server.url, protocol=OkxProtocol(client_heartbeat=okx_heartbeat(0.1, 0.2)))
    rec = Recorder(ws, "disconnect", "message")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_received(lambda frames: frames.count("ping") >= 8, timeout=5)
    assert closes == []
    assert rec.items == []


async def test_a_missed_heartbeat_answer_replaces_the_connection(
    server: FakeServer, make_connection: Make
) -> None:
    """A server that never answers {"op": "ping"}: a STALE disconnect, then a reconnect."""
    spec = HeartbeatSpec(
        interval=50 * MS, frame={"op": "ping"}, is_answer=lambda m: False, timeout=100 * MS
    )
    ws = make_connection(server.url, protocol=BybitProtocol(client_heartbeat=spec))
    rec = Recorder(ws, "disconnect", "connect")
    await ws.connect()
    await rec.wait_count("connect", 2)
    assert rec.of("disconnect")[0].reason is DisconnectReason.STALE


async def test_a_server_shutdown_notice_starts_a_handover(
    server: FakeServer, make_connection: Make
) -> None:
    """Binance's serverShutdown: delivered, and the connection hands over at once
    (the new connection takes over after handover_timeout, nothing being published)."""
    ws = make_connection(server.url, protocol=wsevents.BinanceProtocol(), handover_timeout=0.1)
    rec = Recorder(ws, "handover", "message:serverShutdown", "disconnect")
    await ws.connect()
    await server.wait_for_client()
    await server.send_raw('{"e": "serverShutdown", "E": 1770123456789}')
    await rec.wait_count("message:serverShutdown", 1)
    await server.wait_for_client(2)
    await rec.wait(lambda r: bool(r.of("disconnect")))
    assert rec.of("disconnect")[0].reason is DisconnectReason.HANDOVER


async def test_no_credential_in_any_client_log_record_at_debug(
    server: FakeServer, make_connection: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG logging over logins (accepted and rejected), a signed request with an
    error reply, and heartbeats: the API key, the secret and the passphrase are in
    no record of the client's loggers (wsevents, websockets' or picows' client), nor
    in a repr or an error; the venue's own (FakeServer's) trace is the venue's."""
    from tests.integration.test_sessions import PASSPHRASE

    @server.on_message
    async def venue(client: FakeClient, frame: Any) -> None:
        if frame == "ping":
            await client.send("pong")
        elif isinstance(frame, dict) and frame.get("op") == "auth":
            await client.send(VENUES["bybit"]["nack"])
        elif isinstance(frame, dict) and frame.get("op") == "login":
            await client.send(VENUES["okx"]["ack"])
        elif isinstance(frame, dict) and "method" in frame:
            await client.send({"id": frame["id"], "status": 400, "error": {"code": -1022}})

    errors: list[BaseException] = []
    short_key = "K3yZ"  # short enough to show whole in a truncated frame trace
    with caplog.at_level(logging.DEBUG):
        okx = OkxProtocol(
            api_key=short_key, api_secret=SECRET, passphrase="Pz9", client_heartbeat=None
        )
        ws = make_connection(server.url, protocol=okx)
        await ws.connect()
        await ws.close()
        bybit = make_connection(
            server.url, protocol=BybitProtocol(api_key=KEY, api_secret=SECRET)
        )
        try:
            await bybit.run()
        except AuthenticationError as exc:
            errors.append(exc)
        api = make_connection(server.url, protocol=binance_api())
        await api.connect()
        try:
            await api.request({"method": "order.test", "params": {"symbol": "BTCUSDT"}})
        except RequestError as exc:
            errors.append(exc)
        await api.close()
    assert len(errors) == 2
    client_side = [
        r for r in caplog.records if r.name.split(".")[0] in ("wsevents", "websockets", "picows")
        and not r.name.startswith(("wsevents.testing", "websockets.server"))
    ]
    assert client_side, "DEBUG logging captured nothing"
    for record in client_side:
        text = record.getMessage()
        for secret in (KEY, SECRET, PASSPHRASE, short_key, "Pz9"):
            assert secret not in text, f"{record.name}: {text[:80]}"
    for shown in (repr(okx), repr(ws), *map(str, errors), *map(repr, errors)):
        for secret in (KEY, SECRET, PASSPHRASE):
            assert secret not in shown
