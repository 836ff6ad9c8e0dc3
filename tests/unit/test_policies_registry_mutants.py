"""Policies by name: every error message and key (written against surviving mutants)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_backoff_mutants import config_error
from tests.unit.test_policies_registry import plugin  # noqa: F401 - a fixture
from wsevents import ConfigError
from wsevents.policies import (
    AnyOf,
    MaxConnectionAge,
    Not,
    TimeWindow,
    available,
    from_config,
    load,
)
from wsevents.policies._registry import _call_with_options


TABLE = "must be a table such as {policy = 'candle', interval = '4h'}"


def test_load_messages() -> None:
    config_error(lambda: load(3, key="k"), "k", 3, "must be a policy name")  # type: ignore[arg-type]
    config_error(lambda: load(None), "policy", None, "must be a policy name")  # type: ignore[arg-type]
    config_error(
        lambda: load("nope", key="k"),
        "k",
        "nope",
        f"unknown policy; available: {', '.join(available())}",
    )


def test_load_plugin_errors(plugin: Path) -> None:  # noqa: F811
    with pytest.raises(ConfigError) as info:
        load("broken", key="k")
    assert (info.value.key, info.value.value) == ("k", "broken")
    assert info.value.why.startswith(
        "entry point 'wsevents_demo_plugin_missing_module:Thing' could not be loaded: "
        "ModuleNotFoundError("
    )
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    config_error(
        lambda: load("not_callable", key="k"),
        "k",
        "not_callable",
        "entry point 'wsevents_demo_plugin:NOT_CALLABLE' is not callable",
    )
    assert load("candle") is not load("myplugin")  # built-ins cannot be shadowed


def test_build_messages() -> None:
    config_error(lambda: from_config(5, key="k"), "k", 5, TABLE)
    config_error(lambda: from_config(["x"]), "should_disconnect", ["x"], TABLE)
    config_error(
        lambda: from_config({"interval": 1}, key="k"),
        "k.policy",
        None,
        f"is missing: name a policy ({', '.join(available())})",
    )
    config_error(
        lambda: from_config({"policy": 5}, key="k"), "k.policy", 5, "must be a policy name"
    )
    config_error(
        lambda: from_config({"policy": "nope"}, key="k"),
        "k.policy",
        "nope",
        f"unknown policy; available: {', '.join(available())}",
    )


def test_options_are_checked() -> None:
    config_error(
        lambda: from_config({"policy": "max_age", "max_age": "1h", "bogus": 1}, key="k"),
        "k.bogus",
        1,
        "unknown option for policy 'max_age'; accepted: max_age, margin",
    )
    config_error(
        lambda: from_config("max_age", key="k"),
        "k.max_age",
        None,
        "is required by policy 'max_age'",
    )
    config_error(
        lambda: from_config({"policy": "max_age", "max_age": 0}, key="k"),
        "k.max_age",
        0,
        "must be a positive duration",
    )
    config_error(
        lambda: from_config({"policy": "max_age", "max_age": "1h", "margin": "2h"}, key="k"),
        "k.margin",
        "2h",
        "must be less than max_age (3600 s)",
    )
    assert from_config({"policy": "max_age", "max_age": "1h"}, key="k") == MaxConnectionAge("1h")


def test_combinator_options() -> None:
    config_error(
        lambda: from_config({"policy": "any_of", "policies": ["x"], "extra": 2}, key="k"),
        "k.extra",
        2,
        "unknown option for policy 'any_of'; accepted: policies",
    )
    config_error(
        lambda: from_config({"policy": "all_of"}, key="k"),
        "k.policies",
        None,
        "is required by policy 'all_of'",
    )
    config_error(
        lambda: from_config({"policy": "not"}, key="k"), "k.of", None, "is required by policy 'not'"
    )
    for parts in ("max_age", b"x", {"policy": "x"}, [], 5):
        config_error(
            lambda p=parts: from_config({"policy": "any_of", "policies": p}, key="k"),
            "k.policies",
            parts,
            "must be a non-empty list of policy tables",
        )
    config_error(
        lambda: from_config({"policy": "any_of", "policies": ["max_age"]}, key="k"),
        "k.policies[0].max_age",
        None,
        "is required by policy 'max_age'",
    )
    config_error(
        lambda: from_config({"policy": "not", "of": 5}, key="k"),
        "k.of",
        5,
        TABLE,
    )
    window = {"policy": "time_window", "start": "02:00", "end": "02:30"}
    assert from_config({"policy": "not", "of": window}, key="k") == Not(
        TimeWindow("02:00", "02:30")
    )
    assert from_config({"policy": "any_of", "policies": [window, window]}) == AnyOf(
        TimeWindow("02:00", "02:30"), TimeWindow("02:00", "02:30")
    )


def test_from_config_checks_the_question(monkeypatch: pytest.MonkeyPatch) -> None:
    class OnlyDisconnect:
        def should_disconnect(self, ctx: Any) -> bool:
            return True

    def factory() -> OnlyDisconnect:
        return OnlyDisconnect()

    import wsevents.policies._registry as registry

    table = dict(registry.BUILTIN_POLICIES)
    table["only"] = factory
    original = registry.BUILTIN_POLICIES
    registry.BUILTIN_POLICIES = table  # type: ignore[misc]
    try:
        assert isinstance(from_config("only"), OnlyDisconnect)
        assert isinstance(from_config("only", key="a.b"), OnlyDisconnect)
        with pytest.raises(ConfigError) as info:
            from_config("only", key="x.should_reconnect")
        assert (info.value.key, info.value.why) == (
            "x.should_reconnect",
            "has no should_reconnect(ctx) method",
        )
    finally:
        registry.BUILTIN_POLICIES = original  # type: ignore[misc]


# -- _call_with_options -------------------------------------------------------------


def test_call_with_options_paths() -> None:
    def none() -> str:
        return "ok"

    config_error(
        lambda: _call_with_options(none, {"a": 1}, key="k", what="W"),
        "k.a",
        1,
        "unknown option for W; accepted: none",
    )
    assert _call_with_options(none, {}, key="k", what="W") == "ok"

    def anything(**options: Any) -> dict[str, Any]:
        return options

    assert _call_with_options(anything, {"a": 1}, key="k", what="W") == {"a": 1}

    def keyed(x: int = 0) -> None:
        raise ConfigError("k.deep", 9, "why")

    with pytest.raises(ConfigError) as info:
        _call_with_options(keyed, {"x": 1}, key="k", what="W")
    assert (info.value.key, info.value.value, info.value.why) == ("k.deep", 9, "why")

    def rekeyed(x: int = 0) -> None:
        raise ConfigError("x", 99, "bad x")

    with pytest.raises(ConfigError) as info:
        _call_with_options(rekeyed, {"x": 1}, key="k", what="W")
    assert (info.value.key, info.value.value, info.value.why) == ("k.x", 1, "bad x")
    assert isinstance(info.value.__cause__, ConfigError)

    def other_key() -> None:
        raise ConfigError("y", 7, "bad y")

    with pytest.raises(ConfigError) as info:
        _call_with_options(other_key, {}, key="k", what="W")
    assert (info.value.key, info.value.value) == ("k.y", 7)

    def plain(x: int = 0) -> None:
        raise ValueError("nope")

    config_error(
        lambda: _call_with_options(plain, {"x": 1}, key="k", what="W"),
        "k",
        {"x": 1},
        "W rejected its options: nope",
    )

    def typed(x: int = 0) -> None:
        raise TypeError("types")

    config_error(
        lambda: _call_with_options(typed, {}, key="k", what="W"),
        "k",
        {},
        "W rejected its options: types",
    )

    class NoSignature:
        __signature__ = "broken"

        def __call__(self, **options: Any) -> Any:
            return sorted(options)

    assert _call_with_options(NoSignature(), {"b": 1, "a": 2}, key="k", what="W") == ["a", "b"]

    def positional_only(a: int, /) -> None:
        return None

    config_error(
        lambda: _call_with_options(positional_only, {"a": 1}, key="k", what="W"),
        "k.a",
        1,
        "unknown option for W; accepted: none",
    )

    def required(a: int, *, b: int) -> tuple[int, int]:
        return a, b

    config_error(
        lambda: _call_with_options(required, {"a": 1}, key="k", what="W"),
        "k.b",
        None,
        "is required by W",
    )
    assert _call_with_options(required, {"a": 1, "b": 2}, key="k", what="W") == (1, 2)


def test_from_config_checks_should_disconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    class OnlyReconnect:
        def should_reconnect(self, ctx: Any) -> bool:
            return True

    import wsevents.policies._registry as registry

    monkeypatch.setattr(
        registry, "BUILTIN_POLICIES", {**registry.BUILTIN_POLICIES, "onlyr": OnlyReconnect}
    )
    assert isinstance(from_config("onlyr", key="x.should_reconnect"), OnlyReconnect)
    for key in ("should_disconnect", "a.should_disconnect"):
        with pytest.raises(ConfigError) as info:
            from_config("onlyr", key=key)
        assert (info.value.key, info.value.why) == (key, "has no should_disconnect(ctx) method")
