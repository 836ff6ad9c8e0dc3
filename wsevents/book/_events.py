"""Payloads of the order-book events (layer L1): ``resync``, ``synced``,
``book:<symbol>``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import attrs

from ._book import OrderBook


__all__ = [
    "BOOK_PREFIX",
    "RESYNC",
    "SYNCED",
    "BookUpdate",
    "Resync",
    "ResyncReason",
    "Synced",
]

#: ``book:<symbol>``: every update applied to a LIVE book.
BOOK_PREFIX: Final = "book:"
#: A symbol's book went back to SYNCING (payload :class:`Resync`).
RESYNC: Final = "resync"
#: A symbol's book is LIVE again (payload :class:`Synced`).
SYNCED: Final = "synced"


class ResyncReason(str, enum.Enum):
    """Why a book went (back) to SYNCING."""

    START = "start"
    """The first synchronisation of the symbol."""
    GAP = "gap"
    """A diff does not follow the last one applied (skipped, reordered), or the
    snapshot and the buffered diffs do not meet (the snapshot is older than
    every buffered diff)."""
    CHECKSUM = "checksum"
    """The book's checksum differs from the venue's (OKX)."""
    OVERFLOW = "overflow"
    """More diffs arrived during the snapshot than the buffer holds."""
    CROSSED = "crossed"
    """After an update, the best bid is at or above the best ask."""
    DISCONNECT = "disconnect"
    """The connection was lost: diffs were missed meanwhile."""
    INVALID = "invalid"
    """An update or snapshot could not be applied (a bad level)."""
    REQUESTED = "requested"
    """:meth:`BookKeeper.resync` was called."""


@attrs.frozen(kw_only=True)
class Resync:
    """Payload of ``resync``: a symbol's book is no longer trusted and is being rebuilt.

    Until the matching ``synced``, no ``book:<symbol>`` event fires for it and
    its :class:`OrderBook` is empty.

    Args:
        symbol: The symbol.
        reason: Why.
        expected: The update id that should have come next (``GAP``), else ``None``.
        received: The update id (or checksum, for ``CHECKSUM``) that came instead.
        detail: One line for humans.
    """

    symbol: str
    reason: ResyncReason
    expected: int | None = None
    received: int | None = None
    detail: str = ""


@attrs.frozen(kw_only=True)
class Synced:
    """Payload of ``synced``: a symbol's book is LIVE (consistent with the venue).

    Args:
        symbol: The symbol.
        update_id: The id of the last update applied.
        duration: Seconds since the resync began.
        snapshots: Snapshots taken during this resync (more than one when a
            snapshot was older than the buffered diffs, or failed).
        replayed: Buffered diffs applied on top of the snapshot.
        skipped: Diffs dropped as already covered by the snapshot.
    """

    symbol: str
    update_id: int | None
    duration: float
    snapshots: int = 1
    replayed: int = 0
    skipped: int = 0


class BookUpdate(NamedTuple):
    """Payload of ``book:<symbol>``: an update was applied to a LIVE book.

    A named tuple rather than a frozen attrs class: it is built once per
    applied update, and a tuple costs a third as much.

    Args:
        symbol: The symbol.
        book: The book itself, already updated (read it now: it keeps changing).
        update_id: The venue's id of this update.
        bids: The bid levels of the update, as the venue sent them (every bid
            of the book when ``snapshot``).
        asks: The ask levels of the update (every ask when ``snapshot``).
        snapshot: True when the whole book changed: the first update after
            ``synced``, or a venue's own fresh snapshot (Bybit's ``u == 1``).
    """

    symbol: str
    book: OrderBook
    update_id: int | None
    bids: Sequence[Any]
    asks: Sequence[Any]
    snapshot: bool = False
