"""Sessions over real sockets (DESIGN.md section 11), driven by a test-local harness
until Connection wires them: logins signed afresh before the subscriptions on every
connect, rejected logins, 1,000 concurrent requests answered out of order, 50
pending requests failed at once by a drop, error replies, timeouts and late
replies, client heartbeats against a server that closes silent clients, and no
secret in any log record at DEBUG."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import MS
from tests.integration._session_harness import Harness
from wsevents import (
    AuthenticationError,
    ConnectionLost,
    HeartbeatSpec,
    RequestError,
)
from wsevents.binance import BinanceApiProtocol, binance_signature
from wsevents.bybit import BybitProtocol
from wsevents.okx import OkxProtocol
from wsevents.testing import FakeClient, FakeServer


KEY = "key-3f9a-not-a-secret-but-hidden"
SECRET = "SECRET-5b1e-must-never-be-logged"
PASSPHRASE = "PASSPHRASE-77c2-never-logged"


class Clock:
    """An injected wall clock the tests move forward."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as fake:
        yield fake
        assert fake.errors == [], fake.errors


class Tasks:
    """Server-side tasks a test starts (delayed acks, watchdogs); awaited at the end."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Any) -> None:
        self.tasks.add(asyncio.ensure_future(coro))

    async def finish(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks)


@pytest.fixture
async def tasks() -> AsyncIterator[Tasks]:
    owned = Tasks()
    yield owned
    await owned.finish()


# -- venue scripts: what a real venue checks in a login, and how it answers ---------------


def bybit_login_ok(frame: Any, now_ms: float) -> bool:
    """Bybit's check: our key, expires in the future, hex HMAC of GET/realtime+expires."""
    _key, expires, signature = frame["args"]
    expected = hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256)
    return bool(_key == KEY and expires > now_ms and signature == expected.hexdigest())


def okx_login_ok(frame: Any, now_ms: float) -> bool:
    """OKX's check: key, passphrase, base64 HMAC of timestamp+GET+/users/self/verify."""
    arg = frame["args"][0]
    payload = f"{arg['timestamp']}GET/users/self/verify".encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), payload, hashlib.sha256).digest())
    return bool(
        arg["apiKey"] == KEY
        and arg["passphrase"] == PASSPHRASE
        and abs(int(arg["timestamp"]) - now_ms / 1000) <= 30
        and arg["sign"] == expected.decode()
    )


VENUES: dict[str, dict[str, Any]] = {
    "bybit": {
        "make": lambda clock, **kw: BybitProtocol(
            api_key=KEY, api_secret=SECRET, clock=clock, client_heartbeat=None, **kw
        ),
        "is_login": lambda f: isinstance(f, dict) and f.get("op") == "auth",
        "is_subscribe": lambda f: isinstance(f, dict) and f.get("op") == "subscribe",
        "check": bybit_login_ok,
        "signature": lambda f: f["args"][2],
        "ack": {"success": True, "ret_msg": "", "op": "auth", "conn_id": "c1"},
        "nack": {"success": False, "ret_msg": "Params Error", "op": "auth", "conn_id": "c1"},
        "channels": ("publicTrade.BTCUSDT", "order"),
    },
    "okx": {
        "make": lambda clock, **kw: OkxProtocol(
            api_key=KEY, api_secret=SECRET, passphrase=PASSPHRASE, clock=clock,
            client_heartbeat=None, **kw,
        ),
        "is_login": lambda f: isinstance(f, dict) and f.get("op") == "login",
        "is_subscribe": lambda f: isinstance(f, dict) and f.get("op") == "subscribe",
        "check": okx_login_ok,
        "signature": lambda f: f["args"][0]["sign"],
        "ack": {"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"},
        "nack": {"event": "error", "code": "60009", "msg": "Login failed.", "connId": "a"},
        "channels": ("tickers:BTC-USDT", "account"),
    },
}


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_login_signed_afresh_before_subscriptions_on_every_connect(
    server: FakeServer, tasks: Tasks, venue: str
) -> None:
    """5 reconnects: each connection's first frame is a login with a fresh, valid
    signature, and no subscribe frame is sent before the (delayed) acknowledgement."""
    script = VENUES[venue]
    clock = Clock()
    protocol = script["make"](clock)
    seen_at_ack: list[list[Any]] = []

    async def ack_later(client: FakeClient, frame: Any) -> None:
        await asyncio.sleep(30 * MS)  # the venue takes its time; the client must wait
        assert script["check"](frame, clock.now * 1000), "the venue would reject this login"
        seen_at_ack.append(list(client.received))
        await client.send(script["ack"])

    @server.on_message
    def on_login(client: FakeClient, frame: Any) -> None:
        if script["is_login"](frame):
            tasks.start(ack_later(client, frame))

    signatures = []
    for attempt in range(5):
        harness = Harness(server.url, protocol, subscriptions=script["channels"])
        await harness.open()
        client = server.all_clients[attempt]
        await client.wait_received(lambda frames: any(map(script["is_subscribe"], frames)))
        first = client.received[0]
        assert script["is_login"](first)
        signatures.append(script["signature"](first))
        assert not any(script["is_subscribe"](f) for f in seen_at_ack[attempt])
        await harness.close()
        clock.now += 1.0  # a reconnect a second later: a new timestamp, a new signature
    assert len(set(signatures)) == 5


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_rejected_login_is_an_authentication_error(server: FakeServer, venue: str) -> None:
    """A rejected login raises AuthenticationError after one attempt; nothing subscribed."""
    script = VENUES[venue]
    protocol = script["make"](Clock())

    @server.on_message
    async def reject(client: FakeClient, frame: Any) -> None:
        if script["is_login"](frame):
            await client.send(script["nack"])

    harness = Harness(server.url, protocol, subscriptions=script["channels"])
    with pytest.raises(AuthenticationError, match="rejected the login"):
        await harness.open()
    assert server.handshakes == 1
    assert not any(script["is_subscribe"](f) for f in server.received)


async def test_login_timeout_is_an_ordinary_failure(server: FakeServer) -> None:
    """No acknowledgement: TimeoutError (a transient failure, retried by the backoff)."""
    protocol = BybitProtocol(api_key=KEY, api_secret=SECRET, login_timeout=50 * MS)
    harness = Harness(server.url, protocol)
    with pytest.raises(TimeoutError):
        await harness.open()
    assert harness.pending.stats.timed_out == 1


# -- requests ----------------------------------------------------------------------------------


def binance_api() -> BinanceApiProtocol:
    return BinanceApiProtocol(api_key=KEY, api_secret=SECRET, clock=Clock())


async def test_thousand_concurrent_requests_answered_out_of_order(server: FakeServer) -> None:
    """1,000 requests in flight, answered in a shuffled order: each gets its own reply,
    and the signed ones carry a signature the venue accepts."""
    shuffle = random.Random(13)
    batch: list[tuple[FakeClient, Any]] = []

    @server.on_message
    async def answer_when_all_arrived(client: FakeClient, frame: Any) -> None:
        batch.append((client, frame))
        if len(batch) < 1000:
            return
        shuffle.shuffle(batch)
        for peer, request in batch:
            params = dict(request.get("params", {}))
            signature = params.pop("signature", None)
            valid = signature is None or signature == binance_signature(SECRET, params)
            await peer.send(
                {
                    "id": request["id"],
                    "status": 200 if valid else 400,
                    "result": {"n": params.get("n")},
                    "error": None if valid else {"code": -1022, "msg": "Signature invalid"},
                }
            )

    harness = Harness(server.url, binance_api())
    await harness.open()
    try:
        replies = await asyncio.wait_for(
            asyncio.gather(
                *(
                    harness.request(
                        {"method": "order.test" if n % 10 == 0 else "depth", "params": {"n": n}}
                    )
                    for n in range(1000)
                )
            ),
            30,
        )
        assert [r["result"]["n"] for r in replies] == list(range(1000))
        assert harness.pending.stats.replied == 1000
        assert len(harness.pending) == 0
    finally:
        await harness.close()


async def test_drop_fails_fifty_pending_requests_at_once(server: FakeServer) -> None:
    """50 requests waiting, the server drops the TCP connection: all 50 fail with
    ConnectionLost within 100 ms, and none is sent again on a new connection."""
    harness = Harness(server.url, binance_api())
    await harness.open()
    calls = [
        asyncio.ensure_future(harness.request({"method": "order.test", "params": {"n": n}}))
        for n in range(50)
    ]
    client = await server.wait_for_client()
    await client.wait_received(count=50)
    loop = asyncio.get_running_loop()
    dropped_at = loop.time()
    await client.drop()
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, ConnectionLost) for r in results)
    assert harness.lost_at is not None
    assert harness.lost_at - dropped_at < 0.1
    assert harness.pending.stats.failed == 50
    await harness.close()

    again = Harness(server.url, binance_api())
    await again.open()
    await again.close()
    second = server.all_clients[1]
    await second.wait_closed()
    assert second.received == []  # nothing was resent behind the callers' backs
    assert len(server.received) == 50


async def test_error_reply_timeout_and_late_reply(server: FakeServer) -> None:
    """An error reply raises RequestError with the venue's code; an unanswered request
    times out; its reply, arriving later, is counted late and dropped."""
    late: list[tuple[FakeClient, Any]] = []

    @server.on_message
    async def script(client: FakeClient, frame: Any) -> None:
        if frame["method"] == "order.place":
            await client.send(
                {
                    "id": frame["id"],
                    "status": 429,
                    "error": {"code": -1003, "msg": "Too much request weight used"},
                }
            )
        elif frame["method"] == "slow":
            late.append((client, frame))
        elif frame["method"] == "now":
            peer, slow = late.pop()
            await peer.send({"id": slow["id"], "status": 200, "result": {}})
            await client.send({"id": frame["id"], "status": 200, "result": {}})

    harness = Harness(server.url, binance_api())
    await harness.open()
    try:
        with pytest.raises(RequestError, match="rate limited") as info:
            await harness.request({"method": "order.place", "params": {"symbol": "BTCUSDT"}})
        assert info.value.code == -1003
        with pytest.raises(TimeoutError):
            await harness.request({"method": "slow"}, timeout=30 * MS)
        await harness.request({"method": "now"})  # the slow reply arrives first, late
        stats = harness.pending.stats
        assert (stats.failed, stats.timed_out, stats.late, stats.replied) == (1, 1, 1, 1)
    finally:
        await harness.close()


async def test_server_shutdown_asks_for_a_handover(server: FakeServer) -> None:
    """Binance's serverShutdown event reaches wants_handover (and is still delivered)."""
    harness = Harness(server.url, binance_api())
    await harness.open()
    try:
        await server.send_raw('{"event": {"e": "serverShutdown", "E": 1770123456789}}')
        await asyncio.wait_for(_until(lambda: harness.handovers), 5)
        assert harness.messages == [("serverShutdown", {"e": "serverShutdown", "E": 1770123456789})]
    finally:
        await harness.close()


async def _until(predicate: Callable[[], Any]) -> None:
    while not predicate():
        await asyncio.sleep(MS)


# -- client heartbeats -------------------------------------------------------------------


def silent_client_killer(server: FakeServer, tasks: Tasks, idle: float) -> list[int]:
    """Script an OKX-like server: answer text ping with pong, and close a client with
    4004 when it sent nothing for ``idle`` seconds.  Returns the list of close codes."""
    closes: list[int] = []
    heard: dict[int, asyncio.Event] = {}

    async def watchdog(client: FakeClient) -> None:
        while True:
            try:
                await asyncio.wait_for(heard[client.id].wait(), idle)
            except asyncio.TimeoutError:
                if client.closed:
                    return
                closes.append(4004)
                await client.close(4004, "No data received in 30s.")
                return
            heard[client.id].clear()

    @server.on_connect
    def start(client: FakeClient) -> None:
        heard[client.id] = asyncio.Event()
        tasks.start(watchdog(client))

    @server.on_message
    async def on_message(client: FakeClient, frame: Any) -> None:
        heard[client.id].set()
        if frame == "ping":
            await client.send("pong")

    return closes


def okx_heartbeat(interval: float, timeout: float) -> HeartbeatSpec:
    spec = OkxProtocol().client_heartbeat
    assert spec is not None
    return HeartbeatSpec(
        interval=interval, frame=spec.frame, is_answer=spec.is_answer,
        timeout=timeout, when_idle=True,
    )


async def test_okx_heartbeat_keeps_an_idle_connection_open(
    server: FakeServer, tasks: Tasks
) -> None:
    """A server closing clients silent for 300 ms never closes OkxProtocol's connection
    (idle ping every 100 ms); without the heartbeat it does, with 4004."""
    closes = silent_client_killer(server, tasks, idle=300 * MS)
    harness = Harness(server.url, OkxProtocol(client_heartbeat=okx_heartbeat(0.1, 0.2)))
    await harness.open()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(harness.closed.wait()), 1.0)
    assert closes == []
    assert harness.heartbeat is not None
    assert harness.heartbeat.stats.answered >= 5
    assert not harness.missed.is_set()
    await harness.close()

    control = Harness(server.url, OkxProtocol(client_heartbeat=None))
    await control.open()
    await asyncio.wait_for(control.closed.wait(), 5)
    assert closes == [4004]
    assert control.ws.close_code == 4004
    await control.close()


async def test_bybit_heartbeat_missing_answer(server: FakeServer) -> None:
    """A server that reads {"op": "ping"} but never answers: on_missed fires after
    interval + timeout (the engine then disconnects as STALE)."""
    spec = HeartbeatSpec(
        interval=50 * MS, frame={"op": "ping"}, is_answer=lambda m: False, timeout=100 * MS
    )
    harness = Harness(server.url, BybitProtocol(client_heartbeat=spec))
    await harness.open()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(harness.missed.wait(), 5)
    assert loop.time() - started >= 140 * MS
    assert {"op": "ping"} in server.received
    await harness.close()


async def test_bybit_heartbeat_answered(server: FakeServer) -> None:
    """Bybit's spot pong answers {"op": "ping"}; nothing is missed."""

    @server.on_message
    async def pong(client: FakeClient, frame: Any) -> None:
        if frame == {"op": "ping"}:
            await client.send({"success": True, "ret_msg": "pong", "conn_id": "c", "op": "ping"})

    spec = BybitProtocol().client_heartbeat
    assert spec is not None
    fast = HeartbeatSpec(interval=20 * MS, frame=spec.frame, is_answer=spec.is_answer, timeout=1)
    harness = Harness(server.url, BybitProtocol(client_heartbeat=fast))
    await harness.open()
    await asyncio.wait_for(_until(lambda: harness.heartbeat.stats.answered >= 3), 5)  # type: ignore[union-attr]
    assert not harness.missed.is_set()
    assert harness.messages == []  # pongs are not messages
    await harness.close()


# -- secrets -------------------------------------------------------------------------------


async def test_no_secret_in_any_log_record_or_repr(
    server: FakeServer, tasks: Tasks, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG logging over logins (accepted and rejected), signed requests, error
    replies and a heartbeat: the secret is in no log record of any logger, and no
    credential is in a wsevents log record, a repr or an exception message."""
    clock = Clock()

    @server.on_message
    async def venue(client: FakeClient, frame: Any) -> None:
        if frame == "ping":
            await client.send("pong")
        elif isinstance(frame, dict) and frame.get("op") == "auth":
            ok = bybit_login_ok(frame, clock.now * 1000) and client.id == 1
            await client.send(VENUES["bybit"]["ack" if ok else "nack"])
        elif isinstance(frame, dict) and frame.get("op") == "login":
            await client.send(VENUES["okx"]["ack"])
        elif isinstance(frame, dict) and "method" in frame:
            await client.send(
                {"id": frame["id"], "status": 400, "error": {"code": -1022, "msg": "bad"}}
            )

    raised: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        bybit = VENUES["bybit"]["make"](clock)
        first = Harness(server.url, bybit)
        await first.open()
        await first.close()
        try:
            await Harness(server.url, bybit).open()  # the second login is rejected
        except AuthenticationError as exc:
            raised.append(exc)
        okx = OkxProtocol(
            api_key=KEY, api_secret=SECRET, passphrase=PASSPHRASE, clock=clock,
            client_heartbeat=okx_heartbeat(20 * MS, 1.0),
        )
        second = Harness(server.url, okx)
        await second.open()
        await asyncio.wait_for(_until(lambda: second.heartbeat.stats.answered >= 1), 5)  # type: ignore[union-attr]
        await second.close()
        api = Harness(server.url, BinanceApiProtocol(api_key=KEY, api_secret=SECRET))
        await api.open()
        try:
            await api.request({"method": "order.test", "params": {"symbol": "BTCUSDT"}})
        except RequestError as exc:
            raised.append(exc)
        await api.close()
        logging.getLogger("wsevents").debug("protocols: %r %r %r", bybit, okx, api.protocol)

    assert len(raised) == 2
    assert caplog.records, "DEBUG logging captured nothing"
    assert SECRET not in caplog.text  # formatted records, tracebacks included
    names = {record.name for record in caplog.records}
    assert {"websockets.client", "wsevents"} <= names, names
    for record in caplog.records:
        text = record.getMessage()
        assert SECRET not in text, f"secret in a {record.name} log record"
        frame_trace = record.name in ("websockets.client", "wsevents.testing") and text[:2] in (
            "> ",
            "< ",
        )
        if not frame_trace:
            # websockets' DEBUG frame trace (client side, and FakeServer's side) shows
            # the start of every frame, and a login frame carries the key and OKX's
            # passphrase: the engine must redact that logger (see the report).
            assert KEY not in text, f"API key in a {record.name} log record"
            assert PASSPHRASE not in text, f"passphrase in a {record.name} log record"
    shown = [
        repr(bybit), repr(okx), repr(api.protocol), repr(first.pending), repr(first.pending.stats),
        repr(second.heartbeat), *(str(e) for e in raised), *(repr(e) for e in raised),
    ]
    for text in shown:
        for credential in (KEY, SECRET, PASSPHRASE):
            assert credential not in text, text
