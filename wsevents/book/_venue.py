"""What a venue's order-book feed looks like to the synchroniser (layer L1, pure).

A :class:`Venue` turns one decoded message into an :class:`Update` and a
snapshot (what the user's ``snapshot`` callable returned) into a
:class:`Snapshot`, and says how update ids chain (:class:`Sequencing`), whether
snapshots come over the socket, and whether updates carry a checksum.

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..exceptions import WSEventsError
from ._book import OrderBook


__all__ = ["BookError", "Sequencing", "Snapshot", "Update", "Venue", "plain_diff_keys"]


class BookError(WSEventsError, ValueError):
    """An order-book message or snapshot could not be understood or applied.

    Reported as an ``error`` event; the symbol's book (if any) resyncs.

    Args:
        message: What was wrong, naming the field.
        symbol: The symbol concerned, when known.
    """

    def __init__(self, message: str, symbol: str | None = None) -> None:
        self.symbol = symbol
        super().__init__(message if symbol is None else f"{symbol}: {message}")


class Sequencing(enum.Enum):
    """How a venue's update ids chain."""

    CONTIGUOUS = "contiguous"
    """Each update covers ids ``first..last`` and the next starts at ``last + 1``
    (Binance spot ``U``/``u``; Bybit ``u``, where ``first == last``).  A stale
    update has ``last <= snapshot id``; the first one applied after a snapshot
    must straddle it: ``first <= id + 1 <= last``."""
    CHAINED = "chained"
    """Each update names the id of the one before it (Binance futures ``pu``,
    OKX ``prevSeqId``), which must be the last id applied.  A stale update has
    ``last < snapshot id``; the first one applied after a snapshot has
    ``first <= id <= last`` or ``prev == id``."""


class Update(NamedTuple):
    """One order-book message, as the synchroniser sees it.

    Args:
        symbol: The venue's symbol.
        snapshot: Whether the message replaces the whole book (Bybit and OKX
            ``snapshot`` messages, Bybit's ``u == 1`` reset).
        first: The first update id it covers.
        last: Its (last) update id.
        prev: The id of the update before it (:attr:`Sequencing.CHAINED`), else ``None``.
        bids: Bid levels ``[price, size, ...]``.
        asks: Ask levels.
        checksum: The venue's checksum of the book after it, else ``None``.
    """

    symbol: str
    snapshot: bool
    first: int
    last: int
    prev: int | None
    bids: Sequence[Any]
    asks: Sequence[Any]
    checksum: int | None = None


class Snapshot(NamedTuple):
    """A full book: what a ``snapshot`` callable may return (or a venue's raw reply).

    Args:
        update_id: The id of the last update the snapshot includes
            (Binance ``lastUpdateId``).
        bids: Bid levels ``[price, size, ...]``.
        asks: Ask levels.
    """

    update_id: int
    bids: Sequence[Any]
    asks: Sequence[Any]


class Venue:
    """A venue's order-book rules: subclass it for another venue.

    Attributes:
        name: For messages.
        sequencing: How update ids chain.
        socket_snapshots: True when the venue sends snapshots on the socket
            (after each subscribe); False when a snapshot is fetched through the
            user's ``snapshot`` callable (REST).
        has_checksum: True when updates carry a checksum that
            :meth:`book_checksum` computes.
        diff_keys: For a venue whose every update is one flat mapping, never a
            snapshot and without a checksum (Binance's ``depthUpdate``): the
            keys of its symbol, first id, last id, previous id (``None`` when
            :attr:`sequencing` is contiguous), bids and asks.  The keeper then
            reads them in one call instead of calling :meth:`parse`, which
            still names what is missing when a key is not there; ``None``
            (the default) always calls :meth:`parse`.  ``parse`` must return
            what these keys read; a subclass that overrides ``parse`` and not
            ``diff_keys`` is always parsed (see :func:`plain_diff_keys`).
    """

    name: str = "venue"
    sequencing: Sequencing = Sequencing.CONTIGUOUS
    socket_snapshots: bool = False
    has_checksum: bool = False
    diff_keys: tuple[str, str, str, str | None, str, str] | None = None

    def book_checksum(self, book: OrderBook) -> int:
        """The venue's checksum of ``book``, compared with :attr:`Update.checksum`."""
        raise NotImplementedError

    def parse(self, message: Any) -> Update:
        """Turn one decoded message into an :class:`Update`.

        Raises:
            BookError: The message is not an order-book update of this venue.
        """
        raise NotImplementedError

    def parse_snapshot(self, symbol: str, reply: Any) -> Snapshot:
        """Turn what the ``snapshot`` callable returned into a :class:`Snapshot`.

        The default accepts a :class:`Snapshot`, or a mapping with
        ``lastUpdateId``, ``bids`` and ``asks`` (Binance's REST depth reply).

        Raises:
            BookError: The reply is not a snapshot.
        """
        if isinstance(reply, Snapshot):
            return reply
        try:
            update_id = reply["lastUpdateId"]
            bids = reply["bids"]
            asks = reply["asks"]
        except (KeyError, TypeError, IndexError):
            raise BookError(
                f"{self.name} snapshot needs lastUpdateId, bids and asks, got {_short(reply)}",
                symbol,
            ) from None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise BookError(f"{self.name} snapshot lastUpdateId is not an integer", symbol)
        return Snapshot(update_id, bids, asks)


def plain_diff_keys(venue: Venue) -> tuple[str, str, str, str | None, str, str] | None:
    """``venue.diff_keys`` when the class that gives ``parse`` also gives them:
    a subclass that changes ``parse`` alone keeps its ``parse`` called."""
    if "parse" in vars(venue) or "diff_keys" in vars(venue):
        return None
    for cls in type(venue).__mro__:
        own = vars(cls)
        if "parse" in own or "diff_keys" in own:
            return venue.diff_keys if "parse" in own and "diff_keys" in own else None
    return None  # pragma: no cover - Venue itself gives both


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def field(message: Any, key: str, venue: str, kind: type = int) -> Any:
    """``message[key]``, checked to be a ``kind``; a :class:`BookError` naming
    the key otherwise (shared by the venue modules)."""
    try:
        value = message[key]
    except (KeyError, TypeError, IndexError):
        raise BookError(f"{venue} book message without {key!r}: {_short(message)}") from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BookError(f"{venue} book message: {key!r} is not {kind.__name__}: {_short(message)}")
    return value


def missing(message: Any, keys: Sequence[str], venue: str) -> BookError:
    """The error for a message that lacks one of ``keys`` (or is not a mapping)."""
    for key in keys:
        field(message, key, venue, object)  # raises, naming the first missing key
    return BookError(f"{venue}: not a depth update: {_short(message)}")
