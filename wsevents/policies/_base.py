"""What a policy is, what it is told, and how policies combine.

A *policy* answers one of two questions, on a timer (``check_interval``):

* ``should_disconnect(ctx) -> bool``: drop the connection now?  (asked while
  connected)
* ``should_reconnect(ctx) -> bool | float``: reconnect now?  ``True`` means
  now, ``False`` means not now (ask again later), a number means "not before
  this many seconds" (asked while paused).

Both are given a frozen :class:`PolicyContext`; a policy never reads a clock,
so every policy is a pure function of its context and can be tested with
chosen instants.  Policies are synchronous and cheap: they run in the
connection's supervisor, not in a task of their own.

Combining policies: ``a | b`` is :class:`AnyOf`, ``a & b`` is :class:`AllOf`
and ``~a`` is :class:`Not`; each works for both questions.  Plain callables
taking ``(ctx)`` or nothing are accepted wherever a policy is
(:func:`as_disconnect_policy`, :func:`as_reconnect_policy`, :func:`as_policy`).
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, cast, final, runtime_checkable

import attrs

from .._stats import Stats
from ..events import State
from ..exceptions import ConfigError, PolicyError


__all__ = [
    "AllOf",
    "AnyOf",
    "DisconnectPolicy",
    "Duration",
    "FunctionPolicy",
    "Not",
    "Policy",
    "PolicyContext",
    "ReconnectPolicy",
    "as_disconnect_policy",
    "as_policy",
    "as_reconnect_policy",
    "evaluate_disconnect",
    "evaluate_reconnect",
    "parse_duration",
]

#: A span of time as the policies accept it: seconds (int or float), a
#: :class:`~datetime.timedelta`, or a string such as ``"90s"``, ``"5m"``, ``"4h"``,
#: ``"1d"``, ``"1w"``.
Duration = int | float | str | timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*")


def parse_duration(value: object, *, key: str) -> float:
    """Seconds in ``value``: a number, a ``timedelta``, or ``"<n><s|m|h|d|w>"``.

    A bare numeric string (``"90"``) is seconds.  Units are lower case because
    exchanges use ``"1M"`` for a month, which is not a fixed span and is refused.

    Args:
        value: the duration.
        key: the option's name, for the error.

    Returns:
        The duration in seconds, finite and >= 0.

    Raises:
        ConfigError: ``value`` is not a duration, or is negative or infinite.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = _DURATION_RE.fullmatch(value)
        if match is None:
            hint = " (month candles are not supported)" if value.strip().endswith("M") else ""
            raise ConfigError(
                key,
                value,
                f"is not a duration: use seconds or '<n>s', '<n>m', '<n>h', '<n>d', '<n>w'{hint}",
            )
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(key, value, "must be seconds, a timedelta, or a string such as '4h'")
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(key, value, "must be a finite duration >= 0")
    return seconds


# -- the context -------------------------------------------------------------------


def _to_utc(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise ConfigError("now", value, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError("now", value, "must be timezone-aware (UTC)")
    return value.astimezone(timezone.utc)


@final
@attrs.frozen(kw_only=True)
class PolicyContext:
    """What a policy is told when it is asked; built by the supervisor on every tick.

    Monotonic times come from the connection's monotonic clock (only their
    differences mean something); ``now`` is wall-clock time, for policies tied
    to the calendar (candle closes, trading hours).
    """

    #: wall-clock time of the tick, timezone-aware and converted to UTC
    now: datetime = attrs.field(converter=_to_utc)
    #: monotonic time of the tick
    monotonic: float
    #: the connection's state when the policy is asked
    state: State
    #: monotonic time the current connection opened, None when not connected
    connected_since: float | None = None
    #: seconds the current connection has been up, None when not connected
    uptime: float | None = None
    #: monotonic time of the last data message (any connection), or None
    last_message_at: float | None = None
    #: monotonic time the connection was paused (proactive disconnect), or None
    paused_since: float | None = None
    #: the connection's counters at the time of the tick
    stats: Stats = attrs.field(factory=Stats)

    @property
    def idle_for(self) -> float | None:
        """Seconds since the last data message, or None if there was none."""
        if self.last_message_at is None:
            return None
        return self.monotonic - self.last_message_at

    @property
    def paused_for(self) -> float | None:
        """Seconds since the connection was paused, or None if it is not paused."""
        if self.paused_since is None:
            return None
        return self.monotonic - self.paused_since

    @classmethod
    def at(
        cls,
        now: datetime,
        *,
        state: State = State.CONNECTED,
        uptime: float | None = None,
        monotonic: float = 100_000.0,
        last_message_at: float | None = None,
        paused_since: float | None = None,
        stats: Stats | None = None,
    ) -> PolicyContext:
        """A context at wall-clock time ``now``, with consistent derived fields.

        Meant for tests and for trying a policy out: ``connected_since`` is
        derived from ``uptime`` (which defaults to 0 when ``state`` is
        CONNECTED), and ``paused_since`` defaults to ``monotonic`` when
        ``state`` is PAUSED.

        Args:
            now: the wall-clock instant (timezone-aware).
            state: the connection's state.
            uptime: seconds the connection has been up.
            monotonic: the monotonic reading that goes with ``now``.
            last_message_at: monotonic time of the last data message.
            paused_since: monotonic time the connection was paused.
            stats: counters; all zero by default.
        """
        if uptime is None and state is State.CONNECTED:
            uptime = 0.0
        if paused_since is None and state is State.PAUSED:
            paused_since = monotonic
        return cls(
            now=now,
            monotonic=monotonic,
            state=state,
            connected_since=None if uptime is None else monotonic - uptime,
            uptime=uptime,
            last_message_at=last_message_at,
            paused_since=paused_since,
            stats=stats if stats is not None else Stats(),
        )


# -- what a policy is --------------------------------------------------------------


@runtime_checkable
class DisconnectPolicy(Protocol):
    """An object that decides when a live connection should be dropped."""

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """True to disconnect now; asked every ``check_interval`` while connected."""
        ...


@runtime_checkable
class ReconnectPolicy(Protocol):
    """An object that decides when a paused connection should come back."""

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """True to reconnect now, False to stay paused, or seconds to wait before reconnecting."""
        ...


def evaluate_disconnect(result: object, *, policy: object = None) -> bool:
    """Check a ``should_disconnect`` answer: a bool (None counts as False).

    Truthiness is not enough on purpose: a number here is almost always a
    ``should_reconnect`` answer given to the wrong question.

    Args:
        result: what the policy answered.
        policy: the policy, named in the error.

    Raises:
        PolicyError: ``result`` is not True, False or None.
    """
    if result is None:
        return False
    if isinstance(result, bool):
        return result
    who = f" ({policy!r})" if policy is not None else ""
    raise PolicyError(f"should_disconnect{who} answered {result!r}: expected True or False")


def evaluate_reconnect(result: object, *, policy: object = None) -> float | None:
    """Normalise a ``should_reconnect`` answer to a wait in seconds.

    Args:
        result: what the policy answered.
        policy: the policy, named in the error.

    Returns:
        ``0.0`` for True (reconnect now), None for False or None (stay
        disconnected and ask again later), or the number of seconds to wait.

    Raises:
        PolicyError: ``result`` is anything else (a negative, infinite or NaN
            number, a string, ...).
    """
    # bool before numbers: True is an int, and means "now", not "1 second".
    if isinstance(result, bool):
        return 0.0 if result else None
    if result is None:
        return None
    if isinstance(result, numbers.Real):
        seconds = float(result)
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    who = f" ({policy!r})" if policy is not None else ""
    raise PolicyError(
        f"should_reconnect{who} answered {result!r}: "
        "expected True, False, None or a finite number of seconds >= 0"
    )


def _as_reconnect_answer(wait: float | None) -> bool | float:
    """The inverse of :func:`evaluate_reconnect` (0 → True, None → False)."""
    if wait is None:
        return False
    return True if wait == 0 else wait


def _ask_disconnect(policy: object, ctx: PolicyContext) -> bool:
    method = getattr(policy, "should_disconnect", None)
    if method is None:
        raise PolicyError(f"{policy!r} has no should_disconnect(ctx) method")
    return evaluate_disconnect(method(ctx), policy=policy)


def _ask_reconnect(policy: object, ctx: PolicyContext) -> float | None:
    method = getattr(policy, "should_reconnect", None)
    if method is None:
        raise PolicyError(f"{policy!r} has no should_reconnect(ctx) method")
    return evaluate_reconnect(method(ctx), policy=policy)


def _require(policy: object, method: str, key: str) -> None:
    """ConfigError unless ``policy`` (and, for combinators, every part) has ``method``."""
    if isinstance(policy, Policy):
        policy._check_supports(method, key)
    elif not callable(getattr(policy, method, None)):
        raise ConfigError(key, policy, f"has no {method}(ctx) method")


def _is_policy_object(obj: object) -> bool:
    # A class has the methods too, unbound: it is a mistake for an instance.
    if isinstance(obj, type):
        return False
    return callable(getattr(obj, "should_disconnect", None)) or callable(
        getattr(obj, "should_reconnect", None)
    )


def _normalise(obj: object, key: str) -> object:
    """A combinator's part: a policy object as is, a plain callable wrapped."""
    if _is_policy_object(obj):
        return obj
    try:
        return FunctionPolicy(obj)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ConfigError(key, obj, exc.why) from None


class Policy:
    """Base class of the built-in policies: adds ``|``, ``&`` and ``~``.

    ``a | b`` is ``AnyOf(a, b)``, ``a & b`` is ``AllOf(a, b)``, ``~a`` is
    ``Not(a)``.  The other operand may be any policy object or a plain callable;
    a foreign policy object (one that does not subclass :class:`Policy`) gets
    the operators through :func:`as_policy`.

    A subclass implements ``should_disconnect``, ``should_reconnect`` or both.
    """

    __slots__ = ()

    def __or__(self, other: object) -> AnyOf:
        if not (_is_policy_object(other) or callable(other)):
            return NotImplemented
        return AnyOf(*_flatten(AnyOf, self), *_flatten(AnyOf, other))

    def __ror__(self, other: object) -> AnyOf:
        if not (_is_policy_object(other) or callable(other)):
            return NotImplemented
        return AnyOf(*_flatten(AnyOf, other), *_flatten(AnyOf, self))

    def __and__(self, other: object) -> AllOf:
        if not (_is_policy_object(other) or callable(other)):
            return NotImplemented
        return AllOf(*_flatten(AllOf, self), *_flatten(AllOf, other))

    def __rand__(self, other: object) -> AllOf:
        if not (_is_policy_object(other) or callable(other)):
            return NotImplemented
        return AllOf(*_flatten(AllOf, other), *_flatten(AllOf, self))

    def __invert__(self) -> Not:
        return Not(self)

    def _check_supports(self, method: str, key: str) -> None:
        """Raise ConfigError(key, ...) unless this policy can answer ``method``."""
        if not callable(getattr(self, method, None)):
            raise ConfigError(key, self, f"has no {method}(ctx) method")


def _flatten(kind: type[AnyOf | AllOf], obj: object) -> tuple[object, ...]:
    # (a | b) | c is AnyOf(a, b, c): same answers, a readable repr.
    if isinstance(obj, kind):
        return obj.policies
    return (obj,)


# -- plain callables ---------------------------------------------------------------


def _wants_ctx(func: Callable[..., object]) -> bool:
    """Whether ``func`` is called with the context (True) or with nothing (False)."""
    if isinstance(func, type):
        raise ConfigError("func", func, "is a class: pass an instance of it")
    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - the bound __call__, not callable()
    ):
        raise ConfigError("func", func, "is async: policies are plain, synchronous functions")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        # Some builtins have no signature; they get the context.
        return True
    required = 0
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            return True
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            if param.default is param.empty:
                required += 1
            else:
                # f(ctx=None) is called with the context
                return True
        elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            raise ConfigError("func", func, f"has a required keyword-only parameter {param.name!r}")
    if required > 1:
        raise ConfigError("func", func, "must take one argument (the context) or none")
    return required == 1


@final
@attrs.frozen
class FunctionPolicy(Policy):
    """A plain callable used as a policy, for either question.

    The callable takes the :class:`PolicyContext` or no argument at all; which
    one is decided once, from its signature, when it is wrapped.  As
    ``should_disconnect`` it must answer a bool (or None); as
    ``should_reconnect`` it may also answer a number of seconds.

    Args:
        func: the callable.

    Raises:
        ConfigError: ``func`` is not callable, is async, is a class, or needs
            more than one argument.
    """

    func: Callable[..., object] = attrs.field()
    _takes_ctx: bool = attrs.field(init=False, repr=False, eq=False)

    @func.validator
    def _check_func(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        if not callable(value):
            raise ConfigError("func", value, "is not callable")

    @_takes_ctx.default
    def _inspect(self) -> bool:
        return _wants_ctx(self.func)

    def _call(self, ctx: PolicyContext) -> object:
        return self.func(ctx) if self._takes_ctx else self.func()

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """The callable's answer, checked to be a bool.

        Raises:
            PolicyError: the callable answered something other than a bool or None.
        """
        return evaluate_disconnect(self._call(ctx), policy=self.func)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """The callable's answer, checked (see :func:`evaluate_reconnect`).

        Raises:
            PolicyError: the callable answered nonsense.
        """
        return _as_reconnect_answer(evaluate_reconnect(self._call(ctx), policy=self.func))


@final
@attrs.frozen
class _ObjectPolicy(Policy):
    """A foreign policy object given the operators (see :func:`as_policy`)."""

    wrapped: object

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """The wrapped policy's answer."""
        return _ask_disconnect(self.wrapped, ctx)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """The wrapped policy's answer."""
        return _as_reconnect_answer(_ask_reconnect(self.wrapped, ctx))

    def _check_supports(self, method: str, key: str) -> None:
        _require(self.wrapped, method, key)


def as_policy(obj: object, *, name: str = "policy") -> Policy:
    """``obj`` as a :class:`Policy`, so that ``|``, ``&`` and ``~`` work on it.

    Args:
        obj: a :class:`Policy` (returned as is), any object with a
            ``should_disconnect`` or ``should_reconnect`` method, or a plain
            callable taking ``(ctx)`` or nothing.
        name: the option's name, for the error.

    Raises:
        ConfigError: ``obj`` is none of these.
    """
    if isinstance(obj, Policy):
        return obj
    if _is_policy_object(obj):
        return _ObjectPolicy(obj)
    if callable(obj):
        try:
            return FunctionPolicy(obj)
        except ConfigError as exc:
            raise ConfigError(name, obj, exc.why) from None
    raise ConfigError(name, obj, "must be a policy object or a callable taking (ctx) or nothing")


def _adapt(obj: object, method: str, name: str) -> object:
    if obj is None:
        return None
    if isinstance(obj, type):
        raise ConfigError(name, obj, "is a class: pass an instance of it")
    if callable(getattr(obj, method, None)):
        _require(obj, method, name)
        return obj
    if _is_policy_object(obj):
        raise ConfigError(name, obj, f"has no {method}(ctx) method")
    if callable(obj):
        try:
            return FunctionPolicy(obj)
        except ConfigError as exc:
            raise ConfigError(name, obj, exc.why) from None
    raise ConfigError(
        name, obj, f"must be None, an object with a {method}(ctx) method, or a callable"
    )


def as_disconnect_policy(
    obj: object, *, name: str = "should_disconnect"
) -> DisconnectPolicy | None:
    """``obj`` as something with a ``should_disconnect(ctx)`` method, or None.

    Args:
        obj: None, an object with a ``should_disconnect`` method (returned as
            is, after checking every part of a combinator), or a plain callable
            taking ``(ctx)`` or nothing (wrapped in :class:`FunctionPolicy`; its
            signature is inspected once, here).
        name: the option's name, for the error.

    Raises:
        ConfigError: ``obj`` is none of these.
    """
    return cast("DisconnectPolicy | None", _adapt(obj, "should_disconnect", name))


def as_reconnect_policy(obj: object, *, name: str = "should_reconnect") -> ReconnectPolicy | None:
    """``obj`` as something with a ``should_reconnect(ctx)`` method, or None.

    Args:
        obj: None, an object with a ``should_reconnect`` method (returned as
            is, after checking every part of a combinator), or a plain callable
            taking ``(ctx)`` or nothing (wrapped in :class:`FunctionPolicy`; its
            signature is inspected once, here).
        name: the option's name, for the error.

    Raises:
        ConfigError: ``obj`` is none of these.
    """
    return cast("ReconnectPolicy | None", _adapt(obj, "should_reconnect", name))


# -- combinators -------------------------------------------------------------------


def _parts(policies: tuple[object, ...], key: str) -> tuple[object, ...]:
    if not policies:
        raise ConfigError(key, policies, "needs at least one policy")
    return tuple(_normalise(p, f"{key}[{i}]") for i, p in enumerate(policies))


@final
@attrs.frozen(init=False)
class AnyOf(Policy):
    """Yes as soon as one policy says yes (``a | b``).

    * ``should_disconnect``: True if any part answers True.
    * ``should_reconnect``: True if any part answers True (or a wait of 0);
      otherwise the *smallest* wait among the parts that answered a number;
      otherwise False.  In other words: with False read as an infinite wait,
      the answer is the shortest wait.

    Parts are asked in order and the answer may short-circuit, so parts should
    be pure (as every policy should).

    Args:
        *policies: policy objects or plain callables (at least one).

    Raises:
        ConfigError: no policy, or a part is neither a policy nor a callable
            (key ``policies[i]``).
    """

    policies: tuple[object, ...]

    def __init__(self, *policies: object) -> None:
        self.__attrs_init__(_parts(policies, "policies"))

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """True if any part says True."""
        return any(_ask_disconnect(p, ctx) for p in self.policies)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """True if any part says now; else the shortest wait; else False."""
        shortest: float | None = None
        for policy in self.policies:
            wait = _ask_reconnect(policy, ctx)
            if wait == 0:
                return True
            if wait is not None and (shortest is None or wait < shortest):
                shortest = wait
        return _as_reconnect_answer(shortest)

    def _check_supports(self, method: str, key: str) -> None:
        for i, policy in enumerate(self.policies):
            _require(policy, method, f"{key}.policies[{i}]")


@final
@attrs.frozen(init=False)
class AllOf(Policy):
    """Yes only when every policy says yes (``a & b``).

    * ``should_disconnect``: True if every part answers True.
    * ``should_reconnect``: False if any part answers False (or None);
      otherwise the *largest* wait among the parts (True counts as a wait of
      0, so all True gives True).  With False read as an infinite wait, the
      answer is the longest wait.  The supervisor asks again when the wait is
      over, and a part that changed its mind by then still gets its say.

    Parts are asked in order and the answer may short-circuit.

    Args:
        *policies: policy objects or plain callables (at least one).

    Raises:
        ConfigError: no policy, or a part is neither a policy nor a callable
            (key ``policies[i]``).
    """

    policies: tuple[object, ...]

    def __init__(self, *policies: object) -> None:
        self.__attrs_init__(_parts(policies, "policies"))

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """True if every part says True."""
        return all(_ask_disconnect(p, ctx) for p in self.policies)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """False if any part says False; else the longest wait (True if none)."""
        longest = 0.0
        for policy in self.policies:
            wait = _ask_reconnect(policy, ctx)
            if wait is None:
                return False
            longest = max(longest, wait)
        return _as_reconnect_answer(longest)

    def _check_supports(self, method: str, key: str) -> None:
        for i, policy in enumerate(self.policies):
            _require(policy, method, f"{key}.policies[{i}]")


def _not_part(value: object) -> object:
    return _normalise(value, "policy")


@final
@attrs.frozen
class Not(Policy):
    """The opposite answer (``~a``).

    * ``should_disconnect``: ``not`` the part's answer.
    * ``should_reconnect``: the negation of "reconnect *now*?": a part that
      says now (True, or a wait of 0) gives False; a part that says not now
      (False, None, or any wait > 0) gives True.  A wait cannot be negated
      into a wait, so the answer is always a bool.

      This is what makes ``~TimeWindow("02:00", "02:30")`` (a maintenance
      window) work for both questions: disconnect inside the window, reconnect
      as soon as it is over.

    Args:
        policy: a policy object or a plain callable.

    Raises:
        ConfigError: ``policy`` is neither (key ``policy``).
    """

    policy: object = attrs.field(converter=_not_part)

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        """The part's answer, negated."""
        return not _ask_disconnect(self.policy, ctx)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        """False if the part says reconnect now, True otherwise."""
        return _ask_reconnect(self.policy, ctx) != 0

    def _check_supports(self, method: str, key: str) -> None:
        _require(self.policy, method, f"{key}.of")
