"""What a newcomer hits first, each tried as a new user would write it: streams at
close, the terminal state, "do not reconnect", documented constructor calls,
unlimited message size, and close() called from anywhere."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import Recorder, until
from wsevents import CloseReason, DisconnectReason, State
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


# -- streams end cleanly at close --------------------------------------------------------


async def test_a_stream_iterated_until_close_just_ends(
    server: FakeServer, make_connection: Make
) -> None:
    """`async for` over a stream left running until close() ends without an error."""
    ws = make_connection(server.url)
    got: list[Any] = []

    async def consume() -> None:
        async for msg in ws.stream("message:trades"):
            got.append(msg["n"])

    consumer = asyncio.create_task(consume())
    await ws.connect()
    await server.wait_for_client()
    await server.publish("trades", {"n": 1})
    await until(lambda: got == [1])
    await ws.close()
    await asyncio.wait_for(consumer, 2)  # ends, does not raise
    assert consumer.exception() is None


async def test_a_stream_waiting_on_anext_ends_at_close(
    server: FakeServer, make_connection: Make
) -> None:
    """A consumer waiting for the next item gets StopAsyncIteration at close."""
    ws = make_connection(server.url)
    stream = ws.stream("message:none")
    await ws.connect()
    waiter = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)
    await ws.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, 2)


async def test_a_stream_broken_out_of_does_not_break_close(
    server: FakeServer, make_connection: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream whose consumer broke out of its loop still ends quietly at close,
    even in block mode with its buffer full (nobody reads it any more)."""
    ws = make_connection(server.url, overflow="block", close_timeout=0.5)
    rec = Recorder(ws, "closed")

    async def first() -> Any:
        async for msg in ws.stream("message:t", maxsize=1):
            return msg
        return None

    task = asyncio.create_task(first())
    await ws.connect()
    await server.wait_for_client()
    for n in range(5):
        await server.publish("t", {"n": n})
    assert (await asyncio.wait_for(task, 2))["n"] == 0
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="wsevents"):
        await ws.close()
    assert time.monotonic() - started < 0.5 + 0.25 + 0.5
    await rec.wait_count("closed", 1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_stream_made_after_close_is_already_over(
    server: FakeServer, make_connection: Make
) -> None:
    """stream() on a closed connection ends at once."""
    ws = make_connection(server.url)
    await ws.connect()
    await ws.close()
    items = [m async for m in ws.stream("message")]
    assert items == []


# -- the terminal event sees the terminal state -------------------------------------------


async def test_closed_handler_sees_closed_and_wait_closed_waits_for_it(
    server: FakeServer, make_connection: Make
) -> None:
    """A `closed` handler reads State.CLOSED; wait_closed() returns after it ran;
    handlers of the events before it still saw CLOSING at most."""
    ws = make_connection(server.url)
    states: dict[str, State] = {}
    ws.on("disconnect", lambda e: states.setdefault("disconnect", ws.state))
    ws.on("closed", lambda e: states.setdefault("closed", ws.state))
    await ws.connect()
    closing = asyncio.create_task(ws.close())
    await ws.wait_closed()
    assert states["closed"] is State.CLOSED
    assert states["disconnect"] in (State.CLOSING,)
    await closing


async def test_closed_reason_is_an_enum_equal_to_its_text(
    server: FakeServer, make_connection: Make
) -> None:
    """Closed.reason is a CloseReason (comparable to the old string too)."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "closed")
    await ws.connect()
    await ws.close()
    await rec.wait_count("closed", 1)
    reason = rec.of("closed")[0].reason
    assert reason is CloseReason.USER
    assert reason == "close() called"


# -- "do not reconnect" ---------------------------------------------------------------------


@pytest.mark.parametrize("code", [1002, 1009, 1000, 1011])
async def test_max_reconnect_attempts_zero_never_reconnects(
    server: FakeServer, make_connection: Make, code: int
) -> None:
    """max_reconnect_attempts=0: `closed` follows the first `disconnect`, whatever the
    close code; no `reconnecting`; run() returns without an error."""
    ws = make_connection(server.url, max_reconnect_attempts=0)
    rec = Recorder(ws, "disconnect", "reconnecting", "closed")
    runner = asyncio.create_task(ws.run())
    await server.wait_for_client()
    await server.close_clients(code=code)
    await asyncio.wait_for(runner, 5)
    assert rec.names() == ["disconnect", "closed"]
    closed = rec.of("closed")[0]
    assert closed.reason is CloseReason.NOT_RECONNECTING
    assert closed.error is None
    assert str(code) in closed.detail
    assert server.handshakes == 1


async def test_max_reconnect_attempts_zero_gives_up_at_the_first_failure(
    make_connection: Make,
) -> None:
    """With 0, a first attempt that fails is final too, with the failure itself."""
    async with FakeServer() as fake:
        url = fake.url
    ws = make_connection(url, max_reconnect_attempts=0)
    with pytest.raises(wsevents.ConnectError) as raised:
        await ws.run()
    assert not isinstance(raised.value, wsevents.ReconnectExhausted)


def test_negative_max_reconnect_attempts_is_refused() -> None:
    """-1 names the option."""
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection("ws://127.0.0.1:1/", max_reconnect_attempts=-1)
    assert raised.value.key == "max_reconnect_attempts"


# -- the documented calls work as written ----------------------------------------------------


def test_backoff_classes_take_the_documented_positional_arguments() -> None:
    """`FixedDelay(delay)` and `ExponentialBackoff(initial, maximum, ...)` as the README
    writes them."""
    assert wsevents.FixedDelay(3600).delay(2) == 3600
    assert wsevents.FixedDelay(delay=2.0).delay(5) == 2.0
    backoff = wsevents.ExponentialBackoff(0.5, 30, 2.0, 0.0)
    assert backoff.delay(3) == 1.0
    assert wsevents.Immediate().delay(9) == 0.0


async def test_max_size_none_accepts_any_size(server: FakeServer, make_connection: Make) -> None:
    """max_size=None: a 3 MiB message (over the 1 MiB default) is delivered."""
    ws = make_connection(server.url, max_size=None)
    rec = Recorder(ws, "message:big")
    await ws.connect()
    await server.wait_for_client()
    await server.publish("big", {"blob": "x" * (3 * 2**20)})
    await rec.wait_count("message:big", 1)
    assert len(rec.of("message:big")[0]["blob"]) == 3 * 2**20


# -- close() from anywhere finishes within its bound -----------------------------------------


async def test_close_from_a_task_a_disconnect_handler_returned(
    server: FakeServer, make_connection: Make
) -> None:
    """`lambda e: asyncio.ensure_future(ws.close())`: delivery awaits the returned task,
    which waits for delivery; close() must still finish, `closed` fire, run() return."""
    ws = make_connection(server.url, close_timeout=0.5)
    rec = Recorder(ws, "closed")
    ws.on("disconnect", lambda e: asyncio.ensure_future(ws.close()))
    runner = asyncio.create_task(ws.run())
    await server.wait_for_client()
    started = time.monotonic()
    await server.drop()
    await asyncio.wait_for(runner, 3)
    assert time.monotonic() - started < 0.5 + 0.25 + 1.0
    await rec.wait_count("closed", 1)
    assert ws.state is State.CLOSED


async def test_close_awaited_inside_an_async_handler(
    server: FakeServer, make_connection: Make
) -> None:
    """`await ws.close()` inside a handler returns; `closed` is delivered after it."""
    ws = make_connection(server.url)
    order: list[str] = []

    @ws.on("message:stop")
    async def stop(_msg: Any) -> None:
        await ws.close()
        order.append("handler returned")

    ws.on("closed", lambda e: order.append("closed"))
    runner = asyncio.create_task(ws.run())
    await server.wait_for_client()
    await server.publish("stop", {})
    await asyncio.wait_for(runner, 3)
    assert order == ["handler returned", "closed"]


async def test_close_while_a_handler_awaits_a_task_that_closes(
    server: FakeServer, make_connection: Make
) -> None:
    """An async handler awaiting a task that awaits close(): delivery is stuck behind
    it; close() cancels delivery past its bound and still delivers `closed`."""
    ws = make_connection(server.url, close_timeout=0.3)
    rec = Recorder(ws, "closed")

    @ws.on("message:stop")
    async def stop(_msg: Any) -> None:
        await asyncio.ensure_future(ws.close())

    runner = asyncio.create_task(ws.run())
    await server.wait_for_client()
    started = time.monotonic()
    await server.publish("stop", {})
    await asyncio.wait_for(runner, 3)
    assert time.monotonic() - started < 0.3 + 0.25 + 1.5
    await rec.wait_count("closed", 1)
    assert rec.of("closed")[0].reason is CloseReason.USER


async def test_a_reconnect_run_is_cut_short_by_close(make_connection: Make) -> None:
    """close() while the connection waits out a long backoff returns at once."""
    async with FakeServer() as fake:
        url = fake.url
    ws = make_connection(url, backoff=wsevents.FixedDelay(3600))
    rec = Recorder(ws, "reconnecting")
    runner = asyncio.create_task(ws.run())
    await rec.wait_count("reconnecting", 1)
    started = time.monotonic()
    await ws.close()
    await asyncio.wait_for(runner, 2)
    assert time.monotonic() - started < 1.0
    assert ws.stats.connects == 0
    assert [e.reason for e in rec.of("reconnecting")] == [DisconnectReason.NETWORK_ERROR]


async def test_handover_returns_when_the_new_connection_is_refused_for_good(
    server: FakeServer, make_connection: Make
) -> None:
    """handover() with the server refusing new handshakes (401, not retried): it
    returns, the error is reported, and the old connection stays in use."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "error", "message:t")
    await ws.connect()
    await server.wait_for_client()
    server.refuse(status=401)
    await asyncio.wait_for(ws.handover(), 5)
    await rec.wait_count("error", 1)
    assert isinstance(rec.of("error")[0], wsevents.HandshakeRejected)
    server.accept_handshakes()
    await server.publish("t", {"n": 1})
    await rec.wait_count("message:t", 1)
    assert ws.stats.connects == 1


async def test_a_raising_utc_now_is_reported_and_the_ticker_goes_on(
    server: FakeServer, make_connection: Make
) -> None:
    """A wall clock that raises is an `error` event every check; policies keep being
    asked once it works again."""
    broken = True
    asked: list[bool] = []

    def utc_now() -> Any:
        import datetime as dt

        if broken:
            raise RuntimeError("no clock")
        return dt.datetime.now(dt.timezone.utc)

    def policy(ctx: Any) -> bool:
        asked.append(True)
        return False

    ws = make_connection(server.url, utc_now=utc_now, should_disconnect=policy)
    rec = Recorder(ws, "error")
    await ws.connect()
    await rec.wait_count("error", 2)
    assert isinstance(rec.of("error")[0], wsevents.PolicyError)
    broken = False
    await until(lambda: bool(asked))
