"""Bybit v5 ``orderbook.N.<symbol>`` snapshots and deltas (layer L1).

Bybit sends a ``snapshot`` after each subscribe and ``delta`` messages after
it; ``data.u`` grows by exactly one per message of a topic.  A new snapshot
replaces the book (Bybit re-sends one when it has a problem, and level-1
topics repeat theirs), and ``u == 1`` is a snapshot after a restart of
Bybit's service whatever the message's ``type`` says.  A resync asks for a
fresh snapshot by subscribing again (the keeper's default ``snapshot``)::

    {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1687940967466,
     "data": {"s": "BTCUSDT", "b": [["30247.20", "30.028"]], "a": [],
              "u": 177400507, "seq": 66544703342}, "cts": 1687940967464}

Route messages by topic (``JsonProtocol(channel_key="topic")``).

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import Any, Final

from ._venue import BookError, Sequencing, Update, Venue, field


__all__ = ["BYBIT", "Bybit"]


class Bybit(Venue):
    """Bybit ``orderbook.N`` over the socket (no REST snapshot needed)."""

    name = "bybit"
    sequencing = Sequencing.CONTIGUOUS
    socket_snapshots = True

    def parse(self, message: Any) -> Update:
        data = field(message, "data", self.name, dict)
        kind = field(message, "type", self.name, str)
        if kind not in ("snapshot", "delta"):
            raise BookError(f"{self.name}: unknown type {kind!r}")
        u = field(data, "u", self.name)
        return Update(
            field(data, "s", self.name, str),
            kind == "snapshot" or u == 1,
            u,
            u,
            None,
            field(data, "b", self.name, list),
            field(data, "a", self.name, list),
        )


#: Bybit order books.
BYBIT: Final = Bybit()
