"""The supervisor's and the routing module's details that mutation testing found
untested: how an attempt's error is classified, the stop details of an auth
failure, of attempts exhausted and of max_reconnect_attempts=0, the stale and
recycle predicates, and the heartbeat's validation (pure)."""

from __future__ import annotations

from typing import Any

import pytest

import wsevents
from tests.unit.test_supervisor import net_failure, sup
from wsevents import CloseReason, DisconnectReason, State
from wsevents._supervisor import Disconnect, Failure, Loss, Stop, classify_failure
from wsevents._venue import check_callable, check_credential, check_seconds
from wsevents.exceptions import (
    AuthenticationError,
    ConnectError,
    HandshakeRejected,
    ReconnectExhausted,
)
from wsevents.routing import HeartbeatSpec, JsonProtocol, Protocol, sends_credentials


def test_a_rejected_handshake_is_classified_with_its_status_and_retry_after() -> None:
    error = HandshakeRejected(429, headers={"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"})
    failure = classify_failure(error, now_epoch=90.0, close_code=1013)
    assert failure == Failure(
        error=error, kind="status", status=429, retry_after=10.0, close_code=1013
    )
    assert failure.error is error


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("network", "network"), ("timeout", "timeout"), ("tls", "tls"), ("invalid", "invalid"),
     ("auth", "network"), ("weird", "network")],
)
def test_other_errors_keep_their_kind_or_count_as_network(kind: str, expected: str) -> None:
    error = ConnectError("x", kind=kind)
    failure = classify_failure(error, now_epoch=0.0, close_code=4000)
    assert (failure.kind, failure.close_code, failure.status) == (expected, 4000, None)
    assert failure.error is error


def test_an_auth_failure_stops_with_its_detail_and_error() -> None:
    s = sup()
    error = AuthenticationError("bad key")
    result = s.connect_failed(0.0, Failure(error=error, kind="auth"))
    assert isinstance(result, Stop)
    assert result.event.reason is CloseReason.AUTHENTICATION
    assert result.event.detail == "login rejected: bad key"
    assert result.event.error is error


def test_one_attempt_allowed_ends_as_exhausted_not_failed() -> None:
    s = sup(max_attempts=1)
    result = s.connect_failed(0.0, net_failure())
    assert isinstance(result, Stop)
    assert result.event.reason is CloseReason.EXHAUSTED
    assert result.event.detail == "gave up after 1 failed attempts"
    assert isinstance(result.event.error, ReconnectExhausted)


def test_a_loss_without_reconnects_stops_with_its_detail() -> None:
    s = sup(max_attempts=0)
    s.connected(0.0, url="ws://example.test/")
    event, result = s.lost(5.0, Loss(reason=DisconnectReason.NETWORK_ERROR, code=1006))
    assert event.reason is DisconnectReason.NETWORK_ERROR
    assert isinstance(result, Stop)
    assert result.event.reason is CloseReason.NOT_RECONNECTING
    assert result.event.detail == (
        "connection lost (network_error, code 1006); max_reconnect_attempts=0"
    )
    assert result.event.error is None


def test_stale_needs_a_connected_feed_silent_for_stale_after() -> None:
    s = sup()
    assert not s.is_stale(100.0, 0.0, 10.0)  # not connected yet
    s.connected(0.0, url="ws://example.test/")
    assert s.state is State.CONNECTED
    assert s.is_stale(10.0, 0.0, 10.0)  # exactly stale_after
    assert not s.is_stale(9.5, 0.0, 10.0)
    assert not s.is_stale(100.0, None, 10.0)  # nothing received yet
    assert not s.is_stale(100.0, 0.0, None)  # no stale_after
    assert not s.is_stale(12.0, 5.0, 10.0)  # now - last, not now + last


def test_a_recycle_is_a_policy_disconnect_with_handover_and_no_pause() -> None:
    s = sup()
    policy = Disconnect(reason=DisconnectReason.POLICY)
    assert s.is_recycle(policy, handover=True)
    assert not s.is_recycle(policy, handover=False)
    assert not s.is_recycle(Disconnect(reason=DisconnectReason.STALE), handover=True)
    s.paused_since = 1.0
    assert not s.is_recycle(policy, handover=True)
    s.paused_since = None
    s.resume_at = 5.0
    assert not s.is_recycle(policy, handover=True)


def error(**fields: Any) -> tuple[str, Any, str]:
    options: dict[str, Any] = {"interval": 1.0, "frame": "ping", "is_answer": callable}
    options.update(fields)
    with pytest.raises(wsevents.ConfigError) as raised:
        HeartbeatSpec(**options)
    return raised.value.key, raised.value.value, raised.value.why


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "1", None])
def test_a_heartbeat_interval_must_be_a_positive_finite_number(bad: Any) -> None:
    key, value, why = error(interval=bad)
    assert (key, why) == ("heartbeat.interval", "must be a positive number of seconds")
    assert value is bad


def test_the_heartbeats_other_options_name_what_is_wrong() -> None:
    assert error(timeout=0) == ("heartbeat.timeout", 0, "must be a positive number of seconds")
    assert error(is_answer=3) == ("heartbeat.is_answer", 3, "must be callable")
    assert error(frame=3) == (
        "heartbeat.frame", 3, "must be a frame (dict, list, str, bytes) or a callable"
    )
    assert HeartbeatSpec(interval=0.5, frame=lambda: "ping", is_answer=callable).interval == 0.5


def test_sends_credentials_when_a_protocol_logs_in_or_signs() -> None:
    class LogsIn(JsonProtocol):
        def on_open(self, *args: Any, **kwargs: Any) -> Any:
            return super().on_open(*args, **kwargs)

    class Signs(JsonProtocol):
        def prepare_request(self, *args: Any, **kwargs: Any) -> Any:
            return super().prepare_request(*args, **kwargs)

    assert not sends_credentials(JsonProtocol())
    assert sends_credentials(LogsIn())
    assert sends_credentials(Signs())
    assert Protocol.on_open is not LogsIn.on_open


def test_a_failure_not_retried_stops_as_failed_with_its_error() -> None:
    s = sup(max_attempts=0)
    failure = net_failure()
    result = s.connect_failed(0.0, failure)
    assert isinstance(result, Stop)
    assert result.event.reason is CloseReason.FAILED
    assert result.event.detail == "connection failed: refused"
    assert result.event.error is failure.error


def test_a_protocol_without_requests_says_which_one() -> None:
    with pytest.raises(NotImplementedError, match=r"^JsonProtocol does not support requests$"):
        JsonProtocol().prepare_request({"op": "x"}, 1)


def test_a_bad_credential_is_named_and_never_shown() -> None:
    """The venues' credential options: None or a non-empty string; the error names
    the option and shows ``<hidden>``, never the value."""
    check = check_credential("api_secret")
    check(None, None, None)
    check(None, None, "s3cret")
    for bad in ("", 12345, b"s3cret"):
        with pytest.raises(wsevents.ConfigError) as raised:
            check(None, None, bad)
        error = raised.value
        assert (error.key, error.value, error.why) == (
            "api_secret",
            "<hidden>",
            "must be a non-empty string or None",
        )
        assert "s3cret" not in str(error)
        assert "12345" not in str(error)


def test_the_shared_validators_name_the_option_and_the_problem() -> None:
    """``check_seconds`` and ``check_callable`` (the venues' and the heartbeat's
    options), made here: each names its option and the value."""
    check_seconds("login_timeout")(None, None, 2.5)
    check_callable("clock")(None, None, print)
    with pytest.raises(wsevents.ConfigError) as raised:
        check_seconds("login_timeout")(None, None, 0)
    assert (raised.value.key, raised.value.value, raised.value.why) == (
        "login_timeout",
        0,
        "must be a positive number of seconds",
    )
    with pytest.raises(wsevents.ConfigError) as raised:
        check_callable("clock")(None, None, 5)
    assert (raised.value.key, raised.value.value, raised.value.why) == (
        "clock",
        5,
        "must be callable",
    )
