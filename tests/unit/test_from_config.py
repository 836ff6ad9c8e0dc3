"""Connection.from_config: connections built from a mapping or a TOML file, with their
policies, backoff, protocol and subscriptions; bad values named by their key path; and a
throwaway plugin distribution loaded by name from a config file."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wsevents
from wsevents import ConfigError, Connection, JsonProtocol
from wsevents.policies import (
    ENTRY_POINT_GROUP,
    AnyOf,
    CandleAware,
    MaxConnectionAge,
    Not,
    TimeWindow,
    available,
)


URL = "wss://stream.example.com/ws"

FEED = f"""
# a file may hold other tables: only [wsevents] is read
[logging]
level = "INFO"

[wsevents]
url = "{URL}"
subscriptions = ["candles", "trades"]
protocol = {{ kind = "json", channel_key = "stream" }}
backoff = {{ kind = "exponential", initial = 1, maximum = 60, jitter = 0.5 }}
max_reconnect_attempts = 20
check_interval = 0.5
queue_size = 500

[wsevents.should_disconnect]
policy = "any_of"
policies = [
    {{ policy = "candle", interval = "4h", stay_before = 60, stay_after = 30 }},
    {{ policy = "max_age", max_age = "24h", margin = "5m" }},
]

[wsevents.should_reconnect]
policy = "candle"
interval = "4h"
stay_before = 60
stay_after = 30
"""

CANDLES = CandleAware("4h", stay_before=60, stay_after=30)


def write(tmp_path: Path, text: str, name: str = "feed.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def check_feed(ws: Connection) -> None:
    """The connection FEED describes."""
    assert ws.url == URL
    assert ws.subscriptions == ("candles", "trades")
    assert isinstance(ws.protocol, JsonProtocol)
    assert ws.protocol.channel_key == "stream"
    assert ws.check_interval == 0.5
    # No public accessors for these: the supervisor holds them.
    sup = ws._supervisor
    assert sup.backoff == wsevents.ExponentialBackoff(initial=1, maximum=60, jitter=0.5)
    assert sup.max_attempts == 20
    assert sup.should_disconnect == AnyOf(CANDLES, MaxConnectionAge("24h", margin="5m"))
    assert sup.should_reconnect == CANDLES


# -- building ----------------------------------------------------------------------------------


def test_from_toml_file(tmp_path: Path) -> None:
    """A TOML file's [wsevents] table builds the connection: policies, backoff,
    protocol, subscriptions and plain options."""
    check_feed(Connection.from_config(write(tmp_path, FEED)))


def test_from_str_path(tmp_path: Path) -> None:
    """A path may be given as a string."""
    check_feed(Connection.from_config(str(write(tmp_path, FEED))))


def test_from_mapping(tmp_path: Path) -> None:
    """A mapping (here: the table load_config read) builds the same connection."""
    table = wsevents.load_config(write(tmp_path, FEED))
    check_feed(Connection.from_config(table))


def test_from_literal_mapping() -> None:
    """A hand-written mapping works; tables may be any mapping and policies bare names."""
    ws = Connection.from_config(
        {
            "url": URL,
            "subscriptions": ["book"],
            "backoff": "immediate",
            "protocol": "json",
            "should_disconnect": {
                "policy": "not",
                "of": {"policy": "time_window", "start": "02:00", "end": "02:30"},
            },
        }
    )
    assert ws.subscriptions == ("book",)
    assert ws._supervisor.backoff == wsevents.Immediate()
    assert ws.protocol.channel_key == "channel"  # type: ignore[attr-defined]
    assert ws._supervisor.should_disconnect == Not(TimeWindow("02:00", "02:30"))
    assert ws._supervisor.should_reconnect is None


def test_url_only_gives_the_defaults() -> None:
    """Only the URL is required; every other option keeps Connection's default."""
    ws = Connection.from_config({"url": URL})
    default = Connection(URL)
    assert ws.subscriptions == default.subscriptions == ()
    assert ws.check_interval == default.check_interval
    assert ws._supervisor.backoff == default._supervisor.backoff
    assert ws._supervisor.should_disconnect is None


def test_overrides_win(tmp_path: Path) -> None:
    """Keyword overrides replace what the file says, and add what a file cannot hold."""
    ws = Connection.from_config(
        write(tmp_path, FEED), check_interval=0.1, headers=lambda: {"X-Token": "t"}
    )
    assert ws.check_interval == 0.1
    assert ws.subscriptions == ("candles", "trades")


def test_whole_file_and_pyproject(tmp_path: Path) -> None:
    """Without a [wsevents] table the whole file is read; a pyproject.toml's
    [tool.wsevents] table works too."""
    whole = write(tmp_path, f'url = "{URL}"\nsubscriptions = ["a"]\n')
    assert Connection.from_config(whole).subscriptions == ("a",)
    pyproject = write(
        tmp_path,
        f'[project]\nname = "x"\n\n[tool.wsevents]\nurl = "{URL}"\nsubscriptions = ["b"]\n',
        name="pyproject.toml",
    )
    assert Connection.from_config(pyproject).subscriptions == ("b",)


# -- load_config -------------------------------------------------------------------------------


def test_load_config_reads_the_wsevents_table(tmp_path: Path) -> None:
    """wsevents.load_config returns the [wsevents] table, ignoring the rest of the file."""
    table = wsevents.load_config(write(tmp_path, FEED))
    assert table["url"] == URL
    assert "logging" not in table
    assert table["should_reconnect"] == {
        "policy": "candle",
        "interval": "4h",
        "stay_before": 60,
        "stay_after": 30,
    }


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "key", "value"),
    [
        (
            'should_disconnect = { policy = "candle", interval = "4x" }',
            "should_disconnect.interval",
            "4x",
        ),
        (
            'should_reconnect = { policy = "max_age", max_age = "soon" }',
            "should_reconnect.max_age",
            "soon",
        ),
        (
            'should_disconnect = { policy = "any_of", policies = ['
            '{ policy = "candle", interval = "4h" }, { policy = "max_age", max_age = -1 }] }',
            "should_disconnect.policies[1].max_age",
            -1,
        ),
        ('should_disconnect = { policy = "candel" }', "should_disconnect.policy", "candel"),
        ("backoff = { initial = -1 }", "backoff.initial", -1),
        ('backoff = { kind = "linear" }', "backoff.kind", "linear"),
        ('backoff = { kind = "fixed", delai = 2 }', "backoff.delai", 2),
        ('protocol = { kind = "xml" }', "protocol.kind", "xml"),
        ("queue_sise = 10", "queue_sise", 10),
        ("check_interval = 0", "check_interval", 0),
        ('overflow = "drop_all"', "overflow", "drop_all"),
    ],
)
def test_bad_values_name_their_key_path(
    tmp_path: Path, extra: str, key: str, value: object
) -> None:
    """Every bad value in a file is a ConfigError naming its dotted key path and the value."""
    path = write(tmp_path, f'[wsevents]\nurl = "{URL}"\n{extra}\n')
    with pytest.raises(ConfigError) as raised:
        Connection.from_config(path)
    assert raised.value.key == key
    assert raised.value.value == value


def test_unknown_top_level_key_lists_the_accepted_ones() -> None:
    """An unknown option is refused, with the accepted names in the message."""
    with pytest.raises(ConfigError, match=r"accepted: .*should_disconnect") as raised:
        Connection.from_config({"url": URL, "should_disconect": {"policy": "candle"}})
    assert raised.value.key == "should_disconect"


def test_missing_url() -> None:
    """A configuration without a URL names the missing key."""
    with pytest.raises(ConfigError) as raised:
        Connection.from_config({"subscriptions": ["a"]})
    assert raised.value.key == "url"


def test_invalid_toml(tmp_path: Path) -> None:
    """A file that is not TOML is a ConfigError keyed by its path."""
    path = write(tmp_path, "[wsevents\nurl = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as raised:
        Connection.from_config(path)
    assert raised.value.key == str(path)


# -- a plugin distribution, loaded by name from a config file -------------------------------------

PLUGIN = "wsevents_quiet_hours_plugin"

PLUGIN_SOURCE = '''
"""A throwaway third-party policy: stay away during the quiet hours."""

import attrs

from wsevents.policies import Policy


@attrs.frozen
class QuietHours(Policy):
    """Disconnected from ``start`` to ``end`` (UTC hours), connected otherwise."""

    start: int
    end: int = 6

    def _quiet(self, ctx):
        return self.start <= ctx.now.hour < self.end

    def should_disconnect(self, ctx):
        return self._quiet(ctx)

    def should_reconnect(self, ctx):
        return not self._quiet(ctx)
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install a distribution declaring a ``wsevents.policies`` entry point, offline:
    a module and its ``*.dist-info`` (METADATA + entry_points.txt) on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE)
    dist_info = site / f"{PLUGIN}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nquiet_hours = {PLUGIN}:QuietHours\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop(PLUGIN, None)
    importlib.invalidate_caches()


def test_plugin_policy_by_name_from_a_config_file(plugin: Path) -> None:
    """A config file names the plugin's entry point; Connection.from_config builds the
    plugin's class with the table's options, alone and inside a combinator."""
    path = write(
        plugin,
        f"""
        [wsevents]
        url = "{URL}"
        should_disconnect = {{ policy = "quiet_hours", start = 1, end = 5 }}

        [wsevents.should_reconnect]
        policy = "all_of"
        policies = [
            {{ policy = "quiet_hours", start = 1, end = 5 }},
            {{ policy = "candle", interval = "1h" }},
        ]
        """,
    )
    assert "quiet_hours" in available()
    ws = Connection.from_config(path)
    quiet_hours: Any = sys.modules[PLUGIN].QuietHours
    expected = quiet_hours(start=1, end=5)
    policy = ws._supervisor.should_disconnect
    assert policy == expected
    assert type(policy) is quiet_hours
    reconnect = ws._supervisor.should_reconnect
    assert isinstance(reconnect, wsevents.policies.AllOf)
    assert reconnect.policies == (expected, CandleAware("1h"))
    # The plugin's class gets the operators of the built-ins.
    assert isinstance(policy | CandleAware("4h"), AnyOf)


def test_plugin_option_errors_from_a_config_file(plugin: Path) -> None:
    """A plugin's missing or unknown options are keyed like a built-in's."""
    path = write(plugin, f'url = "{URL}"\nshould_disconnect = {{ policy = "quiet_hours" }}\n')
    with pytest.raises(ConfigError) as raised:
        Connection.from_config(path)
    assert raised.value.key == "should_disconnect.start"
    path = write(
        plugin, f'url = "{URL}"\nshould_disconnect = {{ policy = "quiet_hours", begin = 1 }}\n'
    )
    with pytest.raises(ConfigError, match="accepted: start, end") as raised:
        Connection.from_config(path)
    assert raised.value.key == "should_disconnect.begin"


def test_unknown_policy_name_lists_installed_plugins(plugin: Path) -> None:
    """Misspelling a plugin's name lists what is installed, the plugin included."""
    path = write(plugin, f'url = "{URL}"\nshould_disconnect = {{ policy = "quiet_hour" }}\n')
    with pytest.raises(ConfigError, match=r"available: .*quiet_hours") as raised:
        Connection.from_config(path)
    assert raised.value.key == "should_disconnect.policy"


def test_readme_snippet_with_a_plugin(plugin: Path) -> None:
    """The README's Policies TOML snippet builds, given a quiet_hours plugin."""
    path = write(
        plugin,
        """
        [wsevents]
        url = "wss://stream.example.com/ws"
        should_disconnect = { policy = "any_of", policies = [{ policy = "quiet_hours", start = 1 },
                              { policy = "max_age", max_age = "24h", margin = "5m" }] }
        should_reconnect = { policy = "quiet_hours", start = 1 }
        """,
    )
    ws = Connection.from_config(path)
    quiet_hours: Any = sys.modules[PLUGIN].QuietHours
    expected = quiet_hours(start=1)
    assert ws._supervisor.should_disconnect == AnyOf(expected, MaxConnectionAge("24h", margin="5m"))
    assert ws._supervisor.should_reconnect == expected
