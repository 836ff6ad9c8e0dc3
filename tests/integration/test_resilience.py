"""Fault injection: every way real servers and networks fail, over real sockets.

Each test scripts one fault with FakeServer (or a feed server in another
process that is killed, stopped and restarted) and asserts the events, their
payloads and the timing of the attempts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

import wsevents
from tests.conftest import Recorder, until
from wsevents import DisconnectReason, JsonProtocol, State
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


def stamp(ws: wsevents.Connection, event: str) -> list[tuple[float, Any]]:
    """Record (monotonic time, payload) of every ``event``."""
    seen: list[tuple[float, Any]] = []
    ws.on(event, lambda payload: seen.append((time.monotonic(), payload)))
    return seen


# -- reconnect storms and backoff ---------------------------------------------


async def test_accept_then_close_backs_off_without_a_storm(
    server: FakeServer, make_connection: Make
) -> None:
    """A server that accepts then closes at once sees growing delays, not a storm."""
    server.accept_then_close(code=1011, reason="overloaded")
    ws = make_connection(
        server.url,
        backoff=wsevents.ExponentialBackoff(initial=0.05, maximum=0.4, jitter=0),
        stable_after=30,
    )
    rec = Recorder(ws, "reconnecting", "disconnect")
    connects = stamp(ws, "connect")
    await ws.connect()
    await rec.wait_count("reconnecting", 6, timeout=10)
    delays = [r.delay for r in rec.of("reconnecting")[:6]]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    assert all(r.attempt == 1 for r in rec.of("reconnecting"))  # each after a connection
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(connects)]
    for gap, delay in zip(gaps[:5], delays[:5], strict=True):
        assert gap >= delay * 0.9
    assert server.handshakes <= 7
    first = rec.of("disconnect")[0]
    assert (first.reason, first.code, first.reason_text) == (
        DisconnectReason.SERVER_CLOSE,
        1011,
        "overloaded",
    )


async def test_backoff_starts_over_after_a_stable_connection(
    server: FakeServer, make_connection: Make
) -> None:
    """A connection that stayed up stable_after seconds is replaced at once after a drop;
    one that did not continues the backoff (the clock is injected and advanced)."""
    now = [1000.0]
    ws = make_connection(
        server.url,
        backoff=wsevents.ExponentialBackoff(initial=0.05, maximum=0.4, jitter=0),
        stable_after=30,
        clock=lambda: now[0],
    )
    rec = Recorder(ws, "reconnecting", "connect")
    await ws.connect()
    await server.wait_for_client()
    now[0] += 29.0  # not yet stable
    await server.drop()
    await rec.wait_count("connect", 2)
    assert rec.of("reconnecting")[0].delay == 0.05
    now[0] += 30.0  # stable now
    await server.drop()
    await rec.wait_count("connect", 3)
    assert rec.of("reconnecting")[1].delay == 0.0


# -- handshake statuses ----------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_client_error_statuses_are_fatal(
    server: FakeServer, make_connection: Make, status: int
) -> None:
    """401/403/404: `closed` with HandshakeRejected after exactly one attempt; run() raises."""
    server.refuse(status=status, body="nope")
    ws = make_connection(server.url)
    rec = Recorder(ws, "closed", "reconnecting")
    with pytest.raises(wsevents.HandshakeRejected) as raised:
        await ws.run()
    assert raised.value.status == status
    assert server.handshakes == 1
    await rec.wait_count("closed", 1)
    closed = rec.of("closed")[0]
    assert isinstance(closed.error, wsevents.HandshakeRejected)
    assert str(status) in closed.detail
    assert closed.reason is wsevents.CloseReason.REJECTED
    assert rec.of("reconnecting") == []
    assert ws.state is State.CLOSED


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(
    server: FakeServer, make_connection: Make, status: int
) -> None:
    """429/503 are retried no sooner than their Retry-After."""
    server.refuse(status=status, headers={"Retry-After": "1"}, count=1)
    ws = make_connection(server.url)
    rec = Recorder(ws, "reconnecting")
    connects = stamp(ws, "connect")
    started = time.monotonic()
    await ws.connect()
    assert connects[0][0] - started >= 1.0
    retry = rec.of("reconnecting")[0]
    assert retry.delay == 1.0
    assert isinstance(retry.error, wsevents.HandshakeRejected)
    assert retry.error.status == status
    assert server.handshakes == 2


async def test_5xx_retried_with_backoff(server: FakeServer, make_connection: Make) -> None:
    """Other 5xx are retried through the backoff until the server accepts."""
    server.refuse(status=502, count=3)
    ws = make_connection(server.url)
    rec = Recorder(ws, "reconnecting")
    await ws.connect()
    assert [r.attempt for r in rec.of("reconnecting")] == [2, 3, 4]
    assert server.handshakes == 4


async def test_should_retry_hook_overrides_the_classification(
    server: FakeServer, make_connection: Make
) -> None:
    """A user hook can retry a 401 (say, after refreshing a token)."""
    server.refuse(status=401, count=1)
    ws = make_connection(server.url, should_retry=lambda failure: failure.status == 401)
    await ws.connect()
    assert server.handshakes == 2


# -- close codes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1008, DisconnectReason.SERVER_CLOSE),
        (1011, DisconnectReason.SERVER_CLOSE),
        (1002, DisconnectReason.PROTOCOL_ERROR),
        (1003, DisconnectReason.PROTOCOL_ERROR),
        (1007, DisconnectReason.PROTOCOL_ERROR),
    ],
)
async def test_close_codes_are_reported(
    server: FakeServer, make_connection: Make, code: int, reason: DisconnectReason
) -> None:
    """The server's close code and reason reach Disconnected; the client reconnects."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "disconnect", "connect")
    await ws.connect()
    await server.wait_for_client()
    await server.close_clients(code=code, reason="because")
    await rec.wait_count("connect", 2)
    event = rec.of("disconnect")[0]
    assert (event.reason, event.code, event.reason_text, event.proactive) == (
        reason,
        code,
        "because",
        False,
    )


async def test_1013_waits_server_unavailable_delay(
    server: FakeServer, make_connection: Make
) -> None:
    """Close code 1013 (try again later) waits server_unavailable_delay."""
    ws = make_connection(server.url, server_unavailable_delay=0.3)
    rec = Recorder(ws, "reconnecting")
    connects = stamp(ws, "connect")
    await ws.connect()
    await server.wait_for_client()
    # (taken before the close: the client may see it before close_clients() returns)
    dropped = time.monotonic()
    await server.close_clients(code=1013, reason="try again later")
    await until(lambda: len(connects) == 2, 5)
    assert rec.of("reconnecting")[0].delay == 0.3
    assert connects[1][0] - dropped >= 0.3


# -- liveness ---------------------------------------------------------------------------


async def test_frozen_peer_is_a_ping_timeout(server: FakeServer, make_connection: Make) -> None:
    """A peer that stops answering pings is detected and reported as PING_TIMEOUT."""
    ws = make_connection(server.url, ping_interval=0.1, ping_timeout=0.1, open_timeout=0.3)
    rec = Recorder(ws, "disconnect", "connect")
    await ws.connect()
    await server.wait_for_client()
    server.freeze()
    await rec.wait_count("disconnect", 1)
    assert rec.of("disconnect")[0].reason is DisconnectReason.PING_TIMEOUT
    assert rec.of("disconnect")[0].code == 1011
    server.unfreeze()
    await rec.wait_count("connect", 2)


async def test_stale_connection_is_replaced(server: FakeServer, make_connection: Make) -> None:
    """No data for stale_after seconds: the connection is replaced, reason STALE (reactive)."""
    ws = make_connection(server.url, stale_after=0.2, check_interval=0.02)
    rec = Recorder(ws, "disconnect", "connect")
    await ws.connect()
    await server.wait_for_client()
    await rec.wait_count("connect", 2)
    event = rec.of("disconnect")[0]
    assert event.reason is DisconnectReason.STALE
    assert event.proactive is False
    assert event.uptime >= 0.2
    assert ws.stats.reactive_disconnects >= 1


async def test_data_keeps_a_connection_fresh(server: FakeServer, make_connection: Make) -> None:
    """Messages arriving more often than stale_after keep the connection."""
    ws = make_connection(server.url, stale_after=0.3, check_interval=0.02)
    rec = Recorder(ws, "disconnect", "message:ticks")
    await ws.connect()
    await server.wait_for_client()
    for n in range(12):
        await server.publish("ticks", {"n": n})
        await rec.wait_count("message:ticks", n + 1)
        await asyncio.sleep(0.05)  # the feed's pace under test
    assert rec.of("disconnect") == []


# -- bounded shutdown ----------------------------------------------------------------------


async def test_close_is_bounded_when_the_peer_is_frozen(
    server: FakeServer, make_connection: Make
) -> None:
    """close() on a half-open connection returns within close_timeout plus a small margin."""
    ws = make_connection(server.url, close_timeout=0.3)
    await ws.connect()
    await server.wait_for_client()
    server.freeze()
    started = time.monotonic()
    await ws.close()
    assert time.monotonic() - started < 0.3 + 0.4
    assert ws.state is State.CLOSED


async def test_close_while_reconnecting_is_immediate(
    server: FakeServer, make_connection: Make
) -> None:
    """close() during a long backoff wait does not wait for it."""
    ws = make_connection(server.url, backoff=wsevents.FixedDelay(delay=60))
    rec = Recorder(ws, "reconnecting", "closed")
    await ws.connect()
    await server.wait_for_client()
    await server.drop()
    await rec.wait_count("reconnecting", 1)
    started = time.monotonic()
    await ws.close()
    assert time.monotonic() - started < 0.5
    await rec.wait_count("closed", 1)


async def test_close_while_the_handshake_hangs(make_connection: Make) -> None:
    """close() while a handshake is stuck (server frozen) is bounded too."""
    async with FakeServer() as frozen:
        frozen.freeze()
        ws = make_connection(frozen.url, open_timeout=30, close_timeout=0.3)
        connecting = asyncio.ensure_future(ws.connect())
        await frozen.wait_for_client()
        started = time.monotonic()
        await ws.close()
        assert time.monotonic() - started < 0.3 + 0.4
        with pytest.raises(wsevents.WSEventsError):
            await asyncio.wait_for(connecting, 1)


# -- bad input ------------------------------------------------------------------------------


async def test_binary_frame_where_text_was_expected(
    server: FakeServer, make_connection: Make
) -> None:
    """With binary='error', a binary frame is an error event and delivery goes on."""
    ws = make_connection(server.url, protocol=JsonProtocol(binary="error"))
    rec = Recorder(ws, "error", "message:a")
    await ws.connect()
    await server.wait_for_client()
    await server.send_raw(b'{"channel": "a"}')
    await server.publish("a", {"n": 1})
    await rec.wait_count("message:a", 1)
    await rec.wait_count("error", 1)
    assert "binary frame" in str(rec.of("error")[0])


async def test_message_without_a_channel(server: FakeServer, make_connection: Make) -> None:
    """With unrouted='error' a message with no channel is an error event naming the key."""
    ws = make_connection(server.url, protocol=JsonProtocol(unrouted="error"))
    rec = Recorder(ws, "error", "message:a", "message")
    await ws.connect()
    await server.wait_for_client()
    await server.send_raw('{"price": 1}')
    await server.publish("a", {"n": 1})
    await rec.wait_count("message:a", 1)
    await rec.wait_count("error", 1)
    assert "'channel'" in str(rec.of("error")[0])
    assert len(rec.of("message")) == 1


async def test_unrouted_messages_go_to_message(server: FakeServer, make_connection: Make) -> None:
    """By default a message with no channel is delivered on `message` only."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "message")
    await ws.connect()
    await server.wait_for_client()
    await server.send_raw('{"result": null, "id": 1}')
    await rec.wait_count("message", 1)
    assert rec.of("message") == [{"result": None, "id": 1}]


async def test_invalid_utf8_is_a_protocol_error(server: FakeServer, make_connection: Make) -> None:
    """A text frame with invalid UTF-8 closes with 1007: PROTOCOL_ERROR, then a reconnect."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "disconnect", "connect")
    await ws.connect()
    client = await server.wait_for_client()
    await client.websocket.send(b"\xff\xfe{}", text=True)
    await rec.wait_count("connect", 2)
    event = rec.of("disconnect")[0]
    assert (event.reason, event.code) == (DisconnectReason.PROTOCOL_ERROR, 1007)


async def test_oversized_frame_is_a_protocol_error(
    server: FakeServer, make_connection: Make
) -> None:
    """A frame over max_size closes with 1009: PROTOCOL_ERROR; later messages still arrive."""
    ws = make_connection(server.url, max_size=1000)
    rec = Recorder(ws, "disconnect", "connect", "message:a")
    await ws.connect()
    await server.wait_for_client()
    await server.publish("a", {"blob": "x" * 5000})
    await rec.wait_count("connect", 2)
    event = rec.of("disconnect")[0]
    assert (event.reason, event.code) == (DisconnectReason.PROTOCOL_ERROR, 1009)
    await server.wait_for_client(2)
    await server.publish("a", {"n": 1})
    await rec.wait_count("message:a", 1)
    assert rec.of("message:a") == [{"channel": "a", "n": 1}]


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[FakeServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with FakeServer(ssl=context) as fake:
        yield fake


async def test_untrusted_certificate_is_fatal(
    tls_server: FakeServer, make_connection: Make
) -> None:
    """wss:// verifies certificates by default: an untrusted one is a ConnectError, no retry."""
    ws = make_connection(tls_server.url)
    with pytest.raises(wsevents.ConnectError, match="TLS") as raised:
        await ws.connect()
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
    assert ws.stats.connect_attempts == 1
    assert tls_server.connections == 0


async def test_user_ssl_context_is_honoured(
    tls_server: FakeServer, make_connection: Make, ca: trustme.CA
) -> None:
    """A context trusting the test CA connects over TLS and delivers messages."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    ws = make_connection(tls_server.url, ssl=context)
    rec = Recorder(ws, "message:a")
    await ws.connect()
    await tls_server.wait_for_client()
    await tls_server.publish("a", {"n": 1})
    await rec.wait_count("message:a", 1)


async def test_secrets_are_masked_in_logs_and_payloads(
    server: FakeServer, make_connection: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """Query secrets never reach the logs nor the Connected payload."""
    caplog.set_level(logging.INFO, logger="wsevents")
    ws = make_connection(server.url_for("/ws?listenKey=SECRETKEY&symbol=btc"))
    rec = Recorder(ws, "connect")
    await ws.connect()
    await server.wait_for_client()
    await server.drop()
    await rec.wait_count("connect", 2)
    assert "SECRETKEY" not in caplog.text
    assert "listenKey=***" in caplog.text
    assert "SECRETKEY" not in rec.of("connect")[0].url
    assert server.requests[0].path == "/ws?listenKey=SECRETKEY&symbol=btc"


# -- a server in another process: SIGKILL, SIGSTOP, restart on the same port --------


class FeedProcess:
    """The feed server of tests/integration/feed_process.py in a child process."""

    def __init__(self, *args: str) -> None:
        self.port = 0
        self.args = args
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.reap()
        script = Path(__file__).with_name("feed_process.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port), *self.args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # bounded: the process prints it at once or dies
        assert line.startswith("PORT "), f"feed process said {line!r}"
        self.port = int(line.split()[1])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.reap()

    def reap(self) -> None:
        """Wait for the (killed) process and close its pipe."""
        if self.proc is not None:
            self.proc.wait(5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


@pytest.fixture
def feed() -> Any:
    process = FeedProcess()
    process.start()
    yield process
    if process.proc is not None and process.proc.poll() is None:
        with _suppress_lookup():
            process.signal(signal.SIGCONT)
    process.kill()


def _suppress_lookup() -> Any:
    import contextlib

    return contextlib.suppress(ProcessLookupError)


def contiguous_runs(values: list[int]) -> list[list[int]]:
    """Split a sequence into runs of consecutive numbers."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return runs


async def test_server_killed_and_restarted_on_the_same_port(
    feed: FeedProcess, make_connection: Make
) -> None:
    """SIGKILL: NETWORK_ERROR, failed attempts while down, back when restarted;
    block mode delivers every message that reached the client, in order."""
    ws = make_connection(feed.url, overflow="block", queue_size=100)
    got: list[int] = []
    rec = Recorder(ws, "disconnect", "connect", "reconnecting")
    ws.on("message:ticks", lambda m: got.append(m["n"]))
    await ws.connect()
    await until(lambda: len(got) >= 20, 5)
    feed.signal(signal.SIGKILL)
    feed.reap()
    await rec.wait_count("disconnect", 1)
    assert rec.of("disconnect")[0].reason is DisconnectReason.NETWORK_ERROR
    await rec.wait_count("reconnecting", 3)  # attempts fail while nothing listens
    assert isinstance(rec.of("reconnecting")[-1].error, wsevents.ConnectError)
    feed.start()  # same port
    await rec.wait_count("connect", 2)
    await until(lambda: got.count(0) == 2 and len(got) >= 60, 5)
    stats = ws.stats
    assert stats.messages_dropped == 0
    assert stats.messages_received == stats.messages_delivered + stats.queue_depth
    runs = contiguous_runs(got)
    assert len(runs) == 2  # one unbroken run per connection
    assert runs[1][0] == 0


async def test_cpu_bound_handler_keeps_answering_server_pings(make_connection: Make) -> None:
    """A sync handler slower than the feed (2 ms a message at 1,000 messages/s) must
    not starve the socket: the server's pings (0.1 s, 0.3 s timeout) keep being
    answered, and the bounded queue drops the excess (reported, counted)."""
    pinging = FeedProcess("0.1")
    pinging.start()
    try:
        ws = make_connection(pinging.url, queue_size=200)
        rec = Recorder(ws, "disconnect", "queue_full")
        handled: list[int] = []

        @ws.on("message:ticks")
        def busy(msg: dict[str, Any]) -> None:
            time.sleep(0.002)  # stands for CPU-bound user code, not synchronisation
            handled.append(msg["n"])

        await ws.connect()
        await until(lambda: len(handled) >= 600, 10)  # about 1.2 s
        assert rec.of("disconnect") == []
        await rec.wait_count("queue_full", 1)
        assert ws.stats.messages_dropped > 0
    finally:
        pinging.kill()


async def test_server_stopped_then_resumed(feed: FeedProcess, make_connection: Make) -> None:
    """SIGSTOP: the frozen server is a PING_TIMEOUT; attempts time out; SIGCONT: back."""
    ws = make_connection(feed.url, ping_interval=0.2, ping_timeout=0.2, open_timeout=0.3)
    got: list[int] = []
    rec = Recorder(ws, "disconnect", "connect", "reconnecting")
    ws.on("message:ticks", lambda m: got.append(m["n"]))
    await ws.connect()
    await until(lambda: len(got) >= 10, 5)
    feed.signal(signal.SIGSTOP)
    await rec.wait_count("disconnect", 1)
    assert rec.of("disconnect")[0].reason is DisconnectReason.PING_TIMEOUT
    await rec.wait_count("reconnecting", 2)
    assert "timed out" in str(rec.of("reconnecting")[-1].error)
    feed.signal(signal.SIGCONT)
    await rec.wait_count("connect", 2, timeout=10)
    assert ws.state is State.CONNECTED



async def test_1013_right_after_the_handshake_waits_too(
    server: FakeServer, make_connection: Make
) -> None:
    """A 1013 close before the subscriptions could be sent still waits server_unavailable_delay."""
    server.accept_then_close(code=1013, reason="try again later", count=1)
    ws = make_connection(server.url, subscriptions=["trades"], server_unavailable_delay=0.3)
    rec = Recorder(ws, "reconnecting")
    await ws.connect()
    first = rec.of("reconnecting")[0]
    assert first.delay >= 0.3
    assert first.reason is DisconnectReason.SERVER_CLOSE
