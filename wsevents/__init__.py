"""wsevents: an event-driven asyncio WebSocket client for long-lived feeds.

The top level re-exports the public names of the core layers (L0-L3).  The
opt-in layers are imported explicitly: ``wsevents.sync``, ``wsevents.compat``,
``wsevents.testing``.
"""

from __future__ import annotations

from . import policies
from ._fileconfig import load_config
from ._stats import Latency, ReceiveTime, Stats
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
    CloseReason,
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
    AuthenticationError,
    BusError,
    ConfigError,
    ConnectError,
    ConnectionLost,
    FrameError,
    HandshakeRejected,
    NotConnected,
    PolicyError,
    PoolFull,
    ReconnectExhausted,
    RequestError,
    WSEventsError,
)
from .policies import PolicyContext
from .pool import Pool, PoolStats
from .ratelimit import RateLimit
from .routing import CONSUMED, Decoder, Frame, HeartbeatSpec, JsonProtocol, Protocol, Session


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
    "AuthenticationError",
    "Backoff",
    "BinanceProtocol",
    "BusError",
    "CloseReason",
    "Closed",
    "ConfigError",
    "ConnectError",
    "Connected",
    "Connection",
    "ConnectionLost",
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
    "HeartbeatSpec",
    "Immediate",
    "JsonProtocol",
    "Latency",
    "NotConnected",
    "PolicyContext",
    "PolicyError",
    "Pool",
    "PoolFull",
    "PoolStats",
    "Protocol",
    "QueueFull",
    "RateLimit",
    "ReceiveTime",
    "ReconnectExhausted",
    "Reconnecting",
    "RequestError",
    "Session",
    "State",
    "Stats",
    "WSEventsError",
    "__version__",
    "load_config",
    "policies",
]
