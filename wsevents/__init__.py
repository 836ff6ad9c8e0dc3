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
from .binance import BinanceProtocol
from .connection import Connection
from .events import (
    CLOSED,
    CONNECT,
    DISCONNECT,
    ERROR,
    GAP,
    HANDOVER,
    MESSAGE,
    MESSAGE_PREFIX,
    QUEUE_FULL,
    RECONNECTING,
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
    BusError,
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
from .routing import CONSUMED, Decoder, Frame, JsonProtocol, Protocol


__all__ = [
    "CLOSED",
    "CONNECT",
    "CONSUMED",
    "DISCONNECT",
    "ERROR",
    "GAP",
    "HANDOVER",
    "MESSAGE",
    "MESSAGE_PREFIX",
    "QUEUE_FULL",
    "RECONNECTING",
    "Backoff",
    "BinanceProtocol",
    "BusError",
    "Closed",
    "ConfigError",
    "ConnectError",
    "Connected",
    "Connection",
    "Decoder",
    "DisconnectReason",
    "Disconnected",
    "ExponentialBackoff",
    "FixedDelay",
    "Frame",
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
