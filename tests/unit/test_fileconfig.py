"""Connection options from TOML files and configuration tables."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from wsevents._fileconfig import (
    CONNECTION_OPTIONS,
    load_config,
    options_from_file,
    options_from_mapping,
)
from wsevents.backoff import ExponentialBackoff, FixedDelay, Immediate
from wsevents.exceptions import ConfigError
from wsevents.policies import AnyOf, CandleAware, MaxConnectionAge, Not, TimeWindow


URL = "wss://stream.example.com/ws"

FULL = f"""
[wsevents]
url = "{URL}"
subscriptions = ["trades", "book"]
headers = {{ Authorization = "Bearer x" }}
max_reconnect_attempts = 10
stable_after = 30.0
server_unavailable_delay = 45
reconnect_on_clean_close = false
check_interval = 0.5
queue_size = 5000
overflow = "block"
ping_interval = 20
ping_timeout = 10
stale_after = 60
open_timeout = 5
close_timeout = 2
max_size = 1048576
decoder = "orjson"
transport = "websockets"
protocol = {{ kind = "json", channel_key = "stream" }}
backoff = {{ kind = "exponential", initial = 1, maximum = 60, jitter = 0.5 }}

[wsevents.should_disconnect]
policy = "any_of"
policies = [
    {{ policy = "candle", interval = "4h", stay_before = 60, stay_after = 30 }},
    {{ policy = "max_age", max_age = "24h", margin = "10m" }},
]

[wsevents.should_reconnect]
policy = "candle"
interval = "4h"

[other_tool]
ignored = true
"""


def write(tmp_path: Path, text: str, name: str = "wsevents.toml") -> Path:
    """Write a TOML file and return its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# -- load_config ----------------------------------------------------------------------------


def test_load_config_wsevents_table(tmp_path: Path) -> None:
    """A [wsevents] table is used and the rest of the file ignored."""
    data = load_config(write(tmp_path, FULL))
    assert data["url"] == URL
    assert "other_tool" not in data
    assert data["should_reconnect"] == {"policy": "candle", "interval": "4h"}


def test_load_config_whole_file(tmp_path: Path) -> None:
    """Without a [wsevents] table the whole file is the configuration."""
    data = load_config(write(tmp_path, f'url = "{URL}"\nqueue_size = 10\n'))
    assert data == {"url": URL, "queue_size": 10}


def test_load_config_pyproject(tmp_path: Path) -> None:
    """A pyproject.toml's [tool.wsevents] table is found."""
    text = f'[project]\nname = "x"\n\n[tool.wsevents]\nurl = "{URL}"\n'
    assert load_config(write(tmp_path, text, "pyproject.toml")) == {"url": URL}


def test_load_config_accepts_str_paths(tmp_path: Path) -> None:
    """A path may be given as a string."""
    assert load_config(str(write(tmp_path, f'url = "{URL}"\n'))) == {"url": URL}


def test_load_config_invalid_toml(tmp_path: Path) -> None:
    """Invalid TOML is a ConfigError keyed by the file's path."""
    path = write(tmp_path, "url = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as raised:
        load_config(path)
    assert raised.value.key == str(path)


def test_load_config_wsevents_not_a_table(tmp_path: Path) -> None:
    """A wsevents key that is not a table is a ConfigError."""
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, 'wsevents = "x"\n'))
    assert raised.value.key == "wsevents"


def test_load_config_missing_file(tmp_path: Path) -> None:
    """A missing file is the builtin OSError."""
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "nope.toml")


# -- options_from_mapping ----------------------------------------------------------------------


def test_full_file(tmp_path: Path) -> None:
    """Every option is built or passed through, ready for Connection(url, **options)."""
    url, options = options_from_file(write(tmp_path, FULL))
    assert url == URL
    assert options["backoff"] == ExponentialBackoff(initial=1, maximum=60, jitter=0.5)
    assert options["should_disconnect"] == AnyOf(
        CandleAware("4h", stay_before=60, stay_after=30), MaxConnectionAge("24h", margin="10m")
    )
    assert options["should_reconnect"] == CandleAware("4h")
    assert options["protocol"] == {"kind": "json", "channel_key": "stream"}
    assert options["headers"] == {"Authorization": "Bearer x"}
    assert options["subscriptions"] == ["trades", "book"]
    assert options["overflow"] == "block"
    assert options["decoder"] == "orjson"
    assert options["reconnect_on_clean_close"] is False
    assert options["transport"] == "websockets"
    assert set(options) == CONNECTION_OPTIONS - {"url"}


def test_url_only() -> None:
    """A URL alone gives no options: Connection's defaults apply."""
    assert options_from_mapping({"url": URL}) == (URL, {})


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": ""}, "url"),
        ({"url": URL, "ssl": True}, "ssl"),
        ({"url": URL, "queue_sise": 10}, "queue_sise"),
        ({"url": URL, "headers": "x"}, "headers"),
        ({"url": URL, "protocol": 3}, "protocol"),
        ({"url": URL, "should_disconnect": {"policy": "candle"}}, "should_disconnect.interval"),
        (
            {"url": URL, "should_reconnect": {"policy": "not", "of": {"policy": "nope"}}},
            "should_reconnect.of.policy",
        ),
    ],
)
def test_option_errors(mapping: dict[str, Any], key: str) -> None:
    """Missing URL, unknown keys and bad tables are ConfigErrors naming the key."""
    with pytest.raises(ConfigError) as raised:
        options_from_mapping(mapping)
    assert raised.value.key == key


def test_unknown_key_lists_accepted() -> None:
    """The error for an unknown key lists the accepted ones."""
    with pytest.raises(ConfigError, match=r"accepted: .*queue_size") as raised:
        options_from_mapping({"url": URL, "queue_sise": 10})
    assert raised.value.value == 10


def test_not_a_mapping() -> None:
    """The configuration must be a table."""
    with pytest.raises(ConfigError):
        options_from_mapping(["url"])  # type: ignore[arg-type]


# -- backoff ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"kind": "exponential"}, ExponentialBackoff()),
        ({}, ExponentialBackoff()),
        ({"initial": 2, "maximum": 20}, ExponentialBackoff(initial=2, maximum=20)),
        ({"kind": "fixed", "delay": 3}, FixedDelay(delay=3)),
        ({"kind": "fixed", "delay": 3, "first": 0}, FixedDelay(delay=3, first=0)),
        ({"kind": "immediate"}, Immediate()),
        ("immediate", Immediate()),
        ("fixed", FixedDelay()),
    ],
)
def test_backoff_kinds(table: object, expected: object) -> None:
    """backoff tables build the backoff classes."""
    _, options = options_from_mapping({"url": URL, "backoff": table})
    assert options["backoff"] == expected


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ({"kind": "linear"}, "backoff.kind", "linear"),
        ({"kind": 3}, "backoff.kind", 3),
        (5, "backoff", 5),
        ({"kind": "fixed", "initial": 1}, "backoff.initial", 1),
        ({"kind": "immediate", "delay": 1}, "backoff.delay", 1),
        ({"rng": 42}, "backoff.rng", 42),
        ({"initial": -1}, "backoff.initial", -1),
        ({"initial": 10, "maximum": 5}, "backoff.maximum", 5),
        ({"kind": "fixed", "delay": "soon"}, "backoff.delay", "soon"),
    ],
)
def test_backoff_errors(table: object, key: str, value: object) -> None:
    """Bad backoff tables are ConfigErrors keyed backoff.<option>."""
    with pytest.raises(ConfigError) as raised:
        options_from_mapping({"url": URL, "backoff": table})
    assert raised.value.key == key
    assert raised.value.value == value


# -- protocol ------------------------------------------------------------------------------------


def test_protocol_hook() -> None:
    """build_protocol receives the protocol table and its result is the option."""
    seen: list[dict[str, Any]] = []

    def build(table: dict[str, Any]) -> object:
        seen.append(table)
        return ("protocol", table["kind"])

    mapping = {"url": URL, "protocol": {"kind": "json", "channel_key": "c"}}
    _, options = options_from_mapping(mapping, build_protocol=build)
    assert options["protocol"] == ("protocol", "json")
    assert seen == [{"kind": "json", "channel_key": "c"}]


def test_protocol_string_shorthand() -> None:
    """A protocol given as a string is the table {kind = ...}."""
    _, options = options_from_mapping({"url": URL, "protocol": "json"})
    assert options["protocol"] == {"kind": "json"}


def test_protocol_hook_errors_are_keyed() -> None:
    """A ConfigError from the hook is keyed under protocol."""

    def build(table: dict[str, Any]) -> object:
        raise ConfigError("channel_key", table.get("channel_key"), "must be a string")

    with pytest.raises(ConfigError) as raised:
        options_from_mapping({"url": URL, "protocol": {"channel_key": 1}}, build_protocol=build)
    assert raised.value.key == "protocol.channel_key"
    assert raised.value.value == 1

    def build_keyed(table: dict[str, Any]) -> object:
        raise ConfigError("protocol.kind", table.get("kind"), "unknown")

    with pytest.raises(ConfigError) as raised:
        options_from_mapping({"url": URL, "protocol": "x"}, build_protocol=build_keyed)
    assert raised.value.key == "protocol.kind"


# -- policies ------------------------------------------------------------------------------------


def test_policy_tables(tmp_path: Path) -> None:
    """Policy tables in a file build the policies, combinators included."""
    text = f"""
    url = "{URL}"
    should_disconnect = {{ policy = "not", of = {{ policy = "time_window", start = "09:30", end = "16:00", days = "mon-fri" }} }}
    should_reconnect = "max_age"
    """  # noqa: E501
    with pytest.raises(ConfigError) as raised:
        options_from_file(write(tmp_path, text))
    assert raised.value.key == "should_reconnect.max_age"
    fixed = text.replace('"max_age"', '{ policy = "time_window", start = "09:30", end = "16:00" }')
    _, options = options_from_file(write(tmp_path, fixed))
    assert options["should_disconnect"] == Not(TimeWindow("09:30", "16:00", days="mon-fri"))
    assert options["should_reconnect"] == TimeWindow("09:30", "16:00")
