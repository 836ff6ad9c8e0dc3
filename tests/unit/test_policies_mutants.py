"""Policy plumbing pinned down to the message (written against surviving mutants)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.unit.test_backoff_mutants import config_error
from wsevents import ConfigError, PolicyError, State, Stats
from wsevents.policies import (
    AllOf,
    AnyOf,
    FunctionPolicy,
    Not,
    Policy,
    PolicyContext,
    as_disconnect_policy,
    as_policy,
    as_reconnect_policy,
    evaluate_disconnect,
    evaluate_reconnect,
    parse_duration,
)
from wsevents.policies._base import _ObjectPolicy, _wants_ctx


NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
CTX = PolicyContext.at(NOW)


# -- parse_duration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90", 90.0),
        (" 2 m ", 120.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("3.", 3.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
        ("0", 0.0),
        (7, 7.0),
        (2.5, 2.5),
        (timedelta(minutes=1), 60.0),
        (0, 0.0),
    ],
)
def test_durations(value: Any, seconds: float) -> None:
    assert parse_duration(value, key="k") == seconds


def test_duration_errors() -> None:
    units = "is not a duration: use seconds or '<n>s', '<n>m', '<n>h', '<n>d', '<n>w'"
    config_error(lambda: parse_duration("4x", key="k"), "k", "4x", units)
    config_error(
        lambda: parse_duration("1M", key="k"),
        "k",
        "1M",
        units + " (month candles are not supported)",
    )
    config_error(
        lambda: parse_duration("1M ", key="k"),
        "k",
        "1M ",
        units + " (month candles are not supported)",
    )
    config_error(lambda: parse_duration("-1", key="k"), "k", "-1", units)
    for value in (True, None, [1]):
        config_error(
            lambda v=value: parse_duration(v, key="k"),
            "k",
            value,
            "must be seconds, a timedelta, or a string such as '4h'",
        )
    for value in (-1, float("inf"), float("nan"), timedelta(seconds=-1)):
        config_error(
            lambda v=value: parse_duration(v, key="k"), "k", value, "must be a finite duration >= 0"
        )


# -- the context ----------------------------------------------------------------------


def test_context_needs_an_aware_datetime() -> None:
    config_error(lambda: PolicyContext.at("now"), "now", "now", "must be a datetime")  # type: ignore[arg-type]
    naive = datetime(2026, 1, 1)
    config_error(lambda: PolicyContext.at(naive), "now", naive, "must be timezone-aware (UTC)")
    plus2 = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    ctx = PolicyContext.at(plus2)
    assert ctx.now == datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert ctx.now.tzinfo is timezone.utc


def test_context_at_defaults() -> None:
    ctx = PolicyContext.at(NOW)
    assert (ctx.monotonic, ctx.state, ctx.uptime, ctx.connected_since) == (
        100_000.0,
        State.CONNECTED,
        0.0,
        100_000.0,
    )
    assert (ctx.last_message_at, ctx.paused_since, ctx.stats) == (None, None, Stats())
    ctx = PolicyContext.at(NOW, uptime=5.0, monotonic=50.0, last_message_at=45.0)
    assert (ctx.connected_since, ctx.idle_for, ctx.paused_for) == (45.0, 5.0, None)
    paused = PolicyContext.at(NOW, state=State.PAUSED, monotonic=10.0)
    assert (paused.uptime, paused.connected_since, paused.paused_since) == (None, None, 10.0)
    assert paused.paused_for == 0.0
    paused = PolicyContext.at(NOW, state=State.PAUSED, monotonic=10.0, paused_since=4.0)
    assert paused.paused_for == 6.0
    stats = Stats(messages_received=3)
    assert PolicyContext.at(NOW, stats=stats, state=State.RECONNECTING).stats is stats
    assert PolicyContext.at(NOW, state=State.RECONNECTING).paused_since is None


# -- answers --------------------------------------------------------------------------


def test_evaluate_disconnect() -> None:
    assert evaluate_disconnect(None) is False
    assert evaluate_disconnect(True) is True
    assert evaluate_disconnect(False) is False
    with pytest.raises(PolicyError) as info:
        evaluate_disconnect(1)
    assert str(info.value) == "should_disconnect answered 1: expected True or False"
    with pytest.raises(PolicyError) as info:
        evaluate_disconnect("yes", policy="P")
    assert str(info.value) == "should_disconnect ('P') answered 'yes': expected True or False"


def test_evaluate_reconnect() -> None:
    assert evaluate_reconnect(True) == 0.0
    assert evaluate_reconnect(False) is None
    assert evaluate_reconnect(None) is None
    assert evaluate_reconnect(0) == 0.0
    assert evaluate_reconnect(2) == 2.0
    assert isinstance(evaluate_reconnect(2), float)
    why = "expected True, False, None or a finite number of seconds >= 0"
    for value in (-1, float("inf"), float("nan"), "1"):
        with pytest.raises(PolicyError) as info:
            evaluate_reconnect(value)
        assert str(info.value) == f"should_reconnect answered {value!r}: {why}"
    with pytest.raises(PolicyError) as info:
        evaluate_reconnect(-1, policy="P")
    assert str(info.value) == f"should_reconnect ('P') answered -1: {why}"


# -- plain callables ------------------------------------------------------------------


def test_wants_ctx() -> None:
    assert _wants_ctx(lambda: True) is False
    assert _wants_ctx(lambda ctx: True) is True
    assert _wants_ctx(lambda *args: True) is True
    assert _wants_ctx(lambda ctx=None: True) is True
    assert _wants_ctx(lambda ctx, other=None: True) is True
    assert _wants_ctx(lambda *, flag=1: True) is False
    assert _wants_ctx(lambda ctx, *, flag=1: True) is True
    assert _wants_ctx(lambda **kw: True) is False
    key_why(
        lambda: _wants_ctx(lambda a, b: True),
        "func",
        "must take one argument (the context) or none",
    )
    key_why(
        lambda: _wants_ctx(lambda *, k: True), "func", "has a required keyword-only parameter 'k'"
    )


def key_why(make: Any, key: str, why: str) -> None:
    """``make()`` raises a ConfigError naming ``key``, saying ``why``."""
    with pytest.raises(ConfigError) as info:
        make()
    assert (info.value.key, info.value.why) == (key, why)


def test_wants_ctx_refusals() -> None:
    class Thing:
        def should_disconnect(self, ctx: Any) -> bool:
            return True

    config_error(lambda: _wants_ctx(Thing), "func", Thing, "is a class: pass an instance of it")

    async def coro(ctx: Any) -> bool:
        return True

    config_error(
        lambda: _wants_ctx(coro),
        "func",
        coro,
        "is async: policies are plain, synchronous functions",
    )

    class AsyncCall:
        async def __call__(self, ctx: Any) -> bool:
            return True

    instance = AsyncCall()
    config_error(
        lambda: _wants_ctx(instance),
        "func",
        instance,
        "is async: policies are plain, synchronous functions",
    )


def test_wants_ctx_without_a_signature() -> None:
    class NoSignature:
        __signature__ = "broken"

        def __call__(self, *args: Any) -> bool:
            return True

    assert _wants_ctx(NoSignature()) is True


def test_function_policy() -> None:
    config_error(lambda: FunctionPolicy(3), "func", 3, "is not callable")  # type: ignore[arg-type]
    seen: list[Any] = []
    with_ctx = FunctionPolicy(lambda ctx: seen.append(ctx) or 0)
    assert with_ctx.should_reconnect(CTX) is True
    assert seen == [CTX]
    assert FunctionPolicy(lambda: None).should_reconnect(CTX) is False
    assert FunctionPolicy(lambda: 4).should_reconnect(CTX) == 4.0
    assert FunctionPolicy(lambda: True).should_disconnect(CTX) is True
    assert FunctionPolicy(lambda: None).should_disconnect(CTX) is False
    func = lambda: 2  # noqa: E731
    with pytest.raises(PolicyError) as info:
        FunctionPolicy(func).should_disconnect(CTX)
    assert str(info.value) == f"should_disconnect ({func!r}) answered 2: expected True or False"
    with pytest.raises(PolicyError) as info:
        FunctionPolicy(func := lambda: -2).should_reconnect(CTX)
    assert str(info.value).startswith(f"should_reconnect ({func!r}) answered -2")


# -- adapting -------------------------------------------------------------------------


class Both:
    def __init__(self, disconnect: Any = True, reconnect: Any = True) -> None:
        self.d, self.r = disconnect, reconnect

    def should_disconnect(self, ctx: Any) -> Any:
        return self.d

    def should_reconnect(self, ctx: Any) -> Any:
        return self.r


class OnlyDisconnect:
    def should_disconnect(self, ctx: Any) -> bool:
        return True

    def __repr__(self) -> str:
        return "OnlyDisconnect()"


def test_as_policy() -> None:
    policy = Not(lambda: True)
    assert as_policy(policy) is policy
    both = Both(True, 3)
    wrapped = as_policy(both)
    assert wrapped == _ObjectPolicy(both)
    assert wrapped.should_disconnect(CTX) is True  # type: ignore[attr-defined]
    assert wrapped.should_reconnect(CTX) == 3.0  # type: ignore[attr-defined]
    assert _ObjectPolicy(Both(False, 0)).should_reconnect(CTX) is True
    assert _ObjectPolicy(Both(None, None)).should_reconnect(CTX) is False
    assert _ObjectPolicy(Both(None, None)).should_disconnect(CTX) is False
    func = lambda: True  # noqa: E731
    assert as_policy(func) == FunctionPolicy(func)
    config_error(lambda: as_policy(Both, name="p"), "p", Both, "is a class: pass an instance of it")
    config_error(
        lambda: as_policy(3, name="p"),
        "p",
        3,
        "must be a policy object or a callable taking (ctx) or nothing",
    )
    config_error(
        lambda: as_policy(3),
        "policy",
        3,
        "must be a policy object or a callable taking (ctx) or nothing",
    )


def test_object_policy_missing_method() -> None:
    only = OnlyDisconnect()
    with pytest.raises(PolicyError) as info:
        _ObjectPolicy(only).should_reconnect(CTX)
    assert str(info.value) == "OnlyDisconnect() has no should_reconnect(ctx) method"
    with pytest.raises(PolicyError) as info:
        Not(_Reconnects()).should_disconnect(CTX)
    assert str(info.value) == "_Reconnects() has no should_disconnect(ctx) method"
    config_error(
        lambda: as_reconnect_policy(as_policy(only)),
        "should_reconnect",
        only,
        "has no should_reconnect(ctx) method",
    )


class _Reconnects:
    def should_reconnect(self, ctx: Any) -> bool:
        return True

    def __repr__(self) -> str:
        return "_Reconnects()"


def test_adapt() -> None:
    assert as_disconnect_policy(None) is None
    assert as_reconnect_policy(None) is None
    both = Both()
    assert as_disconnect_policy(both) is both
    config_error(
        lambda: as_disconnect_policy(Both),
        "should_disconnect",
        Both,
        "is a class: pass an instance of it",
    )
    key_why(
        lambda: as_reconnect_policy(OnlyDisconnect(), name="r"),
        "r",
        "has no should_reconnect(ctx) method",
    )
    func = lambda ctx: True  # noqa: E731
    assert as_reconnect_policy(func) == FunctionPolicy(func)
    key_why(
        lambda: as_disconnect_policy(lambda a, b: True, name="d"),
        "d",
        "must take one argument (the context) or none",
    )
    config_error(
        lambda: as_disconnect_policy(3),
        "should_disconnect",
        3,
        "must be None, an object with a should_disconnect(ctx) method, or a callable",
    )
    config_error(
        lambda: as_reconnect_policy("x"),
        "should_reconnect",
        "x",
        "must be None, an object with a should_reconnect(ctx) method, or a callable",
    )
    combined = AnyOf(Both(), OnlyDisconnect())
    key_why(
        lambda: as_reconnect_policy(combined),
        "should_reconnect.policies[1]",
        "has no should_reconnect(ctx) method",
    )
    key_why(
        lambda: as_reconnect_policy(AllOf(Both(), OnlyDisconnect()), name="x"),
        "x.policies[1]",
        "has no should_reconnect(ctx) method",
    )
    key_why(
        lambda: as_reconnect_policy(Not(OnlyDisconnect()), name="x"),
        "x.of",
        "has no should_reconnect(ctx) method",
    )


# -- combinators ----------------------------------------------------------------------


def test_parts() -> None:
    config_error(lambda: AnyOf(), "policies", (), "needs at least one policy")
    config_error(lambda: AllOf(), "policies", (), "needs at least one policy")
    config_error(lambda: AnyOf(Both(), 3), "policies[1]", 3, "is not callable")
    config_error(lambda: Not(3), "policy", 3, "is not callable")  # type: ignore[arg-type]
    func = lambda: True  # noqa: E731
    assert AnyOf(func).policies == (FunctionPolicy(func),)
    both = Both()
    assert AllOf(both).policies == (both,)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ((None, 5, 3), 3.0),
        ((False, 3, 5), 3.0),
        ((4, True), True),
        ((0, 9), True),
        ((None, False), False),
        ((7,), 7.0),
    ],
)
def test_any_of_reconnect(answers: tuple[Any, ...], expected: Any) -> None:
    result = AnyOf(*(Both(reconnect=a) for a in answers)).should_reconnect(CTX)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ((2, 5, 3), 5.0),
        ((True, True), True),
        ((0, 0.0), True),
        ((3, None, 5), False),
        ((3, False), False),
        ((True, 4), 4.0),
    ],
)
def test_all_of_reconnect(answers: tuple[Any, ...], expected: Any) -> None:
    result = AllOf(*(Both(reconnect=a) for a in answers)).should_reconnect(CTX)
    assert result == expected
    assert type(result) is type(expected)


def test_any_all_not_disconnect() -> None:
    assert AnyOf(Both(False), Both(True)).should_disconnect(CTX) is True
    assert AnyOf(Both(False), Both(None)).should_disconnect(CTX) is False
    assert AllOf(Both(True), Both(True)).should_disconnect(CTX) is True
    assert AllOf(Both(True), Both(False)).should_disconnect(CTX) is False
    assert Not(Both(True)).should_disconnect(CTX) is False
    assert Not(Both(reconnect=0)).should_reconnect(CTX) is False
    assert Not(Both(reconnect=3)).should_reconnect(CTX) is True
    assert Not(Both(reconnect=None)).should_reconnect(CTX) is True


def test_operators() -> None:
    a, b, c = Not(Both()), Not(Both(False)), Both()
    func = lambda: True  # noqa: E731
    assert (a | b) == AnyOf(a, b)
    assert ((a | b) | c) == AnyOf(a, b, c)
    assert (c | a) == AnyOf(c, a)
    assert (func | a) == AnyOf(func, a)
    assert (a & b) == AllOf(a, b)
    assert ((a & b) & c) == AllOf(a, b, c)
    assert (c & a) == AllOf(c, a)
    assert (func & a) == AllOf(func, a)
    assert (a & (b & c)) == AllOf(a, b, c)
    assert (a | (b | c)) == AnyOf(a, b, c)
    assert ~a == Not(a)
    for method in ("__or__", "__ror__", "__and__", "__rand__"):
        assert getattr(a, method)(3) is NotImplemented
    with pytest.raises(TypeError):
        a | 3  # type: ignore[operator]
    with pytest.raises(TypeError):
        3 & a  # type: ignore[operator]


def test_policy_check_supports() -> None:
    class OnlyReconnect(Policy):
        def should_reconnect(self, ctx: Any) -> bool:
            return True

    policy = OnlyReconnect()
    config_error(
        lambda: policy._check_supports("should_disconnect", "k"),
        "k",
        policy,
        "has no should_disconnect(ctx) method",
    )
    policy._check_supports("should_reconnect", "k")


# -- second round: survivors of the first mutation run -------------------------------


class Records:
    """A policy that records the context it is asked with."""

    def __init__(self, disconnect: Any = False, reconnect: Any = False) -> None:
        self.d, self.r = disconnect, reconnect
        self.seen: list[Any] = []

    def should_disconnect(self, ctx: Any) -> Any:
        self.seen.append(ctx)
        return self.d

    def should_reconnect(self, ctx: Any) -> Any:
        self.seen.append(ctx)
        return self.r


def test_parts_are_asked_with_the_context() -> None:
    parts = [Records(reconnect=3), Records(reconnect=4)]
    assert AnyOf(*parts).should_reconnect(CTX) == 3.0
    assert AllOf(*parts).should_reconnect(CTX) == 4.0
    wrapped = Records(True, 2)
    assert _ObjectPolicy(wrapped).should_disconnect(CTX) is True
    assert _ObjectPolicy(wrapped).should_reconnect(CTX) == 2.0
    assert [p.seen for p in parts] == [[CTX, CTX], [CTX, CTX]]
    assert wrapped.seen == [CTX, CTX]


def test_any_of_a_one_second_wait() -> None:
    for parts in ([Both(reconnect=1)], [Both(reconnect=1), Both(reconnect=1.0)]):
        wait = AnyOf(*parts).should_reconnect(CTX)
        assert wait == 1.0
        assert type(wait) is float  # not True: a one-second wait is not "now"


def test_bad_answers_name_the_part() -> None:
    part = Both(disconnect=1)
    with pytest.raises(PolicyError) as info:
        AnyOf(part).should_disconnect(CTX)
    assert str(info.value) == f"should_disconnect ({part!r}) answered 1: expected True or False"


def test_aware_datetime_without_an_offset() -> None:
    from datetime import tzinfo

    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta | None:
            return None

    odd = datetime(2026, 1, 1, tzinfo=NoOffset())
    config_error(lambda: PolicyContext.at(odd), "now", odd, "must be timezone-aware (UTC)")


def test_refused_callables_are_the_value() -> None:
    def two(a: Any, b: Any) -> bool:
        return True

    def keyword(*, k: Any) -> bool:
        return True

    config_error(
        lambda: _wants_ctx(two), "func", two, "must take one argument (the context) or none"
    )
    config_error(
        lambda: _wants_ctx(keyword), "func", keyword, "has a required keyword-only parameter 'k'"
    )
    only = OnlyDisconnect()
    config_error(
        lambda: as_reconnect_policy(only, name="r"),
        "r",
        only,
        "has no should_reconnect(ctx) method",
    )
