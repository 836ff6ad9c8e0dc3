"""wsevents: an event-driven asyncio WebSocket client for long-lived feeds.

The top level re-exports the public names of the core layers (L0-L3).  The
opt-in layers are imported explicitly: ``wsevents.sync``, ``wsevents.compat``,
``wsevents.testing``.
"""

from __future__ import annotations

from . import policies
from ._fileconfig import load_config
from ._stats import Stats
from ._version import __version__
from .backoff import Backoff, ExponentialBackoff, FixedDelay, Immediate
from .connection import Connection
from .events import (
    Closed,
    Connected,
    Disconnected,
    DisconnectReason,
    Gap,
    Handover,
    QueueFull,
    Reconnecting,
    State,
)
from .exceptions import (
    ConfigError,
    ConnectError,
    FrameError,
    HandshakeRejected,
    NotConnected,
    PolicyError,
    ReconnectExhausted,
    WSEventsError,
)
from .policies import PolicyContext
from .routing import CONSUMED, JsonProtocol, Protocol


__all__ = [
    "CONSUMED",
    "Backoff",
    "Closed",
    "ConfigError",
    "ConnectError",
    "Connected",
    "Connection",
    "DisconnectReason",
    "Disconnected",
    "ExponentialBackoff",
    "FixedDelay",
    "FrameError",
    "Gap",
    "Handover",
    "HandshakeRejected",
    "Immediate",
    "JsonProtocol",
    "NotConnected",
    "PolicyContext",
    "PolicyError",
    "Protocol",
    "QueueFull",
    "ReconnectExhausted",
    "Reconnecting",
    "State",
    "Stats",
    "WSEventsError",
    "__version__",
    "load_config",
    "policies",
]
