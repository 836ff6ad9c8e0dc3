"""OKX ``books`` (and ``books-l2-tbt``, ``books50-l2-tbt``) with the CRC32 checksum
(layer L1).

OKX sends a ``snapshot`` after each subscribe, then ``update`` messages whose
``prevSeqId`` is the previous message's ``seqId`` (equal ``seqId`` and
``prevSeqId``: no change), each with the ``checksum`` of the top 25 levels
after it (:func:`~wsevents.book.okx_checksum`).  Any mismatch, or a broken
chain, is a resync; a resync asks for a new snapshot by subscribing again::

    {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update",
     "data": [{"asks": [["8476.98", "415", "0", "13"]], "bids": [],
               "ts": "1597026383085", "checksum": -855196043,
               "prevSeqId": 123456, "seqId": 123457}]}

Route messages by ``JsonProtocol(channel_key="arg.channel")`` (or by a channel
per instrument with your own protocol).

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import Any, Final

from ._book import OrderBook
from ._venue import BookError, Sequencing, Update, Venue, field


__all__ = ["OKX", "Okx"]


class Okx(Venue):
    """OKX order books over the socket, checked by CRC32."""

    name = "okx"
    sequencing = Sequencing.CHAINED
    socket_snapshots = True
    has_checksum = True

    def book_checksum(self, book: OrderBook) -> int:
        return book.checksum()

    def parse(self, message: Any) -> Update:
        arg = field(message, "arg", self.name, dict)
        action = field(message, "action", self.name, str)
        if action not in ("snapshot", "update"):
            raise BookError(f"{self.name}: unknown action {action!r}")
        data = field(message, "data", self.name, list)
        if len(data) != 1:
            raise BookError(f"{self.name}: expected one book in 'data', got {len(data)}")
        entry = data[0]
        seq = field(entry, "seqId", self.name)
        return Update(
            field(arg, "instId", self.name, str),
            action == "snapshot",
            seq,
            seq,
            field(entry, "prevSeqId", self.name),
            field(entry, "bids", self.name, list),
            field(entry, "asks", self.name, list),
            field(entry, "checksum", self.name),
        )


#: OKX order books.
OKX: Final = Okx()
