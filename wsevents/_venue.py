"""Validators shared by the venue adapters (layer L1).

Credential options are checked without ever showing their value: a
:class:`~wsevents.ConfigError` about a credential names the option and says
``<hidden>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from .exceptions import ConfigError


__all__ = [
    "check_callable",
    "check_credential",
    "check_seconds",
]

_Validator = Callable[[object, "attrs.Attribute[Any]", object], None]


def check_credential(name: str) -> _Validator:
    """A validator: None, or a non-empty string (the value is never shown)."""

    def check(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(name, "<hidden>", "must be a non-empty string or None")

    return check


def check_seconds(name: str) -> _Validator:
    """A validator: a positive, finite number of seconds."""

    def check(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigError(name, value, "must be a positive number of seconds")

    return check


def check_callable(name: str) -> _Validator:
    """A validator: a callable."""

    def check(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if not callable(value):
            raise ConfigError(name, value, "must be callable")

    return check
