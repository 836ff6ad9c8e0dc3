"""Policies by name: built-ins, entry-point plugins, and from_config's error paths."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsevents._fileconfig import load_config, options_from_mapping
from wsevents.exceptions import ConfigError
from wsevents.policies import (
    BUILTIN_POLICIES,
    ENTRY_POINT_GROUP,
    AllOf,
    AnyOf,
    CandleAware,
    MaxConnectionAge,
    Not,
    TimeWindow,
    available,
    from_config,
    load,
)


if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]


ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "wsevents_demo_plugin"


# -- built-ins ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "factory"),
    [
        ("candle", CandleAware),
        ("max_age", MaxConnectionAge),
        ("time_window", TimeWindow),
        ("any_of", AnyOf),
        ("all_of", AllOf),
        ("not", Not),
    ],
)
def test_load_builtins(name: str, factory: object) -> None:
    """Every built-in loads by name, installed or not."""
    assert load(name) is factory
    assert name in available()


def test_pyproject_declares_the_builtins() -> None:
    """The entry points in pyproject.toml are exactly the built-in table."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        project = tomllib.load(file)["project"]
    declared = project["entry-points"][ENTRY_POINT_GROUP]
    assert set(declared) == set(BUILTIN_POLICIES)
    for name, target in declared.items():
        module, _, attribute = target.partition(":")
        imported = __import__(module, fromlist=[attribute])
        assert getattr(imported, attribute) is BUILTIN_POLICIES[name]


def test_load_unknown_lists_available() -> None:
    """An unknown name is a ConfigError listing what is available."""
    with pytest.raises(ConfigError, match=r"available: .*candle.*max_age") as raised:
        load("candel")
    assert raised.value.key == "policy"
    assert raised.value.value == "candel"


def test_load_refuses_non_strings() -> None:
    """A name must be a string."""
    with pytest.raises(ConfigError):
        load(3)  # type: ignore[arg-type]


# -- from_config ---------------------------------------------------------------------------


def test_from_config_builds_a_policy() -> None:
    """The table's other keys are the class's keyword arguments."""
    policy = from_config({"policy": "candle", "interval": "4h", "stay_before": 60})
    assert policy == CandleAware("4h", stay_before=60)


def test_from_config_nested_combinators() -> None:
    """any_of/all_of take a list of tables; not takes one under "of"."""
    config = {
        "policy": "any_of",
        "policies": [
            {"policy": "max_age", "max_age": "23h"},
            {
                "policy": "all_of",
                "policies": [
                    {"policy": "time_window", "start": "21:00", "end": "21:05"},
                    {"policy": "not", "of": {"policy": "candle", "interval": "1h"}},
                ],
            },
        ],
    }
    expected = AnyOf(
        MaxConnectionAge("23h"),
        AllOf(TimeWindow("21:00", "21:05"), Not(CandleAware("1h"))),
    )
    assert from_config(config) == expected
    assert from_config(config, key="should_reconnect") == expected


def test_from_config_bare_name() -> None:
    """A bare string is a policy with no options (here: one that needs some)."""
    with pytest.raises(ConfigError) as raised:
        from_config("max_age")
    assert raised.value.key == "should_disconnect.max_age"


@pytest.mark.parametrize(
    ("config", "key", "value"),
    [
        (["candle"], "should_disconnect", ["candle"]),
        ({"interval": "4h"}, "should_disconnect.policy", None),
        ({"policy": 4}, "should_disconnect.policy", 4),
        ({"policy": "nope"}, "should_disconnect.policy", "nope"),
        ({"policy": "candle"}, "should_disconnect.interval", None),
        ({"policy": "candle", "interval": "4x"}, "should_disconnect.interval", "4x"),
        ({"policy": "candle", "interval": "4h", "stay": 1}, "should_disconnect.stay", 1),
        (
            {"policy": "candle", "interval": "1h", "stay_before": "1h"},
            "should_disconnect.stay_before",
            "1h",
        ),
        ({"policy": "any_of"}, "should_disconnect.policies", None),
        ({"policy": "any_of", "policies": []}, "should_disconnect.policies", []),
        ({"policy": "any_of", "policies": "candle"}, "should_disconnect.policies", "candle"),
        (
            {"policy": "any_of", "policies": [{"policy": "max_age", "max_age": 60}], "x": 1},
            "should_disconnect.x",
            1,
        ),
        (
            {
                "policy": "any_of",
                "policies": [
                    {"policy": "candle", "interval": "4h"},
                    {"policy": "max_age", "max_age": "forever"},
                ],
            },
            "should_disconnect.policies[1].max_age",
            "forever",
        ),
        (
            {"policy": "not", "of": {"policy": "time_window", "start": "9", "end": "10:00"}},
            "should_disconnect.of.start",
            "9",
        ),
        ({"policy": "not"}, "should_disconnect.of", None),
        ({"policy": "not", "policies": []}, "should_disconnect.policies", []),
        (
            {"policy": "all_of", "policies": [{"policy": "time_window", "days": 1}]},
            "should_disconnect.policies[0].start",
            None,
        ),
    ],
)
def test_from_config_error_paths(config: object, key: str, value: object) -> None:
    """Every bad value is a ConfigError keyed by its dotted path, carrying the value as written."""
    with pytest.raises(ConfigError) as raised:
        from_config(config)
    assert raised.value.key == key
    assert raised.value.value == value


def test_from_config_custom_root_key() -> None:
    """The key argument roots the paths."""
    with pytest.raises(ConfigError) as raised:
        from_config({"policy": "max_age", "max_age": -1}, key="wsevents.should_reconnect")
    assert raised.value.key == "wsevents.should_reconnect.max_age"


# -- plugins through entry points ------------------------------------------------------------

PLUGIN_SOURCE = '''
"""A throwaway policy plugin."""

import attrs

from wsevents.policies import Policy


@attrs.frozen
class EveryN(Policy):
    """Disconnect when the received-message count is a multiple of n."""

    n: int = 2

    def should_disconnect(self, ctx):
        """True on every n-th message."""
        return ctx.stats.messages_received % self.n == 0


def picky(level=1):
    """A factory that rejects some values with a plain ValueError."""
    if level > 3:
        raise ValueError("level too high")
    return EveryN(level)


def flexible(**options):
    """A factory taking any keyword: the registry cannot check names for it."""
    return EveryN(len(options) or 1)


NOT_CALLABLE = 42
'''

ENTRY_POINTS = f"""
[{ENTRY_POINT_GROUP}]
myplugin = {PLUGIN}:EveryN
picky = {PLUGIN}:picky
flexible = {PLUGIN}:flexible
dictionary = builtins:dict
not_callable = {PLUGIN}:NOT_CALLABLE
broken = {PLUGIN}_missing_module:Thing
candle = {PLUGIN}:EveryN
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution with wsevents.policies entry points, installed offline on sys.path."""
    (tmp_path / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE)
    dist_info = tmp_path / f"{PLUGIN}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop(PLUGIN, None)


def test_plugin_is_found_by_name(plugin: Path) -> None:
    """An installed entry point loads by name and is listed as available."""
    factory = load("myplugin")
    assert factory.__name__ == "EveryN"
    assert factory.__module__ == PLUGIN
    assert "myplugin" in available()


def test_plugin_from_config_file(plugin: Path) -> None:
    """A config file names the plugin; its options become keyword arguments."""
    path = plugin / "feed.toml"
    path.write_text(
        textwrap.dedent(
            """
            [wsevents]
            url = "wss://example.com/ws"

            [wsevents.should_disconnect]
            policy = "any_of"
            policies = [
                { policy = "myplugin", n = 3 },
                { policy = "max_age", max_age = "23h" },
            ]
            """
        )
    )
    url, options = options_from_mapping(load_config(path))
    assert url == "wss://example.com/ws"
    policy = options["should_disconnect"]
    assert isinstance(policy, AnyOf)
    plugin_policy = policy.policies[0]
    assert type(plugin_policy).__name__ == "EveryN"
    assert plugin_policy.n == 3  # type: ignore[attr-defined]


def test_plugin_option_errors(plugin: Path) -> None:
    """Unknown options and values rejected by a plugin are keyed like built-ins' errors."""
    with pytest.raises(ConfigError) as raised:
        from_config({"policy": "myplugin", "m": 3})
    assert raised.value.key == "should_disconnect.m"
    assert "accepted: n" in raised.value.why
    with pytest.raises(ConfigError, match="level too high") as raised:
        from_config({"policy": "picky", "level": 5})
    assert raised.value.key == "should_disconnect"
    assert raised.value.value == {"level": 5}


def test_plugin_factories_without_named_options(plugin: Path) -> None:
    """Factories taking **options, or without a signature, get the options unchecked."""
    policy = from_config({"policy": "flexible", "a": 1, "b": 2})
    assert policy.n == 2  # type: ignore[attr-defined]
    assert from_config({"policy": "dictionary", "a": 1}, key="extra") == {"a": 1}


def test_plugin_must_answer_the_question(plugin: Path) -> None:
    """A plugin that only answers should_disconnect cannot be a should_reconnect policy."""
    with pytest.raises(ConfigError, match="should_reconnect") as raised:
        from_config({"policy": "myplugin"}, key="should_reconnect")
    assert raised.value.key == "should_reconnect"
    with pytest.raises(ConfigError) as raised:
        from_config(
            {"policy": "any_of", "policies": [{"policy": "max_age", "max_age": 5}, "myplugin"]},
            key="should_reconnect",
        )
    assert raised.value.key == "should_reconnect.policies[1]"


def test_broken_plugins(plugin: Path) -> None:
    """An entry point that cannot be imported, or is not callable, is a ConfigError."""
    with pytest.raises(ConfigError, match="could not be loaded") as raised:
        load("broken")
    assert isinstance(raised.value.__cause__, ImportError)
    with pytest.raises(ConfigError, match="not callable"):
        load("not_callable")
    # one broken plugin does not break the others
    assert load("myplugin").__name__ == "EveryN"


def test_plugin_cannot_shadow_builtins(plugin: Path) -> None:
    """A third-party entry point named like a built-in does not replace it."""
    assert load("candle") is CandleAware
