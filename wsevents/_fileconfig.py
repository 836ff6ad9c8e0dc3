"""Connection options from a TOML file.

A file holds the options of one connection, either at its top level or in a
``[wsevents]`` table (``[tool.wsevents]`` in a ``pyproject.toml`` works too)::

    [wsevents]
    url = "wss://stream.example.com/ws"
    subscriptions = ["trades", "book"]
    backoff = { kind = "exponential", initial = 0.5, maximum = 30 }
    protocol = { kind = "json", channel_key = "channel" }

    [wsevents.should_disconnect]
    policy = "candle"
    interval = "4h"

:func:`options_from_mapping` turns such a table into the keyword arguments of
``Connection``: it builds the objects a file cannot hold (policies, backoff)
and passes everything else through for ``Connection`` to validate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

from .backoff import Backoff, ExponentialBackoff, FixedDelay, Immediate
from .exceptions import ConfigError
from .policies._registry import _call_with_options, from_config


if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]


__all__ = [
    "BACKOFF_KINDS",
    "CONNECTION_OPTIONS",
    "load_config",
    "options_from_file",
    "options_from_mapping",
]

#: The keys a configuration table may hold: ``url`` and ``Connection``'s options
#: that a file can express (not ``ssl``, and ``headers`` only as a table).
CONNECTION_OPTIONS: Final = frozenset(
    {
        "url",
        "protocol",
        "subscriptions",
        "headers",
        "backoff",
        "max_reconnect_attempts",
        "stable_after",
        "server_unavailable_delay",
        "reconnect_on_clean_close",
        "should_disconnect",
        "should_reconnect",
        "check_interval",
        "queue_size",
        "overflow",
        "ping_interval",
        "ping_timeout",
        "stale_after",
        "open_timeout",
        "close_timeout",
        "max_size",
        "decoder",
        "transport",
    }
)

#: ``backoff.kind`` names and the classes they build.
BACKOFF_KINDS: Final[Mapping[str, Callable[..., Backoff]]] = {
    "exponential": ExponentialBackoff,
    "fixed": FixedDelay,
    "immediate": Immediate,
}


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file and return its wsevents table.

    The table is ``[wsevents]`` when the file has one, else ``[tool.wsevents]``
    when it has that (a ``pyproject.toml``), else the whole file.  Nothing is
    validated here: pass the result to :func:`options_from_mapping`.

    Args:
        path: the file.

    Raises:
        OSError: the file cannot be read.
        ConfigError: the file is not valid TOML (key: the path), or its
            ``wsevents`` entry is not a table.
    """
    with open(path, "rb") as file:
        try:
            data: dict[str, Any] = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(os.fspath(path), None, f"is not valid TOML: {exc}") from exc
    if "wsevents" in data:
        table, key = data["wsevents"], "wsevents"
    elif isinstance(data.get("tool"), dict) and "wsevents" in data["tool"]:
        table, key = data["tool"]["wsevents"], "tool.wsevents"
    else:
        return data
    if not isinstance(table, dict):
        raise ConfigError(key, table, "must be a table")
    return table


def _build_backoff(value: object) -> Backoff:
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping):
        raise ConfigError("backoff", value, "must be a table such as {kind = 'exponential'}")
    options = {str(k): v for k, v in value.items()}
    kind = options.pop("kind", "exponential")
    factory = BACKOFF_KINDS.get(kind) if isinstance(kind, str) else None
    if factory is None:
        raise ConfigError("backoff.kind", kind, f"must be one of {', '.join(BACKOFF_KINDS)}")
    if "rng" in options:
        raise ConfigError("backoff.rng", options["rng"], "cannot be set from a file")
    backoff = _call_with_options(factory, options, key="backoff", what=f"backoff {kind!r}")
    return backoff  # type: ignore[return-value]


def options_from_mapping(
    mapping: Mapping[str, Any],
    *,
    build_protocol: Callable[[dict[str, Any]], object] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The URL and ``Connection`` keyword arguments described by a configuration table.

    Built here: ``should_disconnect`` / ``should_reconnect`` (policy tables,
    see :func:`wsevents.policies.from_config`), ``backoff`` (``{kind =
    "exponential" | "fixed" | "immediate", ...}`` with the class's options) and,
    when ``build_protocol`` is given, ``protocol``.  Everything else is passed
    through unchanged for ``Connection`` to validate.

    Args:
        mapping: the table, e.g. from :func:`load_config`.
        build_protocol: turns the ``protocol`` table (``{kind = "json",
            channel_key = "channel"}``) into a protocol object; without it the
            table is passed through as a ``dict``.  A ConfigError it raises is
            keyed under ``protocol``.

    Returns:
        ``(url, options)``, ready for ``Connection(url, **options)``.

    Raises:
        ConfigError: a missing ``url``, an unknown key, or a bad policy,
            backoff or protocol table (keyed by its dotted path).
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError("config", mapping, "must be a table of connection options")
    for key, value in mapping.items():
        if key not in CONNECTION_OPTIONS:
            raise ConfigError(
                str(key),
                value,
                f"unknown option; accepted: {', '.join(sorted(CONNECTION_OPTIONS))}",
            )
    url = mapping.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError("url", url, "is required: the wss:// URL to connect to")
    options: dict[str, Any] = {}
    for key, value in mapping.items():
        if key == "url":
            continue
        if key in ("should_disconnect", "should_reconnect"):
            options[key] = from_config(value, key=key)
        elif key == "backoff":
            options[key] = _build_backoff(value)
        elif key == "protocol":
            options[key] = _protocol(value, build_protocol)
        elif key == "headers":
            if not isinstance(value, Mapping):
                raise ConfigError("headers", value, "must be a table of header names to values")
            options[key] = dict(value)
        else:
            options[key] = value
    return url, options


def _protocol(value: object, build: Callable[[dict[str, Any]], object] | None) -> object:
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping):
        raise ConfigError("protocol", value, "must be a table such as {kind = 'json'}")
    table = {str(k): v for k, v in value.items()}
    if build is None:
        return table
    try:
        return build(table)
    except ConfigError as exc:
        if exc.key == "protocol" or exc.key.startswith("protocol."):
            raise
        raise ConfigError(f"protocol.{exc.key}", exc.value, exc.why) from exc


def options_from_file(
    path: str | os.PathLike[str],
    *,
    build_protocol: Callable[[dict[str, Any]], object] | None = None,
) -> tuple[str, dict[str, Any]]:
    """:func:`load_config` then :func:`options_from_mapping`.

    Args:
        path: the TOML file.
        build_protocol: see :func:`options_from_mapping`.
    """
    return options_from_mapping(load_config(path), build_protocol=build_protocol)
