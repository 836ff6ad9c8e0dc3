"""When to drop a connection and when to bring it back: policies.

A policy is any object with ``should_disconnect(ctx) -> bool`` and/or
``should_reconnect(ctx) -> bool | float``, asked every ``check_interval`` with
a frozen :class:`PolicyContext`.  The built-ins:

* :class:`CandleAware`: connected around candle closes, away in between;
* :class:`MaxConnectionAge`: recycle before a platform's forced cut;
* :class:`TimeWindow`: a daily UTC window;
* :class:`AnyOf`, :class:`AllOf`, :class:`Not` (and ``|``, ``&``, ``~``).

Configuration files name policies (``{"policy": "candle", "interval": "4h"}``);
third-party ones are found through the ``wsevents.policies`` entry-point group
(:func:`load`, :func:`from_config`).
"""

from __future__ import annotations

from ._base import (
    AllOf,
    AnyOf,
    DisconnectPolicy,
    Duration,
    FunctionPolicy,
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
from ._registry import BUILTIN_POLICIES, ENTRY_POINT_GROUP, available, from_config, load
from .age import MaxConnectionAge
from .candle import INTERVALS, CandleAware
from .window import DaysSpec, TimeWindow


__all__ = [
    "BUILTIN_POLICIES",
    "ENTRY_POINT_GROUP",
    "INTERVALS",
    "AllOf",
    "AnyOf",
    "CandleAware",
    "DaysSpec",
    "DisconnectPolicy",
    "Duration",
    "FunctionPolicy",
    "MaxConnectionAge",
    "Not",
    "Policy",
    "PolicyContext",
    "ReconnectPolicy",
    "TimeWindow",
    "as_disconnect_policy",
    "as_policy",
    "as_reconnect_policy",
    "available",
    "evaluate_disconnect",
    "evaluate_reconnect",
    "from_config",
    "load",
    "parse_duration",
]
