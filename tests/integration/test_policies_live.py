"""Policies against a real FakeServer: policy-triggered disconnects, policy-timed
reconnects, recycling, request_disconnect/resume, failing policies, plain callables
and combinators.

Wall-clock time is a fake the test sets (``utc_now=``); monotonic time is real but
only ever waited on through observable progress (events, policy answers, the
ticker's clock readings), never slept on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import wsevents
from tests.conftest import MS, Recorder
from wsevents import DisconnectReason, PolicyContext, PolicyError, State
from wsevents.policies import CandleAware, MaxConnectionAge, TimeWindow
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]

#: a 1h (and 4h) candle close
CLOSE = datetime(2024, 3, 4, 12, 0, tzinfo=timezone.utc)


class WallClock:
    """A fake UTC wall clock for ``utc_now=``: the test sets :attr:`now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Monotonic:
    """``time.monotonic`` for ``clock=``, remembering its readings so that a test can
    wait for the connection's ticker to have run past a given time."""

    def __init__(self) -> None:
        self.readings: list[float] = []
        self._changed = asyncio.Event()

    def __call__(self) -> float:
        now = time.monotonic()
        self.readings.append(now)
        self._changed.set()
        return now

    async def wait_ticks_after(self, when: float, n: int = 3, timeout: float = 2.0) -> None:
        """Wait until the clock was read ``n`` times at or after ``when`` (bounded)."""

        async def until() -> None:
            while sum(r >= when for r in self.readings[-n:]) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)


class Spy:
    """A policy wrapper recording every question asked and the answer given."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.asked: list[tuple[str, PolicyContext, object]] = []
        self._changed = asyncio.Event()

    def _record(self, question: str, ctx: PolicyContext, answer: object) -> None:
        self.asked.append((question, ctx, answer))
        self._changed.set()

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        answer: bool = self.policy.should_disconnect(ctx)
        self._record("should_disconnect", ctx, answer)
        return answer

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        answer: bool | float = self.policy.should_reconnect(ctx)
        self._record("should_reconnect", ctx, answer)
        return answer

    async def wait_for(
        self,
        predicate: Callable[[str, PolicyContext, object], bool],
        *,
        after: int = 0,
        timeout: float = 2.0,
    ) -> tuple[str, PolicyContext, object]:
        """Wait until a question from index ``after`` on matches ``predicate`` (bounded)."""

        async def until() -> tuple[str, PolicyContext, object]:
            while True:
                for question, ctx, answer in self.asked[after:]:
                    if predicate(question, ctx, answer):
                        return question, ctx, answer
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(until(), timeout)


def state(ws: wsevents.Connection) -> State:
    """``ws.state``, read afresh (a plain attribute read would be narrowed by mypy)."""
    return ws.state


def between(rec: Recorder, first: str, last: str) -> list[str]:
    """The event names recorded after the first ``first`` and before the next ``last``."""
    names = rec.names()
    start = names.index(first)
    end = names.index(last, start + 1)
    return names[start + 1 : end]


# -- CandleAware: a policy disconnect, then a policy-timed reconnect ---------------------------


async def test_candle_aware_disconnects_mid_candle_and_reconnects_before_close(
    server: FakeServer, make_connection: Make
) -> None:
    """CandleAware drops the connection in the quiet middle of a candle (POLICY, proactive,
    PAUSED), delivers nothing while paused, and brings it back once the next close is near
    (reconnecting, then connect with is_reconnect=True)."""
    candles = CandleAware("1h", stay_before=60, stay_after=30)
    policy = Spy(candles)
    clock = WallClock(CLOSE - timedelta(seconds=30))  # inside the guard window
    ws = make_connection(
        server.url,
        subscriptions=["candles"],
        should_disconnect=policy,
        should_reconnect=policy,
        utc_now=clock,
    )
    rec = Recorder(ws, "connect", "disconnect", "reconnecting", "message:candles")
    states: list[State] = []
    ws.on("disconnect", lambda _event: states.append(state(ws)))

    await ws.connect()
    first = await server.wait_for_client()
    await first.wait_subscribed("candles")
    await server.publish("candles", {"n": 1})
    await rec.wait_count("message:candles", 1)
    await policy.wait_for(lambda q, _c, a: q == "should_disconnect" and a is False)
    assert all(answer is False for _q, _c, answer in policy.asked)
    assert state(ws) is State.CONNECTED

    clock.now = CLOSE + timedelta(minutes=30)  # the safe middle of the next candle
    await rec.wait_count("disconnect", 1)
    event = rec.of("disconnect")[0]
    assert isinstance(event, wsevents.Disconnected)
    assert event.reason is DisconnectReason.POLICY
    assert event.proactive is True
    assert states == [State.PAUSED]
    assert state(ws) is State.PAUSED

    # While paused: the server has no client, so nothing can be delivered ...
    await first.wait_closed()
    assert server.clients == []
    assert await server.publish("candles", {"n": "lost"}) == 0
    # ... and the policy, asked again, says "not before the next close".
    mark = len(policy.asked)
    _q, ctx, wait = await policy.wait_for(lambda q, _c, _a: q == "should_reconnect", after=mark)
    assert ctx.state is State.PAUSED
    assert ctx.paused_since is not None
    next_close = CLOSE + timedelta(hours=1)
    assert wait == (next_close - timedelta(seconds=70) - clock.now).total_seconds()
    assert state(ws) is State.PAUSED
    assert server.connections == 1

    # 70 s before the close: stay_before (60 s) plus the default 10 s lead.
    clock.now = CLOSE + timedelta(minutes=59, seconds=50)
    assert candles.should_reconnect(PolicyContext.at(clock.now, state=State.PAUSED)) is True
    await rec.wait_count("connect", 2)
    second = await server.wait_for_client(2)
    await second.wait_subscribed("candles")
    await server.publish("candles", {"n": 2})
    await rec.wait_count("message:candles", 2)

    assert rec.names() == [
        "connect",
        "message:candles",
        "disconnect",
        "reconnecting",
        "connect",
        "message:candles",
    ]
    assert between(rec, "disconnect", "connect") == ["reconnecting"]
    assert [m["n"] for m in rec.of("message:candles")] == [1, 2]
    reconnecting = rec.of("reconnecting")[0]
    assert reconnecting.reason is DisconnectReason.POLICY
    assert reconnecting.delay == 0.0
    connected = rec.of("connect")[1]
    assert connected.is_reconnect is True
    assert connected.downtime > 0
    assert state(ws) is State.CONNECTED
    stats = ws.stats
    assert stats.proactive_disconnects == 1
    assert stats.reactive_disconnects == 0
    assert stats.disconnects == 1
    assert stats.connects == 2
    assert stats.messages_received == 2


# -- MaxConnectionAge: recycling --------------------------------------------------------------


async def test_max_connection_age_recycles_at_once(
    server: FakeServer, make_connection: Make
) -> None:
    """MaxConnectionAge(0.3) alone replaces a connection once it is 0.3 s old: with
    handover=False, a POLICY disconnect followed by an immediate reconnect (no
    should_reconnect, so no pause).  The default make-before-break handover is covered
    by test_handover.py."""
    ws = make_connection(server.url, should_disconnect=MaxConnectionAge(0.3), handover=False)
    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    states: list[State] = []
    ws.on("disconnect", lambda _event: states.append(state(ws)))

    await ws.connect()
    first = await server.wait_for_client()
    await rec.wait_count("connect", 2, timeout=2.0)
    await server.wait_for_client(2)
    await first.wait_closed()

    assert rec.names()[:4] == ["connect", "disconnect", "reconnecting", "connect"]
    event = rec.of("disconnect")[0]
    assert event.reason is DisconnectReason.POLICY
    assert event.proactive is True
    assert event.uptime >= 0.3
    assert states[0] is not State.PAUSED
    reconnecting = rec.of("reconnecting")[0]
    assert reconnecting.reason is DisconnectReason.POLICY
    assert reconnecting.delay == 0.0
    assert rec.of("connect")[1].is_reconnect is True
    assert first.close_code == 1000  # a clean close sent by the client
    assert ws.stats.proactive_disconnects >= 1
    assert ws.stats.reactive_disconnects == 0


@pytest.mark.parametrize(
    ("handover", "reason"),
    [(True, DisconnectReason.HANDOVER), (False, DisconnectReason.POLICY)],
    ids=["handover", "break-before-make"],
)
async def test_max_connection_age_beats_the_servers_forced_cut(
    make_connection: Make, handover: bool, reason: DisconnectReason
) -> None:
    """With the server cutting connections at 0.6 s, MaxConnectionAge(0.6, margin=0.3)
    always recycles first: every disconnect is proactive, none is the server's."""
    async with FakeServer(max_age=0.6, max_age_reason="24h limit") as server:
        ws = make_connection(
            server.url,
            should_disconnect=MaxConnectionAge(0.6, margin=0.3),
            handover=handover,
            handover_timeout=0.05,  # the server sends nothing: switch without waiting
        )
        rec = Recorder(ws, "connect", "disconnect")
        await ws.connect()
        await rec.wait_count("connect", 3, timeout=2.5)
        await rec.wait_count("disconnect", 2)
        disconnects = rec.of("disconnect")
        assert {d.reason for d in disconnects} == {reason}
        assert all(d.proactive for d in disconnects)
        assert all(0.3 <= d.uptime < 0.6 for d in disconnects)
        assert ws.stats.reactive_disconnects == 0


# -- request_disconnect / resume ----------------------------------------------------------------


async def test_request_disconnect_reconnect_after(
    server: FakeServer, make_connection: Make
) -> None:
    """request_disconnect(reconnect_after=0.2) pauses (USER, proactive) and the connection
    comes back by itself no sooner than 0.2 s later."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    await ws.connect()
    await server.wait_for_client()

    started = time.monotonic()
    await ws.request_disconnect(reconnect_after=0.2)
    assert state(ws) is State.PAUSED
    await rec.wait_count("connect", 2, timeout=2.0)
    assert time.monotonic() - started >= 0.2

    assert rec.names() == ["connect", "disconnect", "reconnecting", "connect"]
    event = rec.of("disconnect")[0]
    assert event.reason is DisconnectReason.USER
    assert event.proactive is True
    assert rec.of("reconnecting")[0].delay == 0.0
    assert rec.of("connect")[1].is_reconnect is True
    await server.wait_for_client(2)
    assert ws.stats.proactive_disconnects == 1
    assert ws.stats.reactive_disconnects == 0


async def test_request_disconnect_then_resume(server: FakeServer, make_connection: Make) -> None:
    """request_disconnect() with no delay and no policy stays PAUSED (nothing
    reconnects) until resume(); resume() while connected does nothing."""
    clock = Monotonic()
    ws = make_connection(server.url, clock=clock)
    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    await ws.connect()
    await server.wait_for_client()

    await ws.resume()  # not paused: a no-op
    await ws.request_disconnect()
    assert state(ws) is State.PAUSED
    assert rec.names()[:1] == ["connect"]
    with pytest.raises(TimeoutError):  # no second connection within 5 check intervals
        await server.wait_for_client(2, timeout=5 * 20 * MS)
    assert state(ws) is State.PAUSED
    assert server.connections == 1

    await ws.resume()
    await rec.wait_count("connect", 2)
    assert rec.names() == ["connect", "disconnect", "reconnecting", "connect"]
    assert rec.of("disconnect")[0].reason is DisconnectReason.USER
    assert rec.of("reconnecting")[0].reason is DisconnectReason.USER
    assert rec.of("connect")[1].is_reconnect is True
    assert server.connections == 2


async def test_request_disconnect_while_no_connection_is_up(
    server: FakeServer, make_connection: Make
) -> None:
    """request_disconnect() while waiting to reconnect cancels the pending attempt and
    pauses (no second disconnect event); resume() brings the connection back."""
    clock = Monotonic()
    backoff = 0.2
    ws = make_connection(server.url, clock=clock, backoff=wsevents.FixedDelay(delay=backoff))
    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    await ws.connect()
    await server.wait_for_client()
    await server.drop()
    await rec.wait_count("reconnecting", 1)
    assert state(ws) is State.RECONNECTING

    await ws.request_disconnect()
    assert state(ws) is State.PAUSED
    # Past the moment the backoff would have reconnected: no attempt was made.
    with pytest.raises(TimeoutError):
        await server.wait_for_client(2, timeout=backoff + 3 * 20 * MS)
    assert state(ws) is State.PAUSED
    assert server.handshakes == 1

    await ws.resume()
    await rec.wait_count("connect", 2)
    assert rec.names() == ["connect", "disconnect", "reconnecting", "reconnecting", "connect"]
    assert rec.of("disconnect")[0].reason is DisconnectReason.NETWORK_ERROR
    assert rec.of("reconnecting")[1].delay == 0.0
    assert ws.stats.disconnects == 1
    assert ws.stats.proactive_disconnects == 0
    assert ws.stats.reactive_disconnects == 1


async def test_request_disconnect_reconnect_after_while_no_connection_is_up(
    server: FakeServer, make_connection: Make
) -> None:
    """request_disconnect(reconnect_after=...) while waiting to reconnect replaces the
    backoff wait with the requested pause, then reconnects by itself."""
    ws = make_connection(server.url, backoff=wsevents.FixedDelay(delay=30.0))
    rec = Recorder(ws, "connect", "reconnecting")
    await ws.connect()
    await server.wait_for_client()
    await server.drop()
    await rec.wait_count("reconnecting", 1)

    await ws.request_disconnect(reconnect_after=0.1)
    assert state(ws) is State.PAUSED
    await rec.wait_count("connect", 2, timeout=2.0)
    assert rec.of("connect")[1].is_reconnect is True
    assert server.connections == 2


async def test_request_disconnect_before_connect_is_a_no_op(
    server: FakeServer, make_connection: Make
) -> None:
    """request_disconnect() on a connection that was never started does nothing: it stays
    IDLE and connect() still works."""
    ws = make_connection(server.url)
    await ws.request_disconnect()
    assert state(ws) is State.IDLE
    await asyncio.wait_for(ws.connect(), 2)
    assert state(ws) is State.CONNECTED


async def test_request_disconnect_during_the_handshake(make_connection: Make) -> None:
    """request_disconnect(reconnect_after=...) while the opening handshake is in flight
    pauses: the connection being opened is not kept, the pause is honoured, and later
    losses still reconnect."""
    arrived = asyncio.Event()
    gate = asyncio.Event()

    async def hold(_connection: object, _request: object) -> None:
        arrived.set()
        await gate.wait()

    async with FakeServer(process_request=hold) as server:
        ws = make_connection(server.url)
        rec = Recorder(ws, "connect", "disconnect")
        connecting = asyncio.ensure_future(ws.connect())
        await asyncio.wait_for(arrived.wait(), 2)
        assert state(ws) is State.CONNECTING
        await ws.request_disconnect(reconnect_after=0.1)
        assert state(ws) is State.PAUSED
        gate.set()

        await server.wait_for_client()
        await server.all_clients[0].wait_closed(timeout=1.0)  # not kept
        await asyncio.wait_for(connecting, 2)  # the connection after the pause
        assert server.connections == 2
        assert len(rec.of("connect")) == 1
        await server.drop()
        await rec.wait_count("connect", 2, timeout=1.0)


async def test_request_disconnect_during_a_handshake_that_fails(make_connection: Make) -> None:
    """request_disconnect(reconnect_after=...) while an opening handshake is in flight that
    is then refused: the connection stays PAUSED (not RECONNECTING) and comes back once the
    pause is over."""
    arrived = asyncio.Event()
    gate = asyncio.Event()

    async def refuse_first(connection: Any, _request: object) -> Any:
        if not arrived.is_set():
            arrived.set()
            await gate.wait()
            return connection.respond(503, "busy\n")
        return None

    async with FakeServer(process_request=refuse_first) as server:
        ws = make_connection(server.url)
        rec = Recorder(ws, "connect", "reconnecting")
        connecting = asyncio.ensure_future(ws.connect())
        await asyncio.wait_for(arrived.wait(), 2)
        await ws.request_disconnect(reconnect_after=0.1)
        gate.set()
        await asyncio.wait_for(connecting, 1.0)
        assert rec.of("connect")[0].is_reconnect is False
        assert server.connections == 1


# -- failing policies ------------------------------------------------------------------------


class Broken:
    """A policy whose every answer raises the same exception."""

    def __init__(self) -> None:
        self.error = RuntimeError("policy bug")

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        raise self.error

    def should_reconnect(self, ctx: PolicyContext) -> bool:
        raise self.error


async def test_raising_should_disconnect_is_an_error_event(
    server: FakeServer, make_connection: Make
) -> None:
    """A should_disconnect that raises becomes an `error` event (PolicyError, the original
    as __cause__) on every check; the connection stays up and keeps delivering."""
    policy = Broken()
    ws = make_connection(server.url, should_disconnect=policy)
    rec = Recorder(ws, "error", "disconnect", "message:trades")
    await ws.connect()
    await server.wait_for_client()
    await rec.wait_count("error", 2)
    await server.publish("trades", {"n": 1})
    await rec.wait_count("message:trades", 1)

    error = rec.of("error")[0]
    assert isinstance(error, PolicyError)
    assert error.__cause__ is policy.error
    assert "should_disconnect" in str(error)
    assert state(ws) is State.CONNECTED
    assert rec.of("disconnect") == []
    assert ws.stats.disconnects == 0
    assert server.connections == 1


@pytest.mark.parametrize("answer", ["yes", 1, 0.5])
async def test_nonsense_should_disconnect_answer_is_an_error_event(
    server: FakeServer, make_connection: Make, answer: object
) -> None:
    """A should_disconnect answering something other than a bool is a PolicyError event;
    the connection stays up."""
    ws = make_connection(server.url, should_disconnect=lambda ctx: answer)
    rec = Recorder(ws, "error", "disconnect")
    await ws.connect()
    await rec.wait_count("error", 1)
    assert isinstance(rec.of("error")[0], PolicyError)
    assert state(ws) is State.CONNECTED
    assert rec.of("disconnect") == []


async def test_raising_should_reconnect_keeps_the_pause(
    server: FakeServer, make_connection: Make
) -> None:
    """A should_reconnect that raises while paused is an `error` event; the connection
    stays PAUSED and resume() still brings it back."""
    policy = Broken()
    ws = make_connection(server.url, should_reconnect=policy)
    rec = Recorder(ws, "error", "connect")
    await ws.connect()
    await ws.request_disconnect()
    await rec.wait_count("error", 2)
    error = rec.of("error")[0]
    assert isinstance(error, PolicyError)
    assert error.__cause__ is policy.error
    assert "should_reconnect" in str(error)
    assert state(ws) is State.PAUSED

    await ws.resume()
    await rec.wait_count("connect", 2)
    assert state(ws) is State.CONNECTED


# -- plain callables -----------------------------------------------------------------------------


async def test_callables_taking_the_context(server: FakeServer, make_connection: Make) -> None:
    """Plain functions of the context work as both policies; the context they get is
    consistent: wall time from utc_now, uptime while connected, paused_since while paused."""
    clock = WallClock(CLOSE)
    paused: list[PolicyContext] = []

    def back_after_a_moment(ctx: PolicyContext) -> bool:
        paused.append(ctx)
        return ctx.paused_for is not None and ctx.paused_for >= 0.05

    ws = make_connection(
        server.url,
        subscriptions=["trades"],
        utc_now=clock,
        should_disconnect=lambda ctx: (
            ctx.stats.messages_received >= 2 and ctx.stats.disconnects == 0
        ),
        should_reconnect=back_after_a_moment,
    )
    rec = Recorder(ws, "connect", "disconnect", "message:trades")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("trades")
    await server.publish("trades", {"n": 1})
    await server.publish("trades", {"n": 2})
    await rec.wait_count("connect", 2)

    assert rec.names() == ["connect", "message:trades", "message:trades", "disconnect", "connect"]
    assert rec.of("disconnect")[0].reason is DisconnectReason.POLICY
    assert paused, "should_reconnect was never asked"
    for ctx in paused:
        assert ctx.now == CLOSE
        assert ctx.state is State.PAUSED
        assert ctx.connected_since is None
        assert ctx.uptime is None
        assert ctx.paused_since is not None
        assert ctx.stats.disconnects == 1
    assert paused[-1].paused_for is not None
    assert paused[-1].paused_for >= 0.05


async def test_zero_argument_callables(server: FakeServer, make_connection: Make) -> None:
    """Zero-argument lambdas are policies too, alone or combined with a built-in (`|`)."""
    monotonic = Monotonic()
    gate = {"drop": False, "back": False}
    ws = make_connection(
        server.url,
        clock=monotonic,
        should_disconnect=MaxConnectionAge("1h") | (lambda: gate["drop"]),
        should_reconnect=lambda: gate["back"],
    )
    rec = Recorder(ws, "connect", "disconnect")
    await ws.connect()

    gate["drop"] = True
    await rec.wait_count("disconnect", 1)
    gate["drop"] = False
    assert rec.of("disconnect")[0].reason is DisconnectReason.POLICY
    await monotonic.wait_ticks_after(time.monotonic())
    assert state(ws) is State.PAUSED  # should_reconnect keeps answering False

    gate["back"] = True
    await rec.wait_count("connect", 2)
    assert state(ws) is State.CONNECTED
    assert server.connections == 2


# -- combinators ----------------------------------------------------------------------------------


async def test_all_of_holds_a_recycle_until_the_window_closes(
    server: FakeServer, make_connection: Make
) -> None:
    """`MaxConnectionAge(0.3) & TimeWindow("09:00", "17:00")`: an old connection is kept
    during trading hours and recycled once they are over."""
    clock = WallClock(datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc))
    policy = Spy(MaxConnectionAge(0.3) & TimeWindow("09:00", "17:00"))
    ws = make_connection(server.url, utc_now=clock, should_disconnect=policy, handover=False)
    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    await ws.connect()

    # Old enough to be recycled, but inside the window: it stays.
    _q, _ctx, answer = await policy.wait_for(
        lambda _q, c, _a: c.uptime is not None and c.uptime >= 0.3
    )
    assert answer is False
    assert rec.of("disconnect") == []

    clock.now = datetime(2024, 3, 4, 17, 0, tzinfo=timezone.utc)  # the window closed
    await rec.wait_count("connect", 2)
    event = rec.of("disconnect")[0]
    assert event.reason is DisconnectReason.POLICY
    assert event.uptime >= 0.3
    assert rec.of("reconnecting")[0].delay == 0.0  # a recycle: straight back
    assert ws.stats.proactive_disconnects >= 1
    assert ws.stats.reactive_disconnects == 0


async def test_not_time_window_is_a_maintenance_window(
    server: FakeServer, make_connection: Make
) -> None:
    """`~TimeWindow("02:00", "02:30")` as both policies: away during the window, back
    as soon as it is over."""
    clock = WallClock(datetime(2024, 3, 4, 1, 59, tzinfo=timezone.utc))
    maintenance = Spy(~TimeWindow("02:00", "02:30"))
    ws = make_connection(
        server.url, utc_now=clock, should_disconnect=maintenance, should_reconnect=maintenance
    )
    rec = Recorder(ws, "connect", "disconnect")
    await ws.connect()
    await maintenance.wait_for(lambda q, _c, a: q == "should_disconnect" and a is False)

    clock.now = datetime(2024, 3, 4, 2, 10, tzinfo=timezone.utc)
    await rec.wait_count("disconnect", 1)
    assert rec.of("disconnect")[0].reason is DisconnectReason.POLICY
    mark = len(maintenance.asked)
    await maintenance.wait_for(lambda q, _c, a: q == "should_reconnect" and a is False, after=mark)
    assert state(ws) is State.PAUSED

    clock.now = datetime(2024, 3, 4, 2, 30, tzinfo=timezone.utc)  # the window excludes its end
    await rec.wait_count("connect", 2)
    assert rec.of("connect")[1].is_reconnect is True
    assert state(ws) is State.CONNECTED
