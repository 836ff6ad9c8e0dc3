"""The lifecycle supervisor, fed events and times directly: no sockets, no sleeps."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from wsevents import (
    CloseReason,
    ConnectError,
    DisconnectReason,
    ExponentialBackoff,
    FixedDelay,
    HandshakeRejected,
    PolicyError,
    ReconnectExhausted,
    State,
    Stats,
)
from wsevents._supervisor import (
    Disconnect,
    Failure,
    Loss,
    Pause,
    PolicyFailed,
    Retry,
    Stop,
    Supervisor,
    classify_close,
    default_should_retry,
    parse_retry_after,
)
from wsevents.policies import PolicyContext


URL = "ws://example.test/"


def sup(**kwargs: object) -> Supervisor:
    kwargs.setdefault("backoff", FixedDelay(delay=1.0))
    s = Supervisor(**kwargs)  # type: ignore[arg-type]
    s.start()
    return s


def net_failure() -> Failure:
    return Failure(error=ConnectError("refused"))


def status_failure(status: int, retry_after: float | None = None) -> Failure:
    return Failure(
        error=HandshakeRejected(status), kind="status", status=status, retry_after=retry_after
    )


def ctx(s: Supervisor, monotonic: float) -> PolicyContext:
    return PolicyContext(
        now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        monotonic=monotonic,
        state=s.state,
        connected_since=s.connected_at,
        uptime=None if s.connected_at is None else monotonic - s.connected_at,
        last_message_at=None,
        paused_since=s.paused_since,
        stats=Stats(),
    )


class TestAttempts:
    def test_first_connection_payload(self) -> None:
        """The first connect is attempt 1, not a reconnect, with no downtime."""
        s = sup()
        assert s.state is State.CONNECTING
        event = s.connected(10.0, url=URL)
        assert (event.attempt, event.is_reconnect, event.downtime) == (1, False, 0.0)
        assert s.state is State.CONNECTED

    def test_failures_retry_with_backoff_and_count_attempts(self) -> None:
        """Failed attempts are retried with the backoff's delays and numbered."""
        s = sup(backoff=ExponentialBackoff(initial=1, maximum=8, jitter=0))
        delays = []
        for _ in range(5):
            decision = s.connect_failed(0.0, net_failure())
            assert isinstance(decision, Retry)
            delays.append(decision.delay)
            s.attempting()
        assert delays == [1, 2, 4, 8, 8]
        event = s.connected(20.0, url=URL)
        assert event.attempt == 6

    def test_max_attempts_gives_up(self) -> None:
        """The n-th consecutive failure ends in Stop with ReconnectExhausted."""
        s = sup(max_attempts=2)
        assert isinstance(s.connect_failed(0.0, net_failure()), Retry)
        decision = s.connect_failed(1.0, net_failure())
        assert isinstance(decision, Stop)
        assert isinstance(decision.event.error, ReconnectExhausted)
        assert decision.event.error.attempts == 2
        assert s.state is State.CLOSING

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 200, 301])
    def test_client_errors_are_fatal(self, status: int) -> None:
        """4xx (but 408/425/429) and non-101 non-error statuses stop at once."""
        decision = sup().connect_failed(0.0, status_failure(status))
        assert isinstance(decision, Stop)
        assert isinstance(decision.event.error, HandshakeRejected)
        assert str(status) in decision.event.detail
        assert decision.event.reason is CloseReason.REJECTED

    @pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
    def test_transient_statuses_are_retried(self, status: int) -> None:
        """408, 425, 429 and 5xx are retried."""
        assert isinstance(sup().connect_failed(0.0, status_failure(status)), Retry)

    def test_retry_after_is_a_minimum(self) -> None:
        """Retry-After raises the delay above the backoff's, never lowers it."""
        s = sup(backoff=FixedDelay(delay=1.0))
        decision = s.connect_failed(0.0, status_failure(429, retry_after=7.0))
        assert isinstance(decision, Retry)
        assert decision.delay == 7.0
        decision = s.connect_failed(0.0, status_failure(503, retry_after=0.5))
        assert isinstance(decision, Retry)
        assert decision.delay == 1.0

    def test_tls_failure_is_fatal(self) -> None:
        """An untrusted certificate is not retried."""
        decision = sup().connect_failed(0.0, Failure(error=ConnectError("tls"), kind="tls"))
        assert isinstance(decision, Stop)

    def test_user_should_retry_overrides(self) -> None:
        """A should_retry hook decides instead of the default classification."""
        s = sup(should_retry=lambda f: f.status == 401)
        assert isinstance(s.connect_failed(0.0, status_failure(401)), Retry)
        assert isinstance(s.connect_failed(0.0, status_failure(503)), Stop)

    def test_default_should_retry(self) -> None:
        """Network errors and timeouts are retried; invalid handshakes are not."""
        assert default_should_retry(net_failure())
        assert default_should_retry(Failure(error=TimeoutError(), kind="timeout"))
        assert not default_should_retry(Failure(error=ValueError(), kind="invalid"))


class TestLoss:
    def test_drop_reconnects_at_once_after_a_stable_connection(self) -> None:
        """A connection up longer than stable_after restarts the backoff from its first delay."""
        s = sup(backoff=ExponentialBackoff(initial=1, maximum=8, jitter=0), stable_after=30)
        s.connected(0.0, url=URL)
        event, decision = s.lost(100.0, Loss(reason=DisconnectReason.NETWORK_ERROR, code=1006))
        assert event.uptime == 100.0
        assert event.proactive is False
        assert isinstance(decision, Retry)
        assert (decision.event.attempt, decision.delay) == (1, 0.0)
        s.attempting()
        again = s.connected(101.0, url=URL)
        assert again.is_reconnect
        assert again.downtime == 1.0

    def test_flapping_connections_back_off(self) -> None:
        """Connections lost before stable_after keep growing the delay: no storm."""
        s = sup(backoff=ExponentialBackoff(initial=1, maximum=16, jitter=0), stable_after=30)
        now = 0.0
        delays = []
        for _ in range(5):
            s.connected(now, url=URL)
            _, decision = s.lost(now + 0.1, Loss(reason=DisconnectReason.SERVER_CLOSE, code=1011))
            assert isinstance(decision, Retry)
            assert decision.event.attempt == 1
            delays.append(decision.delay)
            s.attempting()
            now += 10
        assert delays == [1, 2, 4, 8, 16]

    def test_1013_waits_server_unavailable_delay(self) -> None:
        """Close code 1013 waits at least server_unavailable_delay."""
        s = sup(server_unavailable_delay=30.0)
        s.connected(0.0, url=URL)
        _, decision = s.lost(100.0, Loss(reason=DisconnectReason.SERVER_CLOSE, code=1013))
        assert isinstance(decision, Retry)
        assert decision.delay == 30.0

    @pytest.mark.parametrize("code", [1000, 1001])
    def test_clean_close_can_stop(self, code: int) -> None:
        """With reconnect_on_clean_close=False a 1000/1001 close stops without error."""
        s = sup(reconnect_on_clean_close=False)
        s.connected(0.0, url=URL)
        _, decision = s.lost(1.0, Loss(reason=DisconnectReason.SERVER_CLOSE, code=code))
        assert isinstance(decision, Stop)
        assert decision.event.error is None

    def test_shutdown_stops(self) -> None:
        """A loss while closing is the end."""
        s = sup()
        s.connected(0.0, url=URL)
        s.closing()
        event, decision = s.lost(1.0, Loss(reason=DisconnectReason.SHUTDOWN, code=1000))
        assert event.proactive
        assert isinstance(decision, Stop)
        s.closed()
        assert s.state is State.CLOSED


class TestProactive:
    def test_user_disconnect_pauses_until_resume(self) -> None:
        """request_disconnect() with no delay pauses until resume()."""
        s = sup()
        s.connected(0.0, url=URL)
        decision = s.request_disconnect(5.0, reconnect_after=None, reason=DisconnectReason.USER)
        assert decision == Disconnect(DisconnectReason.USER)
        event, after = s.lost(5.0, Loss(reason=DisconnectReason.USER, code=1000))
        assert event.proactive
        assert after == Pause(None)
        assert s.state is State.PAUSED
        assert s.tick(ctx(s, 100.0)) is None
        resumed = s.resume(100.0)
        assert isinstance(resumed, Retry)
        assert resumed.delay == 0.0
        assert resumed.event.reason is DisconnectReason.USER

    def test_reconnect_after_resumes_on_tick(self) -> None:
        """request_disconnect(reconnect_after=10) resumes at the first tick past 10 s."""
        s = sup()
        s.connected(0.0, url=URL)
        s.request_disconnect(5.0, reconnect_after=10.0, reason=DisconnectReason.USER)
        _, after = s.lost(5.0, Loss(reason=DisconnectReason.USER))
        assert after == Pause(15.0)
        assert s.wake_at(6.0, 60.0) == 15.0
        assert s.tick(ctx(s, 14.9)) is None
        assert isinstance(s.tick(ctx(s, 15.0)), Retry)

    def test_proactive_disconnect_does_not_grow_backoff(self) -> None:
        """After a failure streak, a proactive disconnect starts a fresh backoff run."""
        s = sup(backoff=ExponentialBackoff(initial=1, maximum=16, jitter=0))
        for _ in range(3):
            s.connect_failed(0.0, net_failure())
            s.attempting()
        s.connected(10.0, url=URL)
        s.request_disconnect(11.0, reconnect_after=None, reason=DisconnectReason.POLICY)
        _, decision = s.lost(11.0, Loss(reason=DisconnectReason.POLICY))
        assert isinstance(decision, Retry)  # no should_reconnect: recycle at once
        assert decision.delay == 0.0

    def test_policy_tick_disconnects_and_reconnect_policy_resumes(self) -> None:
        """should_disconnect fires on a tick; should_reconnect's wait schedules the resume."""
        answers: list[bool | float] = [False, 3.0]
        s = sup(
            should_disconnect=_Disc(lambda c: (c.uptime or 0) >= 60),
            should_reconnect=_Rec(lambda c: answers.pop(0) if answers else True),
        )
        s.connected(0.0, url=URL)
        assert s.tick(ctx(s, 30.0)) is None
        decision = s.tick(ctx(s, 60.0))
        assert decision == Disconnect(DisconnectReason.POLICY)
        _, after = s.lost(60.0, Loss(reason=DisconnectReason.POLICY))
        assert after == Pause(None)
        assert s.tick(ctx(s, 61.0)) is None  # False: stay paused
        assert s.tick(ctx(s, 62.0)) is None  # 3.0: resume at 65
        assert s.resume_at == 65.0
        assert isinstance(s.tick(ctx(s, 65.0)), Retry)

    def test_raising_policy_is_reported_and_state_kept(self) -> None:
        """A policy that raises gives PolicyFailed; the connection stays as it was."""

        def broken(c: PolicyContext) -> bool:
            raise ZeroDivisionError("oops")

        s = sup(should_disconnect=_Disc(broken))
        s.connected(0.0, url=URL)
        decision = s.tick(ctx(s, 1.0))
        assert isinstance(decision, PolicyFailed)
        assert isinstance(decision.error, PolicyError)
        assert isinstance(decision.error.__cause__, ZeroDivisionError)
        assert s.state is State.CONNECTED

    def test_nonsense_answer_is_reported(self) -> None:
        """A should_disconnect answer that is not a bool is a PolicyFailed."""
        s = sup(should_disconnect=_Disc(lambda c: "yes"))  # type: ignore[arg-type,return-value]
        s.connected(0.0, url=URL)
        assert isinstance(s.tick(ctx(s, 1.0)), PolicyFailed)

    def test_request_disconnect_while_reconnecting_pauses(self) -> None:
        """A pending reconnect is cancelled by request_disconnect()."""
        s = sup()
        s.connect_failed(0.0, net_failure())
        decision = s.request_disconnect(1.0, reconnect_after=None, reason=DisconnectReason.USER)
        assert decision == Pause(None)
        assert s.state is State.PAUSED


class TestHelpers:
    def test_parse_retry_after(self) -> None:
        """Retry-After as seconds or HTTP date; garbage is ignored."""
        assert parse_retry_after("120", now_epoch=0) == 120.0
        assert parse_retry_after(None, now_epoch=0) is None
        assert parse_retry_after("soon", now_epoch=0) is None
        epoch = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()
        assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now_epoch=epoch) == 30.0

    def test_classify_close(self) -> None:
        """Close frames map to reasons: server close, protocol error, ping timeout, network."""

        def c(**kw: object) -> Loss:
            base: dict[str, object] = dict(
                rcvd_code=None, rcvd_reason="", sent_code=None, sent_reason="",
                rcvd_then_sent=None, initiated=None,
            )
            base.update(kw)
            return classify_close(**base)  # type: ignore[arg-type]

        assert c(rcvd_code=1000, rcvd_reason="bye", sent_code=1000, rcvd_then_sent=True) == Loss(
            reason=DisconnectReason.SERVER_CLOSE, code=1000, reason_text="bye"
        )
        assert c(rcvd_code=1007, rcvd_then_sent=True).reason is DisconnectReason.PROTOCOL_ERROR
        assert c(sent_code=1009, sent_reason="too big").reason is DisconnectReason.PROTOCOL_ERROR
        ping = c(sent_code=1011, sent_reason="keepalive ping timeout")
        assert ping.reason is DisconnectReason.PING_TIMEOUT
        assert c().reason is DisconnectReason.NETWORK_ERROR
        assert c().code == 1006
        assert c(initiated=DisconnectReason.STALE, sent_code=1000).reason is DisconnectReason.STALE

    def test_jitter_uses_injected_rng(self) -> None:
        """Full jitter draws from the injected RNG: same seed, same delays."""
        a = ExponentialBackoff(rng=random.Random(7))
        b = ExponentialBackoff(rng=random.Random(7))
        assert [a.delay(n) for n in range(1, 8)] == [b.delay(n) for n in range(1, 8)]
        assert all(0 <= a.delay(n) <= 30 for n in range(1, 50))


class _Disc:
    def __init__(self, f: object) -> None:
        self.f = f

    def should_disconnect(self, c: PolicyContext) -> bool:
        return self.f(c)  # type: ignore[operator,no-any-return]


class _Rec:
    def __init__(self, f: object) -> None:
        self.f = f

    def should_reconnect(self, c: PolicyContext) -> bool | float:
        return self.f(c)  # type: ignore[operator,no-any-return]
