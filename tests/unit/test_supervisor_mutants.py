"""The lifecycle supervisor, pinned down field by field (written against surviving mutants).

Every scenario asserts the decision, its payload and the supervisor's whole
bookkeeping afterwards, so that a changed constant or a dropped assignment shows.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_supervisor import URL, ctx, net_failure, status_failure, sup
from wsevents import (
    Closed,
    CloseReason,
    Connected,
    ConnectError,
    Disconnected,
    DisconnectReason,
    FixedDelay,
    PolicyError,
    ReconnectExhausted,
    Reconnecting,
    State,
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


R = DisconnectReason

FIELDS = (
    "state",
    "attempt",
    "step",
    "failures",
    "ever_connected",
    "connected_at",
    "down_since",
    "paused_since",
    "resume_at",
    "down_reason",
    "last_error",
)


def fields(s: Supervisor, **expected: Any) -> None:
    """Assert the supervisor's bookkeeping: ``expected`` fields, and no others changed
    from the values given (all of FIELDS must be given)."""
    assert set(expected) == set(FIELDS)
    actual = {name: getattr(s, name) for name in FIELDS}
    assert actual == expected
    for name in ("connected_at", "down_since", "paused_since", "resume_at"):
        assert type(actual[name]) is type(expected[name])


def base(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": State.CONNECTING,
        "attempt": 1,
        "step": 1,
        "failures": 0,
        "ever_connected": False,
        "connected_at": None,
        "down_since": None,
        "paused_since": None,
        "resume_at": None,
        "down_reason": R.NETWORK_ERROR,
        "last_error": None,
    }
    values.update(changes)
    return values


def up(now: float = 10.0, **kwargs: Any) -> Supervisor:
    s = sup(**kwargs)
    s.connected(now, url=URL)
    return s


# -- construction -----------------------------------------------------------------


def test_defaults() -> None:
    s = Supervisor(backoff=FixedDelay(delay=1.0))
    assert (s.max_attempts, s.stable_after, s.server_unavailable_delay) == (None, 30.0, 30.0)
    assert s.reconnect_on_clean_close is True
    assert s.should_retry is default_should_retry
    assert (s.should_disconnect, s.should_reconnect) == (None, None)
    fields(s, **base(state=State.IDLE, attempt=0, step=0))


def test_start_only_once() -> None:
    s = sup()
    fields(s, **base())
    with pytest.raises(RuntimeError) as info:
        s.start()
    assert str(info.value) == "cannot start from state CONNECTING"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (State.RECONNECTING, State.CONNECTING),
        (State.PAUSED, State.CONNECTING),
        (State.CONNECTED, State.CONNECTED),
        (State.CLOSING, State.CLOSING),
    ],
)
def test_attempting(before: State, after: State) -> None:
    s = sup()
    s.state = before
    s.attempting()
    assert s.state is after


# -- attempts ---------------------------------------------------------------------


def test_connected_after_failures() -> None:
    s = sup(backoff=FixedDelay(delay=2.0))
    error = ConnectError("refused")
    decision = s.connect_failed(5.0, Failure(error=error))
    assert isinstance(decision, Retry)
    assert decision.event.error is error  # Reconnecting.error is not compared by ==
    assert decision == Retry(
        Reconnecting(attempt=2, delay=2.0, reason=R.NETWORK_ERROR, error=error)
    )
    fields(
        s,
        **base(
            state=State.RECONNECTING,
            attempt=2,
            step=2,
            failures=1,
            down_since=5.0,
            last_error=error,
        ),
    )
    s.connect_failed(6.0, Failure(error=error))
    assert s.down_since == 5.0  # the first failure starts the downtime
    s.attempting()
    event = s.connected(6.5, url=URL)
    assert event == Connected(url=URL, attempt=3, is_reconnect=False, downtime=1.5)
    fields(
        s, **base(state=State.CONNECTED, attempt=3, step=3, ever_connected=True, connected_at=6.5)
    )


def test_downtime_is_never_negative() -> None:
    s = sup()
    s.connect_failed(5.0, net_failure())
    assert s.connected(4.0, url=URL).downtime == 0.0


def test_fatal_failures_stop_with_a_reason() -> None:
    s = sup()
    rejected = status_failure(401)
    assert s.connect_failed(1.0, rejected) == Stop(
        Closed(
            reason=CloseReason.REJECTED,
            error=rejected.error,
            detail="handshake rejected with HTTP 401",
        )
    )
    assert s.state is State.CLOSING
    tls = Failure(error=ConnectError("bad certificate"), kind="tls")
    assert sup().connect_failed(1.0, tls) == Stop(
        Closed(
            reason=CloseReason.FAILED, error=tls.error, detail="connection failed: bad certificate"
        )
    )


def test_exhausted_attempts() -> None:
    s = sup(max_attempts=2)
    first = net_failure()
    assert isinstance(s.connect_failed(1.0, first), Retry)
    last = net_failure()
    decision = s.connect_failed(2.0, last)
    assert isinstance(decision, Stop)
    assert decision.event.reason == "reconnect attempts exhausted"
    error = decision.event.error
    assert isinstance(error, ReconnectExhausted)
    assert (error.attempts, error.last_error, error.__cause__) == (2, last.error, last.error)
    assert s.state is State.CLOSING


def test_retry_after_and_1013_are_minimums() -> None:
    s = sup(backoff=FixedDelay(delay=2.0), server_unavailable_delay=7.0)
    error = ConnectError("x")
    decision = s.connect_failed(0.0, Failure(error=error, retry_after=5.0))
    assert decision == Retry(
        Reconnecting(attempt=2, delay=5.0, reason=R.NETWORK_ERROR, error=error)
    )
    decision = s.connect_failed(0.0, Failure(error=error, retry_after=1.0))
    assert isinstance(decision, Retry)
    assert decision.delay == 2.0
    decision = s.connect_failed(0.0, Failure(error=error, close_code=1013))
    assert decision == Retry(Reconnecting(attempt=4, delay=7.0, reason=R.SERVER_CLOSE, error=error))
    decision = s.connect_failed(0.0, Failure(error=error, close_code=1014))
    assert decision == Retry(Reconnecting(attempt=5, delay=2.0, reason=R.SERVER_CLOSE, error=error))


@pytest.mark.parametrize("delay", [float("inf"), float("nan"), -1.0])
def test_unusable_delays_become_zero(delay: float) -> None:
    class Odd:
        def delay(self, attempt: int) -> float:
            return delay

    decision = sup(backoff=Odd()).connect_failed(0.0, net_failure())
    assert isinstance(decision, Retry)
    assert decision.delay == 0.0


# -- established connections ------------------------------------------------------


def test_lost_payload_and_bookkeeping() -> None:
    s = up(10.0, backoff=FixedDelay(delay=3.0))
    event, decision = s.lost(12.5, Loss(reason=R.SERVER_CLOSE, code=1011, reason_text="oops"))
    assert event == Disconnected(
        reason=R.SERVER_CLOSE, code=1011, reason_text="oops", proactive=False, uptime=2.5
    )
    assert decision == Retry(Reconnecting(attempt=1, delay=3.0, reason=R.SERVER_CLOSE, error=None))
    fields(
        s,
        **base(
            state=State.RECONNECTING,
            attempt=1,
            step=2,
            ever_connected=True,
            down_since=12.5,
            down_reason=R.SERVER_CLOSE,
        ),
    )


def test_lost_without_a_connection_has_no_uptime() -> None:
    s = sup()
    event, _ = s.lost(5.0, Loss(reason=R.NETWORK_ERROR, code=1006))
    assert event.uptime == 0.0
    s = up(10.0)
    event, _ = s.lost(9.0, Loss(reason=R.NETWORK_ERROR))
    assert event.uptime == 0.0


@pytest.mark.parametrize("state", [State.CONNECTED, State.CLOSING, State.CLOSED])
def test_lost_while_closing_stops(state: State) -> None:
    s = up(0.0)
    s.state = state
    reason = R.SHUTDOWN if state is State.CONNECTED else R.NETWORK_ERROR
    event, decision = s.lost(1.0, Loss(reason=reason))
    assert decision == Stop(Closed(reason="close() called"))
    assert s.state is State.CLOSING
    assert event.reason is reason


def test_lost_other_reason_while_connected_does_not_stop() -> None:
    s = up(0.0)
    _, decision = s.lost(1.0, Loss(reason=R.NETWORK_ERROR))
    assert isinstance(decision, Retry)


def test_proactive_loss_starts_a_fresh_run() -> None:
    s = up(0.0, backoff=FixedDelay(delay=3.0))
    s.step, s.failures = 5, 2
    event, decision = s.lost(4.0, Loss(reason=R.POLICY, code=1000))
    assert event.proactive is True
    assert decision == Retry(Reconnecting(attempt=1, delay=0.0, reason=R.POLICY, error=None))
    fields(
        s,
        **base(
            state=State.RECONNECTING,
            attempt=1,
            step=1,
            ever_connected=True,
            down_since=4.0,
            down_reason=R.POLICY,
        ),
    )


def test_proactive_loss_pauses_when_asked() -> None:
    s = up(0.0)
    assert s.request_disconnect(1.0, reconnect_after=5.0, reason=R.USER) == Disconnect(R.USER)
    _, decision = s.lost(2.0, Loss(reason=R.USER))
    assert decision == Pause(6.0)
    fields(
        s,
        **base(
            state=State.PAUSED,
            attempt=0,
            step=0,
            ever_connected=True,
            down_since=2.0,
            paused_since=2.0,
            resume_at=6.0,
            down_reason=R.USER,
        ),
    )


def test_paused_since_alone_pauses() -> None:
    s = up(0.0)
    s.request_disconnect(1.0, reconnect_after=None, reason=R.USER)
    _, decision = s.lost(2.0, Loss(reason=R.USER))
    assert decision == Pause(None)


@pytest.mark.parametrize(("uptime", "step"), [(29.9, 2), (30.0, 1), (31.0, 1)])
def test_stable_after_is_inclusive(uptime: float, step: int) -> None:
    s = up(0.0)
    s.lost(uptime, Loss(reason=R.NETWORK_ERROR))
    assert s.step == step


@pytest.mark.parametrize("code", [1000, 1001])
def test_clean_close_stops_with_the_code_and_reason(code: int) -> None:
    s = up(0.0, reconnect_on_clean_close=False)
    _, decision = s.lost(1.0, Loss(reason=R.SERVER_CLOSE, code=code, reason_text="bye"))
    assert decision == Stop(
        Closed(
            reason=CloseReason.SERVER_CLOSED, detail=f"server closed the connection ({code} bye)"
        )
    )
    assert s.state is State.CLOSING


def test_other_closes_reconnect_even_without_clean_close_reconnects() -> None:
    s = up(0.0, reconnect_on_clean_close=False)
    _, decision = s.lost(1.0, Loss(reason=R.SERVER_CLOSE, code=1011))
    assert isinstance(decision, Retry)
    s = up(0.0, reconnect_on_clean_close=False)
    _, decision = s.lost(1.0, Loss(reason=R.PROTOCOL_ERROR, code=1000))
    assert isinstance(decision, Retry)


def test_1013_loss_waits_at_least_server_unavailable_delay() -> None:
    s = up(0.0, server_unavailable_delay=9.0, backoff=FixedDelay(delay=2.0))
    _, decision = s.lost(1.0, Loss(reason=R.SERVER_CLOSE, code=1013))
    assert isinstance(decision, Retry)
    assert decision.delay == 9.0
    s = up(0.0, server_unavailable_delay=9.0, backoff=FixedDelay(delay=2.0))
    _, decision = s.lost(1.0, Loss(reason=R.SERVER_CLOSE, code=1012))
    assert isinstance(decision, Retry)
    assert decision.delay == 2.0


def test_handed_over() -> None:
    s = up(10.0)
    s.step, s.failures, s.attempt = 4, 2, 3
    s.paused_since, s.resume_at = 11.0, 20.0
    connected, disconnected = s.handed_over(15.5, url="ws://new/")
    assert connected == Connected(url="ws://new/", attempt=1, is_reconnect=True, downtime=0.0)
    assert disconnected == Disconnected(
        reason=R.HANDOVER, code=1000, reason_text="handover", proactive=True, uptime=5.5
    )
    fields(
        s, **base(state=State.CONNECTED, attempt=0, step=0, ever_connected=True, connected_at=15.5)
    )


def test_handed_over_uptime_bounds() -> None:
    s = sup()
    assert s.handed_over(3.0, url=URL)[1].uptime == 0.0
    s = up(10.0)
    assert s.handed_over(9.0, url=URL)[1].uptime == 0.0


# -- proactive control ------------------------------------------------------------


@pytest.mark.parametrize("state", [State.IDLE, State.CLOSING, State.CLOSED])
def test_request_disconnect_ignored(state: State) -> None:
    s = Supervisor(backoff=FixedDelay(delay=1.0))
    s.state = state
    assert s.request_disconnect(1.0, reconnect_after=2.0, reason=R.USER) is None
    assert s.resume_at is None


def test_request_disconnect_while_connected() -> None:
    s = up(0.0)
    assert s.request_disconnect(1.0, reconnect_after=2.0, reason=R.USER) == Disconnect(R.USER)
    fields(
        s,
        **base(
            state=State.CONNECTED,
            ever_connected=True,
            connected_at=0.0,
            paused_since=1.0,
            resume_at=3.0,
        ),
    )


def test_policy_disconnect_is_a_recycle_without_reconnect_policy() -> None:
    s = up(0.0)
    assert s.request_disconnect(1.0, reconnect_after=None, reason=R.POLICY) == Disconnect(R.POLICY)
    assert (s.paused_since, s.resume_at) == (None, None)
    s = up(0.0, should_reconnect=lambda c: True)
    s.request_disconnect(1.0, reconnect_after=None, reason=R.POLICY)
    assert s.paused_since == 1.0
    s = up(0.0)
    s.request_disconnect(1.0, reconnect_after=5.0, reason=R.POLICY)
    assert (s.paused_since, s.resume_at) == (1.0, 6.0)


def test_request_disconnect_while_reconnecting_pauses() -> None:
    s = sup()
    s.connect_failed(1.0, net_failure())
    assert s.request_disconnect(2.0, reconnect_after=4.0, reason=R.USER) == Pause(6.0)
    fields(
        s,
        **base(
            state=State.PAUSED,
            attempt=0,
            step=0,
            failures=0,
            down_since=1.0,
            paused_since=2.0,
            resume_at=6.0,
            last_error=s.last_error,
        ),
    )


def test_resume() -> None:
    s = up(0.0)
    assert s.resume(1.0) is None
    s.request_disconnect(1.0, reconnect_after=9.0, reason=R.USER)
    s.lost(2.0, Loss(reason=R.USER))
    decision = s.resume(3.0)
    assert decision == Retry(Reconnecting(attempt=1, delay=0.0, reason=R.USER, error=None))
    fields(
        s,
        **base(
            state=State.RECONNECTING,
            attempt=1,
            step=1,
            ever_connected=True,
            down_since=2.0,
            down_reason=R.USER,
        ),
    )


# -- policies ---------------------------------------------------------------------


class Answer:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def should_disconnect(self, _ctx: Any) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    should_reconnect = should_disconnect


def test_tick_disconnect_policy() -> None:
    s = up(0.0, should_disconnect=Answer(True))
    s.resume_at = 99.0
    assert s.tick(ctx(s, 5.0)) == Disconnect(R.POLICY)
    assert (s.resume_at, s.paused_since) == (None, None)
    s = up(0.0, should_disconnect=Answer(False))
    assert s.tick(ctx(s, 5.0)) is None


@pytest.mark.parametrize("name", ["should_disconnect", "should_reconnect"])
def test_tick_policy_failures(name: str) -> None:
    cause = ValueError("broken")
    s = up(0.0, **{name: Answer(cause)})
    if name == "should_reconnect":
        s.request_disconnect(1.0, reconnect_after=None, reason=R.USER)
        s.lost(1.0, Loss(reason=R.USER))
    decision = s.tick(ctx(s, 5.0))
    assert isinstance(decision, PolicyFailed)
    assert isinstance(decision.error, PolicyError)
    assert str(decision.error) == f"{name} policy failed: ValueError('broken')"
    assert decision.error.__cause__ is cause


def test_tick_nonsense_disconnect_answer() -> None:
    s = up(0.0, should_disconnect=Answer(1))
    decision = s.tick(ctx(s, 5.0))
    assert isinstance(decision, PolicyFailed)
    assert str(decision.error) == (
        "should_disconnect policy failed: TypeError('answered 1, not True or False')"
    )
    assert s.state is State.CONNECTED


def paused(**kwargs: Any) -> Supervisor:
    s = up(0.0, **kwargs)
    s.request_disconnect(1.0, reconnect_after=None, reason=R.USER)
    s.lost(1.0, Loss(reason=R.USER))
    return s


def test_tick_resumes_at_resume_at() -> None:
    s = paused()
    s.resume_at = 5.0
    assert s.tick(ctx(s, 4.9)) is None
    assert s.tick(ctx(s, 5.0)) == Retry(
        Reconnecting(attempt=1, delay=0.0, reason=R.USER, error=None)
    )


@pytest.mark.parametrize(
    ("answer", "resumes", "resume_at"),
    [
        (True, True, None),
        (0, True, None),
        (0.0, True, None),
        (False, False, None),
        (None, False, None),
        (2.5, False, 7.5),
    ],
)
def test_tick_reconnect_policy(answer: Any, resumes: bool, resume_at: float | None) -> None:
    s = paused(should_reconnect=Answer(answer))
    decision = s.tick(ctx(s, 5.0))
    assert isinstance(decision, Retry) is resumes
    assert s.resume_at == resume_at


def test_tick_ignores_policies_in_other_states() -> None:
    s = sup(should_disconnect=Answer(True), should_reconnect=Answer(True))
    assert s.tick(ctx(s, 1.0)) is None


def test_wake_at() -> None:
    s = up(0.0)
    assert s.wake_at(10.0, 1.0) == 11.0
    s.resume_at = 10.5
    assert s.wake_at(10.0, 1.0) == 10.5
    s.resume_at = 12.0
    assert s.wake_at(10.0, 1.0) == 11.0


def test_closing_and_closed() -> None:
    s = up(0.0)
    s.closing()
    assert s.state is State.CLOSING
    s.closed()
    assert s.state is State.CLOSED
    s.closing()
    assert s.state is State.CLOSED


# -- pure functions ---------------------------------------------------------------


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after(" 7 ", now_epoch=0) == 7.0
    assert parse_retry_after("0", now_epoch=0) == 0.0
    epoch = 1767225600.0  # 2026-01-01T00:00:00Z
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now_epoch=epoch + 0.5) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:01 GMT", now_epoch=epoch + 0.5) == 0.5
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 -0000", now_epoch=epoch) is None
    assert parse_retry_after("", now_epoch=0) is None
    assert parse_retry_after("-5", now_epoch=0) is None


@pytest.mark.parametrize(
    ("failure", "retry"),
    [
        (Failure(error=ConnectError("x")), True),
        (Failure(error=ConnectError("x"), kind="timeout"), True),
        (Failure(error=ConnectError("x"), kind="tls"), False),
        (Failure(error=ConnectError("x"), kind="invalid"), False),
        (Failure(error=ConnectError("x"), kind="invalid", status=503), False),
        (Failure(error=ConnectError("x"), kind="status"), False),
        *[
            (status_failure(s), r)
            for s, r in [
                (408, True),
                (425, True),
                (429, True),
                (500, True),
                (599, True),
                (600, False),
                (499, False),
                (400, False),
                (401, False),
                (404, False),
                (200, False),
            ]
        ],
    ],
)
def test_default_should_retry_table(failure: Failure, retry: bool) -> None:
    assert default_should_retry(failure) is retry


def close(**given: Any) -> Loss:
    args: dict[str, Any] = {
        "rcvd_code": None,
        "rcvd_reason": "",
        "sent_code": None,
        "sent_reason": "",
        "rcvd_then_sent": None,
        "initiated": None,
    }
    args.update(given)
    return classify_close(**args)


@pytest.mark.parametrize(
    ("given", "loss"),
    [
        (
            {"initiated": R.USER, "sent_code": 1000, "sent_reason": "bye", "rcvd_code": 1002},
            Loss(reason=R.USER, code=1000, reason_text="bye"),
        ),
        (
            {"rcvd_code": 1002, "rcvd_reason": "r", "rcvd_then_sent": True, "sent_code": 1002},
            Loss(reason=R.PROTOCOL_ERROR, code=1002, reason_text="r"),
        ),
        (
            {"rcvd_code": 1003, "rcvd_reason": "r"},
            Loss(reason=R.PROTOCOL_ERROR, code=1003, reason_text="r"),
        ),
        (
            {"rcvd_code": 1007, "rcvd_reason": "r"},
            Loss(reason=R.PROTOCOL_ERROR, code=1007, reason_text="r"),
        ),
        (
            {"rcvd_code": 1009, "rcvd_reason": "r"},
            Loss(reason=R.PROTOCOL_ERROR, code=1009, reason_text="r"),
        ),
        ({"rcvd_code": 1004}, Loss(reason=R.SERVER_CLOSE, code=1004)),
        ({"rcvd_code": 1010}, Loss(reason=R.SERVER_CLOSE, code=1010)),
        ({"rcvd_code": 1008}, Loss(reason=R.SERVER_CLOSE, code=1008)),
        # the client closed first: the received code is the server's echo
        (
            {
                "rcvd_code": 1000,
                "sent_code": 1011,
                "sent_reason": "keepalive ping timeout",
                "rcvd_then_sent": False,
            },
            Loss(reason=R.PING_TIMEOUT, code=1011, reason_text="keepalive ping timeout"),
        ),
        (
            {"sent_code": 1011, "sent_reason": "internal"},
            Loss(reason=R.NETWORK_ERROR, code=1006, reason_text="internal"),
        ),
        (
            {"sent_code": 1000, "sent_reason": "ping"},
            Loss(reason=R.NETWORK_ERROR, code=1006, reason_text="ping"),
        ),
        (
            {"sent_code": 1002, "sent_reason": "bad"},
            Loss(reason=R.PROTOCOL_ERROR, code=1002, reason_text="bad"),
        ),
        (
            {"sent_code": 1003, "sent_reason": "bad"},
            Loss(reason=R.PROTOCOL_ERROR, code=1003, reason_text="bad"),
        ),
        (
            {"sent_code": 1007, "sent_reason": "bad"},
            Loss(reason=R.PROTOCOL_ERROR, code=1007, reason_text="bad"),
        ),
        (
            {"sent_code": 1009, "sent_reason": "bad"},
            Loss(reason=R.PROTOCOL_ERROR, code=1009, reason_text="bad"),
        ),
        ({"sent_code": 1004}, Loss(reason=R.NETWORK_ERROR, code=1006)),
        ({"sent_code": 1008}, Loss(reason=R.NETWORK_ERROR, code=1006)),
        ({"sent_code": 1010}, Loss(reason=R.NETWORK_ERROR, code=1006)),
        ({}, Loss(reason=R.NETWORK_ERROR, code=1006, reason_text="")),
    ],
)
def test_classify_close_table(given: dict[str, Any], loss: Loss) -> None:
    got = close(**given)
    assert got == loss
    assert (got.code, got.reason_text) == (loss.code, loss.reason_text)


def test_resume_while_reconnecting_continues_the_count() -> None:
    s = sup(backoff=FixedDelay(delay=2.0))
    s.connect_failed(1.0, net_failure())
    s.connect_failed(2.0, net_failure())
    assert (s.attempt, s.step) == (3, 3)
    decision = s.resume(2.5)
    assert decision == Retry(Reconnecting(attempt=4, delay=0.0, reason=R.NETWORK_ERROR, error=None))
    assert (s.attempt, s.step) == (4, 4)


def test_small_delays_are_kept() -> None:
    decision = sup(backoff=FixedDelay(delay=0.5)).connect_failed(0.0, net_failure())
    assert isinstance(decision, Retry)
    assert decision.delay == 0.5


def test_reconnect_policy_gets_the_context_and_short_waits() -> None:
    seen: list[Any] = []

    class Records:
        def should_reconnect(self, ctx: Any) -> float:
            seen.append(ctx)
            return 0.5

    s = paused(should_reconnect=Records())
    context = ctx(s, 5.0)
    assert s.tick(context) is None
    assert seen == [context]
    assert s.resume_at == 5.5
