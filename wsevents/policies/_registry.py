"""Policies by name: the built-ins, and third-party ones found through entry points.

A distribution makes a policy available to configuration files by declaring
an entry point in the ``wsevents.policies`` group::

    [project.entry-points."wsevents.policies"]
    market_hours = "mypackage.policies:MarketHours"

after which ``{"policy": "market_hours", ...}`` builds it: the other keys of
the table are the keyword arguments of the class (or factory function).
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

from ..exceptions import ConfigError
from ._base import AllOf, AnyOf, Not, as_disconnect_policy, as_reconnect_policy
from .age import MaxConnectionAge
from .candle import CandleAware
from .window import TimeWindow


__all__ = [
    "BUILTIN_POLICIES",
    "ENTRY_POINT_GROUP",
    "available",
    "from_config",
    "load",
]

#: The entry-point group scanned for policies.
ENTRY_POINT_GROUP: Final = "wsevents.policies"

#: The built-in policies by name.  They are also declared as entry points in
#: wsevents' own metadata, but resolved from here first, so they work from a
#: source checkout and cannot be shadowed by another distribution.
BUILTIN_POLICIES: Final[Mapping[str, Callable[..., object]]] = MappingProxyType(
    {
        "candle": CandleAware,
        "max_age": MaxConnectionAge,
        "time_window": TimeWindow,
        "any_of": AnyOf,
        "all_of": AllOf,
        "not": Not,
    }
)


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    # entry_points(group=...) is the selection API, available since 3.10.
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        # A distribution seen twice on sys.path: the first one wins, as for imports.
        found.setdefault(entry_point.name, entry_point)
    return found


def available() -> list[str]:
    """The names :func:`load` knows: the built-ins and every installed entry point, sorted."""
    return sorted(set(BUILTIN_POLICIES) | set(_entry_points()))


def load(name: str, *, key: str = "policy") -> Callable[..., object]:
    """The policy class (or factory) registered under ``name``.

    Entry points are imported only when asked for, so a broken plugin affects
    only the configurations that name it.

    Args:
        name: a built-in name (``candle``, ``max_age``, ``time_window``,
            ``any_of``, ``all_of``, ``not``) or an entry point's name in the
            ``wsevents.policies`` group.
        key: the option's name, for the error.

    Raises:
        ConfigError: the name is unknown (the error lists the available
            names), or the entry point cannot be imported or is not callable.
    """
    if not isinstance(name, str):
        raise ConfigError(key, name, "must be a policy name")
    if name in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[name]
    entry_point = _entry_points().get(name)
    if entry_point is None:
        raise ConfigError(key, name, f"unknown policy; available: {', '.join(available())}")
    try:
        factory = entry_point.load()
    except Exception as exc:
        raise ConfigError(
            key, name, f"entry point {entry_point.value!r} could not be loaded: {exc!r}"
        ) from exc
    if not callable(factory):
        raise ConfigError(key, name, f"entry point {entry_point.value!r} is not callable")
    return factory  # type: ignore[no-any-return]


def _call_with_options(
    factory: Callable[..., object], options: Mapping[str, object], *, key: str, what: str
) -> object:
    """``factory(**options)``, every failure a ConfigError keyed ``key.<option>``.

    Unknown and missing options are found from the signature before the call;
    a ConfigError raised by the factory is re-keyed under ``key`` (its value
    replaced by the option as written, when it names one); any other
    TypeError or ValueError becomes a ConfigError on ``key``.
    """
    try:
        signature: inspect.Signature | None = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        params = signature.parameters.values()
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        accepted = [p.name for p in params if p.kind in named]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            for option, value in options.items():
                if option not in accepted:
                    raise ConfigError(
                        f"{key}.{option}",
                        value,
                        f"unknown option for {what}; accepted: {', '.join(accepted) or 'none'}",
                    )
        for param in params:
            if param.kind in named and param.default is param.empty and param.name not in options:
                raise ConfigError(f"{key}.{param.name}", None, f"is required by {what}")
    try:
        return factory(**options)
    except ConfigError as exc:
        if exc.key.startswith(f"{key}."):
            raise
        value = options.get(exc.key, exc.value)
        raise ConfigError(f"{key}.{exc.key}", value, exc.why) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, dict(options), f"{what} rejected its options: {exc}") from exc


def _only(options: Mapping[str, object], allowed: str, *, key: str, name: str) -> None:
    for option, value in options.items():
        if option != allowed:
            raise ConfigError(
                f"{key}.{option}", value, f"unknown option for policy {name!r}; accepted: {allowed}"
            )
    if allowed not in options:
        raise ConfigError(f"{key}.{allowed}", None, f"is required by policy {name!r}")


def _build(config: object, key: str) -> object:
    if isinstance(config, str):
        config = {"policy": config}
    if not isinstance(config, Mapping):
        raise ConfigError(
            key, config, "must be a table such as {policy = 'candle', interval = '4h'}"
        )
    name = config.get("policy")
    if name is None:
        raise ConfigError(
            f"{key}.policy", None, f"is missing: name a policy ({', '.join(available())})"
        )
    if not isinstance(name, str):
        raise ConfigError(f"{key}.policy", name, "must be a policy name")
    factory = load(name, key=f"{key}.policy")
    options = {str(k): v for k, v in config.items() if k != "policy"}
    if factory is AnyOf or factory is AllOf:
        _only(options, "policies", key=key, name=name)
        parts = options["policies"]
        if isinstance(parts, (str, bytes, Mapping)) or not isinstance(parts, Sequence) or not parts:
            raise ConfigError(f"{key}.policies", parts, "must be a non-empty list of policy tables")
        return factory(*(_build(part, f"{key}.policies[{i}]") for i, part in enumerate(parts)))
    if factory is Not:
        # "policy" names the policy, so the negated one goes under "of".
        _only(options, "of", key=key, name=name)
        return Not(_build(options["of"], f"{key}.of"))
    return _call_with_options(factory, options, key=key, what=f"policy {name!r}")


def from_config(config: object, *, key: str = "should_disconnect") -> object:
    """Build a policy from a configuration table.

    ``{"policy": "candle", "interval": "4h", "stay_before": 60}`` calls
    ``CandleAware(interval="4h", stay_before=60)``; a bare string is a policy
    with no options.  Combinators nest::

        {"policy": "any_of", "policies": [{"policy": "max_age", "max_age": "23h"},
                                          {"policy": "time_window", "start": "21:00",
                                           "end": "21:05"}]}
        {"policy": "not", "of": {"policy": "time_window", "start": "02:00", "end": "02:30"}}

    Args:
        config: the table (any mapping), or a policy name.
        key: where the table sits in the configuration; every error is keyed
            by a dotted path below it (``should_disconnect.policies[1].max_age``).
            When it ends in ``should_disconnect`` or ``should_reconnect``, the
            policy (every part of a combinator) must answer that question.

    Returns:
        The policy object, as built by its class or factory.

    Raises:
        ConfigError: an unknown policy name, an unknown or missing option, or a
            value the policy rejects; ``key`` is the dotted path and ``value``
            the bad value.
    """
    policy = _build(config, key)
    method = key.rpartition(".")[2]
    if method == "should_disconnect":
        return as_disconnect_policy(policy, name=key)
    if method == "should_reconnect":
        return as_reconnect_policy(policy, name=key)
    return policy
