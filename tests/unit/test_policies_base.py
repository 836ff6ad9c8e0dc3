"""PolicyContext, answer checking, callable adapters, combinators and operators."""

from __future__ import annotations

import inspect
import math
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import attrs
import pytest

from wsevents._stats import Stats
from wsevents.events import State
from wsevents.exceptions import ConfigError, PolicyError
from wsevents.policies import (
    AllOf,
    AnyOf,
    DisconnectPolicy,
    FunctionPolicy,
    MaxConnectionAge,
    Not,
    Policy,
    PolicyContext,
    ReconnectPolicy,
    as_disconnect_policy,
    as_policy,
    as_reconnect_policy,
    evaluate_disconnect,
    evaluate_reconnect,
    parse_duration,
)


NOW = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
CTX = PolicyContext.at(NOW)


@attrs.frozen
class Fixed(Policy):
    """A policy with canned answers."""

    disconnect: object = False
    reconnect: object = False

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """The canned disconnect answer."""
        return self.disconnect  # type: ignore[return-value]

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """The canned reconnect answer."""
        return self.reconnect  # type: ignore[return-value]


class OnlyDisconnect:
    """A foreign policy object (no Policy base) answering one question."""

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """Always True."""
        return True


class OnlyReconnect:
    """A foreign policy object (no Policy base) answering the other question."""

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """Always 7 seconds."""
        return 7.0


# -- durations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1.5h", 5400.0),
        (" 4h ", 14_400.0),
        ("1d", 86_400.0),
        ("1w", 604_800.0),
        (timedelta(minutes=3), 180.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    """Numbers, strings with a unit and timedeltas all become seconds."""
    assert parse_duration(value, key="k") == seconds


@pytest.mark.parametrize("value", ["1M", "4 hours", "h", "-5m", -1, math.inf, math.nan, True, None])
def test_parse_duration_rejects(value: object) -> None:
    """Anything but a finite non-negative duration is a ConfigError naming the key."""
    with pytest.raises(ConfigError) as raised:
        parse_duration(value, key="stay_before")
    assert raised.value.key == "stay_before"
    assert raised.value.value is value or math.isnan(raised.value.value)


def test_parse_duration_month_hint() -> None:
    """A month interval is refused with a hint, not read as minutes."""
    with pytest.raises(ConfigError, match="month"):
        parse_duration("1M", key="interval")


# -- the context -----------------------------------------------------------------


def test_context_at_connected_defaults() -> None:
    """at() derives connected_since from uptime and defaults uptime to 0 when connected."""
    ctx = PolicyContext.at(NOW, uptime=30.0, monotonic=500.0)
    assert ctx.state is State.CONNECTED
    assert ctx.connected_since == 470.0
    assert ctx.uptime == 30.0
    assert PolicyContext.at(NOW).uptime == 0.0
    assert ctx.stats == Stats()


def test_context_at_paused() -> None:
    """A paused context has no uptime and is paused since its monotonic time by default."""
    ctx = PolicyContext.at(NOW, state=State.PAUSED, monotonic=42.0)
    assert ctx.uptime is None
    assert ctx.connected_since is None
    assert ctx.paused_since == 42.0
    assert ctx.paused_for == 0.0


def test_context_idle_for() -> None:
    """idle_for is the time since the last message, None before any message."""
    assert PolicyContext.at(NOW, monotonic=10.0, last_message_at=4.0).idle_for == 6.0
    assert PolicyContext.at(NOW).idle_for is None
    assert PolicyContext.at(NOW).paused_for is None


def test_context_converts_now_to_utc() -> None:
    """An aware now in another zone is converted to UTC."""
    paris = timezone(timedelta(hours=1))
    ctx = PolicyContext.at(datetime(2024, 3, 1, 13, 0, tzinfo=paris))
    assert ctx.now == NOW
    assert ctx.now.utcoffset() == timedelta(0)


def test_context_rejects_naive_now() -> None:
    """A naive datetime is refused: policies need to know it is UTC."""
    with pytest.raises(ConfigError) as raised:
        PolicyContext.at(datetime(2024, 3, 1, 12, 0))
    assert raised.value.key == "now"


def test_context_rejects_non_datetimes() -> None:
    """now must be a datetime, not a timestamp."""
    with pytest.raises(ConfigError) as raised:
        PolicyContext(now=1.0e9, monotonic=0.0, state=State.IDLE)  # type: ignore[arg-type]
    assert raised.value.key == "now"


def test_context_is_frozen() -> None:
    """Policies cannot change what they are told."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        CTX.uptime = 5.0  # type: ignore[misc]


# -- answers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "wait"),
    [
        (True, 0.0),
        (False, None),
        (None, None),
        (0, 0.0),
        (0.0, 0.0),
        (5, 5.0),
        (2.5, 2.5),
        (Fraction(1, 2), 0.5),
    ],
)
def test_evaluate_reconnect(answer: object, wait: float | None) -> None:
    """True is now, False/None is stay, a number is a wait in seconds."""
    result = evaluate_reconnect(answer)
    assert result == wait
    assert result is None or type(result) is float


@pytest.mark.parametrize("answer", [-1, -0.5, math.inf, math.nan, "5", [], object()])
def test_evaluate_reconnect_rejects(answer: object) -> None:
    """Negative, infinite or NaN waits and non-numbers raise PolicyError naming the answer."""
    with pytest.raises(PolicyError, match="should_reconnect") as raised:
        evaluate_reconnect(answer)
    assert repr(answer) in str(raised.value)


def test_evaluate_reconnect_bool_is_not_one_second() -> None:
    """True is checked before int: it means now, not a one-second wait."""
    assert evaluate_reconnect(True) == 0.0


def test_evaluate_reconnect_names_the_policy() -> None:
    """The error names the policy when it is given."""
    with pytest.raises(PolicyError, match="MaxConnectionAge"):
        evaluate_reconnect(-1, policy=MaxConnectionAge(60))


@pytest.mark.parametrize(("answer", "result"), [(True, True), (False, False), (None, False)])
def test_evaluate_disconnect(answer: object, result: bool) -> None:
    """A should_disconnect answer is a bool, None counting as False."""
    assert evaluate_disconnect(answer) is result


@pytest.mark.parametrize("answer", [1, 0, 0.0, 5.0, "yes"])
def test_evaluate_disconnect_rejects(answer: object) -> None:
    """Truthiness is not enough: a number is probably a should_reconnect answer."""
    with pytest.raises(PolicyError, match="should_disconnect"):
        evaluate_disconnect(answer)


# -- adapters ---------------------------------------------------------------------


def test_protocols_are_runtime_checkable() -> None:
    """Any object with the right method satisfies the protocols."""
    assert isinstance(OnlyDisconnect(), DisconnectPolicy)
    assert not isinstance(OnlyDisconnect(), ReconnectPolicy)
    assert isinstance(OnlyReconnect(), ReconnectPolicy)
    assert isinstance(MaxConnectionAge(60), DisconnectPolicy)
    assert isinstance(MaxConnectionAge(60), ReconnectPolicy)


def test_adapters_accept_none() -> None:
    """None stays None: no policy."""
    assert as_disconnect_policy(None) is None
    assert as_reconnect_policy(None) is None


def test_adapters_return_policy_objects_unchanged() -> None:
    """An object with the method is used as is."""
    policy = OnlyDisconnect()
    assert as_disconnect_policy(policy) is policy
    other = OnlyReconnect()
    assert as_reconnect_policy(other) is other


def test_adapters_refuse_the_wrong_kind_of_policy() -> None:
    """A policy object lacking the method is a ConfigError naming the option."""
    with pytest.raises(ConfigError, match="should_disconnect") as raised:
        as_disconnect_policy(OnlyReconnect())
    assert raised.value.key == "should_disconnect"
    with pytest.raises(ConfigError) as raised:
        as_reconnect_policy(OnlyDisconnect(), name="stop_when")
    assert raised.value.key == "stop_when"


def test_callable_with_context() -> None:
    """A one-argument callable is called with the context."""
    seen: list[PolicyContext] = []

    def policy(ctx: PolicyContext) -> bool:
        seen.append(ctx)
        return True

    adapted = as_disconnect_policy(policy)
    assert adapted is not None
    assert adapted.should_disconnect(CTX) is True
    assert seen == [CTX]


def test_callable_without_arguments() -> None:
    """A callable taking nothing is called with nothing."""
    adapted = as_reconnect_policy(lambda: 3)
    assert adapted is not None
    assert adapted.should_reconnect(CTX) == 3.0


@pytest.mark.parametrize(
    "func",
    [
        lambda ctx=None: ctx is not None,
        lambda *args: len(args) == 1,
        lambda ctx, *, extra=1: ctx is not None,
    ],
    ids=["default", "varargs", "keyword-only-default"],
)
def test_callable_signatures_given_the_context(func: object) -> None:
    """Defaults and *args still receive the context."""
    adapted = as_disconnect_policy(func)
    assert adapted is not None
    assert adapted.should_disconnect(CTX) is True


class _Callable:
    """A callable object (not a policy)."""

    def __call__(self, ctx: PolicyContext) -> bool:
        """True when given a context."""
        return isinstance(ctx, PolicyContext)


def test_callable_object() -> None:
    """A callable instance works like a function."""
    adapted = as_disconnect_policy(_Callable())
    assert adapted is not None
    assert adapted.should_disconnect(CTX) is True


async def _async_policy(ctx: PolicyContext) -> bool:
    return True


class _AsyncCallable:
    async def __call__(self, ctx: PolicyContext) -> bool:
        return True


@pytest.mark.parametrize(
    ("obj", "why"),
    [
        (lambda a, b: True, "one argument"),
        (lambda ctx, *, flag: True, "keyword-only"),
        (_async_policy, "async"),
        (_AsyncCallable(), "async"),
        (MaxConnectionAge, "class"),
        (42, "callable"),
        ("candle", "callable"),
    ],
    ids=["two-args", "required-kwonly", "async-def", "async-call", "class", "int", "str"],
)
def test_adapters_refuse(obj: object, why: str) -> None:
    """Unusable callables and non-callables raise ConfigError(name, obj, why)."""
    with pytest.raises(ConfigError, match=why) as raised:
        as_disconnect_policy(obj, name="should_disconnect")
    assert raised.value.key == "should_disconnect"
    assert raised.value.value is obj


def test_signature_inspected_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The callable's signature is read when it is wrapped, never per call."""
    calls = []
    real = inspect.signature

    def counting(obj: object) -> inspect.Signature:
        calls.append(obj)
        return real(obj)  # type: ignore[arg-type]

    monkeypatch.setattr(inspect, "signature", counting)
    adapted = as_disconnect_policy(lambda ctx: False)
    assert adapted is not None
    for _ in range(5):
        adapted.should_disconnect(CTX)
    assert len(calls) == 1


def test_callable_answers_are_checked() -> None:
    """A callable answering nonsense raises PolicyError when asked."""
    adapted = as_disconnect_policy(lambda: 5.0)
    assert adapted is not None
    with pytest.raises(PolicyError):
        adapted.should_disconnect(CTX)
    reconnect = as_reconnect_policy(lambda: -1)
    assert reconnect is not None
    with pytest.raises(PolicyError):
        reconnect.should_reconnect(CTX)


def test_function_policy_normalises_reconnect_answers() -> None:
    """None becomes False and 0 becomes True, so answers keep the documented type."""
    assert FunctionPolicy(lambda: None).should_reconnect(CTX) is False
    assert FunctionPolicy(lambda: 0).should_reconnect(CTX) is True
    assert FunctionPolicy(lambda: 2).should_reconnect(CTX) == 2.0


def test_function_policy_rejects_non_callables() -> None:
    """FunctionPolicy validates its argument."""
    with pytest.raises(ConfigError) as raised:
        FunctionPolicy(3)  # type: ignore[arg-type]
    assert raised.value.key == "func"


def test_as_policy() -> None:
    """as_policy gives foreign objects and callables the operators; Policies pass through."""
    age = MaxConnectionAge(60)
    assert as_policy(age) is age
    foreign = as_policy(OnlyReconnect())
    assert foreign.should_reconnect(CTX) == 7.0  # type: ignore[attr-defined]
    assert isinstance(foreign | age, AnyOf)
    assert isinstance(as_policy(lambda: True), FunctionPolicy)
    with pytest.raises(ConfigError) as raised:
        as_policy(1, name="p")
    assert raised.value.key == "p"
    with pytest.raises(ConfigError, match="one argument"):
        as_policy(lambda a, b: True)


def test_wrapped_foreign_object_is_checked() -> None:
    """A wrapped foreign object still fails the adapter check for a missing method."""
    with pytest.raises(ConfigError):
        as_disconnect_policy(as_policy(OnlyReconnect()))
    with pytest.raises(PolicyError):
        as_policy(OnlyReconnect()).should_disconnect(CTX)  # type: ignore[attr-defined]


# -- combinators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "any_of", "all_of"),
    [
        ([True, True], True, True),
        ([True, False], True, False),
        ([False, False], False, False),
        ([None, True], True, False),
        ([False], False, False),
    ],
)
def test_combinators_disconnect(answers: list[object], any_of: bool, all_of: bool) -> None:
    """AnyOf is or, AllOf is and, for should_disconnect."""
    parts = [Fixed(disconnect=a) for a in answers]
    assert AnyOf(*parts).should_disconnect(CTX) is any_of
    assert AllOf(*parts).should_disconnect(CTX) is all_of


@pytest.mark.parametrize(
    ("answers", "any_of", "all_of"),
    [
        ([True, True], True, True),
        ([True, False], True, False),
        ([False, False], False, False),
        ([False, None], False, False),
        ([False, 5.0, 3.0], 3.0, False),
        ([5.0, 3.0], 3.0, 5.0),
        ([True, 5.0], True, 5.0),
        ([5.0, 0], True, 5.0),
        ([0, 0.0, True], True, True),
        ([4], 4.0, 4.0),
    ],
)
def test_combinators_reconnect(
    answers: list[object], any_of: bool | float, all_of: bool | float
) -> None:
    """AnyOf is the shortest wait (False = never), AllOf the longest."""
    parts = [Fixed(reconnect=a) for a in answers]
    assert AnyOf(*parts).should_reconnect(CTX) == any_of
    assert type(AnyOf(*parts).should_reconnect(CTX)) is type(any_of)
    assert AllOf(*parts).should_reconnect(CTX) == all_of
    assert type(AllOf(*parts).should_reconnect(CTX)) is type(all_of)


@pytest.mark.parametrize(
    ("answer", "negated"),
    [(True, False), (False, True), (None, True), (5.0, True), (0, False), (0.0, False)],
)
def test_not_reconnect(answer: object, negated: bool) -> None:
    """Not negates "reconnect now?": a wait > 0 is "not now", which becomes True."""
    assert Not(Fixed(reconnect=answer)).should_reconnect(CTX) is negated


@pytest.mark.parametrize(("answer", "negated"), [(True, False), (False, True), (None, True)])
def test_not_disconnect(answer: object, negated: bool) -> None:
    """Not negates should_disconnect."""
    assert Not(Fixed(disconnect=answer)).should_disconnect(CTX) is negated


def test_combinators_check_part_answers() -> None:
    """A part answering nonsense raises PolicyError naming the part."""
    with pytest.raises(PolicyError, match="Fixed"):
        AnyOf(Fixed(reconnect=-3)).should_reconnect(CTX)
    with pytest.raises(PolicyError, match="should_disconnect"):
        AllOf(Fixed(disconnect=True), Fixed(disconnect=2)).should_disconnect(CTX)


def test_combinators_ask_missing_method() -> None:
    """Asking a part a question it cannot answer raises PolicyError."""
    with pytest.raises(PolicyError, match="should_reconnect"):
        AnyOf(OnlyDisconnect()).should_reconnect(CTX)
    with pytest.raises(PolicyError, match="should_disconnect"):
        Not(OnlyReconnect()).should_disconnect(CTX)


def test_combinators_accept_callables() -> None:
    """Plain callables are wrapped when used as parts."""
    policy = AnyOf(lambda: False, lambda ctx: ctx.uptime == 0.0)
    assert policy.should_disconnect(CTX) is True
    assert all(isinstance(p, FunctionPolicy) for p in policy.policies)


def test_classes_are_not_policies() -> None:
    """A policy class given where an instance belongs is refused everywhere."""
    with pytest.raises(ConfigError, match="class") as raised:
        AnyOf(MaxConnectionAge(60), MaxConnectionAge)
    assert raised.value.key == "policies[1]"
    with pytest.raises(ConfigError, match="class"):
        as_policy(MaxConnectionAge)
    with pytest.raises(ConfigError, match="class"):
        as_reconnect_policy(MaxConnectionAge)
    with pytest.raises(ConfigError, match="class"):
        MaxConnectionAge(60) | MaxConnectionAge


def test_combinator_construction_errors() -> None:
    """Empty combinators and non-policy parts are ConfigErrors keyed like a config file."""
    with pytest.raises(ConfigError) as raised:
        AnyOf()
    assert raised.value.key == "policies"
    with pytest.raises(ConfigError) as raised:
        AllOf(MaxConnectionAge(60), 5)
    assert raised.value.key == "policies[1]"
    assert raised.value.value == 5
    with pytest.raises(ConfigError) as raised:
        Not("x")
    assert raised.value.key == "policy"


def test_adapter_checks_every_part() -> None:
    """as_*_policy checks each part of a combinator, keyed by its path."""
    nested = AnyOf(MaxConnectionAge(60), AllOf(OnlyDisconnect(), Not(OnlyReconnect())))
    with pytest.raises(ConfigError) as raised:
        as_disconnect_policy(nested)
    assert raised.value.key == "should_disconnect.policies[1].policies[1].of"
    with pytest.raises(ConfigError) as raised:
        as_reconnect_policy(nested)
    assert raised.value.key == "should_reconnect.policies[1].policies[0]"
    assert as_disconnect_policy(AnyOf(OnlyDisconnect(), lambda: True)) is not None


def test_combinators_are_values() -> None:
    """Combinators are frozen, comparable and hashable."""
    age = MaxConnectionAge(60)
    assert AnyOf(age, age) == AnyOf(age, age)
    assert hash(Not(age)) == hash(Not(age))
    other: object = AllOf(age)
    assert AnyOf(age) != other


# -- operators ------------------------------------------------------------------------------


def test_operators_build_combinators() -> None:
    """| is AnyOf, & is AllOf, ~ is Not."""
    a, b = MaxConnectionAge(60), MaxConnectionAge(120)
    assert a | b == AnyOf(a, b)
    assert a & b == AllOf(a, b)
    assert ~a == Not(a)


def test_operators_flatten() -> None:
    """Chains of the same operator give one flat combinator; mixed ones nest."""
    a, b, c = MaxConnectionAge(1), MaxConnectionAge(2), MaxConnectionAge(3)
    assert a | b | c == AnyOf(a, b, c)
    assert a | (b | c) == AnyOf(a, b, c)
    assert a & b & c == AllOf(a, b, c)
    assert (a & b) | c == AnyOf(AllOf(a, b), c)


def test_operators_with_callables_on_either_side() -> None:
    """A plain callable works on the left or the right of an operator."""

    def never() -> bool:
        return False

    a = MaxConnectionAge(60)
    left = never | a
    right = a & never
    assert isinstance(left, AnyOf)
    assert left.policies == (FunctionPolicy(never), a)
    assert isinstance(right, AllOf)
    assert right.policies == (a, FunctionPolicy(never))
    assert isinstance(as_policy(never) | never, AnyOf)
    assert isinstance(~as_policy(never), Not)


def test_operators_with_foreign_objects() -> None:
    """A foreign policy object on the left of | or & works through __ror__ / __rand__."""
    foreign = OnlyDisconnect()
    a = MaxConnectionAge(60)
    assert foreign | a == AnyOf(foreign, a)
    assert foreign & a == AllOf(foreign, a)


def test_operators_refuse_non_policies() -> None:
    """Combining with something that is not a policy is a TypeError, as for any operator."""
    a = MaxConnectionAge(60)
    with pytest.raises(TypeError):
        a | 5
    with pytest.raises(TypeError):
        5 | a
    with pytest.raises(TypeError):
        a & 5
    with pytest.raises(TypeError):
        5 & a


def test_maintenance_window_composition() -> None:
    """Composed policies answer both questions: recycle daily, but not during a close."""
    age = MaxConnectionAge("23h")
    quiet = Fixed(disconnect=True, reconnect=30.0)
    policy = age & quiet
    old = PolicyContext.at(NOW, uptime=23 * 3600)
    young = PolicyContext.at(NOW, uptime=60)
    assert policy.should_disconnect(old) is True
    assert policy.should_disconnect(young) is False
    assert policy.should_reconnect(old) == 30.0
