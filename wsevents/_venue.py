"""Validators shared by the venue adapters (layer L1).

Credential options are checked without ever showing their value: a
:class:`~wsevents.ConfigError` about a credential names the option and says
``<hidden>``.
"""

from __future__ import annotations

import functools
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


def _credential(name: str, _inst: object, _attr: object, value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(name, "<hidden>", "must be a non-empty string or None")


def _positive_seconds(name: str, _inst: object, _attr: object, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(name, value, "must be a positive number of seconds")


def _callable(name: str, _inst: object, _attr: object, value: object) -> None:
    if not callable(value):
        raise ConfigError(name, value, "must be callable")


# (The checks are module functions, the validators partials of them: the checks
# run when an option is set, not when a module is imported, and mutation testing
# reaches them.)
def check_credential(name: str) -> _Validator:
    """A validator: None, or a non-empty string (the value is never shown)."""
    return functools.partial(_credential, name)


def check_seconds(name: str) -> _Validator:
    """A validator: a positive, finite number of seconds."""
    return functools.partial(_positive_seconds, name)


def check_callable(name: str) -> _Validator:
    """A validator: a callable."""
    return functools.partial(_callable, name)
