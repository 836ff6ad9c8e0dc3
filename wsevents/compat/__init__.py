"""Drop-in replacements for other WebSocket client libraries (layer L5).

``from wsevents.compat import WebSocketApp`` replaces websocket-client's
``from websocket import WebSocketApp``; see
:mod:`wsevents.compat.websocket_client` for what changes and what is refused.
"""

from __future__ import annotations

from .websocket_client import (
    ABNF,
    UnsupportedOption,
    WebSocketApp,
    WebSocketConnectionClosedException,
    WebSocketException,
    enableTrace,
)


__all__ = [
    "ABNF",
    "UnsupportedOption",
    "WebSocketApp",
    "WebSocketConnectionClosedException",
    "WebSocketException",
    "enableTrace",
]
