"""Binance depth streams: :class:`BinanceSpot` and :class:`BinanceFutures` (layer L1).

Binance sends diffs on the socket (``<symbol>@depth`` / ``@depth@100ms``) and
serves snapshots over REST (``GET /api/v3/depth?symbol=BTCUSDT&limit=1000``
on spot, ``/fapi/v1/depth`` on USDⓈ-M futures), which the user's ``snapshot``
callable fetches: the library ships no HTTP client.  The procedure is
Binance's own: buffer the diffs, take a snapshot, drop the diffs with
``u <= lastUpdateId``, check that the first one left straddles the snapshot
(spot ``U <= lastUpdateId + 1 <= u``; futures ``U <= lastUpdateId <= u``),
then apply strictly in sequence (spot: each ``U`` is the previous ``u + 1``;
futures: each ``pu`` is the previous ``u``).

Messages are the ``data`` payload of a combined stream (what
:class:`~wsevents.BinanceProtocol` delivers) or a raw stream's message::

    {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 157, "u": 160,
     "b": [["0.0024", "10"]], "a": [["0.0026", "100"]]}        # futures add "pu"

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import Any, Final

from ._venue import Sequencing, Update, Venue, missing


__all__ = ["BINANCE_FUTURES", "BINANCE_SPOT", "BinanceFutures", "BinanceSpot"]

#: ``Update``'s fields as one tuple, without the named tuple's ``__new__`` frame
_new_update = tuple.__new__


class BinanceSpot(Venue):
    """Binance spot ``depthUpdate`` diffs with REST snapshots."""

    name = "binance"
    sequencing = Sequencing.CONTIGUOUS
    socket_snapshots = False
    diff_keys = ("s", "U", "u", None, "b", "a")

    def parse(self, message: Any) -> Update:
        try:
            return _new_update(
                Update,
                (message["s"], False, message["U"], message["u"], None, message["b"],
                 message["a"], None),
            )
        except (KeyError, TypeError, IndexError):
            raise missing(message, ("s", "U", "u", "b", "a"), self.name) from None


class BinanceFutures(Venue):
    """Binance USDⓈ-M / COIN-M futures ``depthUpdate`` diffs (``pu`` chaining)
    with REST snapshots."""

    name = "binance-futures"
    sequencing = Sequencing.CHAINED
    socket_snapshots = False
    diff_keys = ("s", "U", "u", "pu", "b", "a")

    def parse(self, message: Any) -> Update:
        try:
            return _new_update(
                Update,
                (message["s"], False, message["U"], message["u"], message["pu"],
                 message["b"], message["a"], None),
            )
        except (KeyError, TypeError, IndexError):
            raise missing(message, ("s", "U", "u", "pu", "b", "a"), self.name) from None


#: Binance spot depth diffs.
BINANCE_SPOT: Final = BinanceSpot()
#: Binance futures depth diffs.
BINANCE_FUTURES: Final = BinanceFutures()
