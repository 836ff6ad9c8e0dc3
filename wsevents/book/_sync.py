"""The snapshot + diff synchroniser of one symbol: a pure state machine (layer L1).

It is told what happened (an update arrived, a snapshot arrived, a resync is
wanted) and answers with a :class:`Step`: what to emit and whether a snapshot
must be fetched.  It never awaits and never reads a clock (``now`` is passed
in), so every path is tested without sockets.

States::

    SYNCING --snapshot--> LIVE --gap / checksum / crossed / bad level--> SYNCING
       |                                                                    ^
       +------------------ buffer overflow ---------------------------------+

While SYNCING, updates are buffered (at most ``max_buffer``; one more is an
``OVERFLOW`` resync, never a silent drop).  A REST snapshot makes the book
LIVE at the snapshot's id; the buffered updates it covers are dropped
(stale), the first one left must straddle it (else the snapshot is older than
the updates: a ``GAP``, and another snapshot), and the rest are applied
strictly in sequence.  A venue that sends snapshots on the socket (Bybit,
OKX) needs no buffer: what arrives before its snapshot is older than it.
While LIVE, an update that does not follow the last one applied is a gap; a
repeated or older one is dropped (the book already has it).

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs

from ._book import OrderBook
from ._events import Resync, ResyncReason, Synced
from ._venue import Sequencing, Snapshot


__all__ = ["APPLIED", "NOTHING", "BookState", "Step", "SymbolSync"]


class BookState(enum.Enum):
    """Where a symbol's book stands."""

    SYNCING = "syncing"
    """Waiting for a snapshot and the diffs that follow it; the book is empty."""
    LIVE = "live"
    """The book equals the venue's as of :attr:`OrderBook.update_id`."""


@attrs.frozen
class Step:
    """What the caller must do after a :class:`SymbolSync` call.

    Args:
        update: Emit ``book:<symbol>`` (an update was applied to a LIVE book).
        snapshot: The update replaced the whole book.
        synced: Emit ``synced`` with this payload (before the update).
        resync: Emit ``resync`` with this payload.
        fetch: Fetch (or request) a new snapshot.
        error: Report this (a bad update or snapshot).
    """

    update: bool = False
    snapshot: bool = False
    synced: Synced | None = None
    resync: Resync | None = None
    fetch: bool = False
    error: Exception | None = None


#: An update was applied to a LIVE book (the hot path: no allocation).
APPLIED: Final = Step(update=True)
#: Nothing to do (buffered, dropped as stale, an outdated snapshot).
NOTHING: Final = Step()

_Buffered = tuple[int, int, "int | None", Sequence[Any], Sequence[Any], "int | None"]


class SymbolSync:
    """Keeps one symbol's :class:`OrderBook` consistent with the venue's.

    Args:
        symbol: The symbol.
        sequencing: How the venue's update ids chain.
        socket_snapshots: Whether snapshots arrive on the socket (no buffering).
        max_buffer: The most updates buffered while SYNCING.
        checksum: ``book -> int`` compared with each update's checksum, or ``None``.
    """

    __slots__ = (
        "_buffer",
        "_chained",
        "_checksum",
        "_max_buffer",
        "_skipped",
        "_snapshots",
        "_socket",
        "_started_at",
        "_straddle",
        "book",
        "generation",
        "state",
        "symbol",
    )

    def __init__(
        self,
        symbol: str,
        *,
        sequencing: Sequencing,
        socket_snapshots: bool,
        max_buffer: int,
        checksum: Callable[[OrderBook], int] | None = None,
    ) -> None:
        self.symbol = symbol
        self.book = OrderBook(symbol)
        self.state = BookState.SYNCING
        #: bumped by every resync: a snapshot fetched for an older one is ignored
        self.generation = 0
        self._chained = sequencing is Sequencing.CHAINED
        self._socket = socket_snapshots
        self._max_buffer = max_buffer
        self._checksum = checksum
        self._buffer: list[_Buffered] = []
        #: LIVE on a REST snapshot: the next update must straddle it
        self._straddle = False
        self._started_at = 0.0
        self._snapshots = 0
        self._skipped = 0

    def __repr__(self) -> str:
        return f"<SymbolSync {self.symbol} {self.state.name} at {self.book.update_id}>"

    # -- transitions --------------------------------------------------------------

    def start(self, reason: ResyncReason, now: float, **details: Any) -> Step:
        """Go (back) to SYNCING: empty book, empty buffer, a new generation.

        Args:
            reason: Why.
            now: The caller's clock (seconds).
            details: ``expected``, ``received``, ``detail`` for the payload.

        Returns:
            A step with the ``resync`` payload, and ``fetch`` for REST venues.
        """
        self.state = BookState.SYNCING
        self.generation += 1
        self.book.clear()
        self._buffer.clear()
        self._straddle = False
        self._started_at = now
        self._snapshots = 0
        self._skipped = 0
        return Step(resync=Resync(symbol=self.symbol, reason=reason, **details), fetch=True)

    def update(
        self,
        first: int,
        last: int,
        prev: int | None,
        bids: Sequence[Any],
        asks: Sequence[Any],
        checksum: int | None,
        now: float,
    ) -> Step:
        """An update arrived.

        Returns:
            :data:`APPLIED` when applied to a LIVE book, :data:`NOTHING` when
            buffered or dropped as stale, else a step with ``resync``.
        """
        if self.state is BookState.LIVE:
            current = self.book.update_id
            assert current is not None
            if self._straddle:
                return self._first(first, last, prev, bids, asks, checksum, now, current)
            if (prev == current) if self._chained else (first == current + 1):
                # _apply, inlined: this is the path of every update of a LIVE book.
                book = self.book
                try:
                    crossed = book.apply_diff(bids, asks)
                except (ValueError, TypeError, LookupError) as exc:
                    return self._invalid(last, exc, now)
                book.update_id = last
                if checksum is None and not crossed:
                    return APPLIED
                problem = self._check(checksum, now)
                return APPLIED if problem is None else problem
            if last <= current:
                return NOTHING  # a repeated or older update: the book already has it
            received = prev if self._chained else first
            return self.start(
                ResyncReason.GAP,
                now,
                expected=current if self._chained else current + 1,
                received=received,
                detail=(
                    f"update {last} (after {prev}) does not follow {current}"
                    if self._chained
                    else f"update {first}..{last} does not follow {current}"
                ),
            )
        if self._socket:
            self._skipped += 1  # older than the snapshot the subscription brings
            return NOTHING
        if len(self._buffer) >= self._max_buffer:
            step = self.start(
                ResyncReason.OVERFLOW,
                now,
                detail=f"more than {self._max_buffer} updates arrived during the snapshot",
            )
            # The newest update starts the new buffer: the next snapshot may lag it.
            self._buffer.append((first, last, prev, bids, asks, checksum))
            return step
        self._buffer.append((first, last, prev, bids, asks, checksum))
        return NOTHING

    def snapshot(
        self,
        snapshot: Snapshot,
        now: float,
        generation: int | None = None,
        checksum: int | None = None,
    ) -> Step:
        """A snapshot arrived (from the ``snapshot`` callable or the socket).

        The book is LIVE from here on, at the snapshot's id: for a REST
        snapshot, the buffered updates it does not cover are applied at once
        (the first must straddle it), and the first update to come must
        straddle it too if none did.

        Args:
            snapshot: The snapshot.
            now: The caller's clock.
            generation: The :attr:`generation` the fetch began in; a snapshot of
                an older generation is ignored.  ``None`` for socket snapshots.
            checksum: The venue's checksum of the snapshot (socket snapshots).

        Returns:
            A step with ``update`` and ``snapshot`` (and ``synced`` unless the
            book was LIVE already), or with ``resync``.
        """
        if generation is not None and generation != self.generation:
            return NOTHING
        was_live = self.state is BookState.LIVE
        try:
            self.book.load(snapshot.bids, snapshot.asks, snapshot.update_id)
        except (ValueError, TypeError, LookupError) as exc:
            step = self.start(ResyncReason.INVALID, now, detail=f"bad snapshot: {exc!r}")
            return attrs.evolve(step, error=exc)
        self._snapshots += 1
        self.state = BookState.LIVE
        self._straddle = not self._socket
        problem = self._check(checksum, now)
        if problem is not None:
            return problem
        buffered = self._buffer
        self._buffer = []
        replayed = 0
        for first, last, prev, bids, asks, diff_checksum in buffered:
            step = self.update(first, last, prev, bids, asks, diff_checksum, now)
            if step.resync is not None:
                return step
            replayed += step is APPLIED
        if was_live:
            return Step(update=True, snapshot=True)
        return Step(update=True, snapshot=True, synced=self._synced(now, replayed))

    # -- internals ------------------------------------------------------------------

    def _first(
        self,
        first: int,
        last: int,
        prev: int | None,
        bids: Sequence[Any],
        asks: Sequence[Any],
        checksum: int | None,
        now: float,
        snap: int,
    ) -> Step:
        """The first update after a REST snapshot: stale, straddling, or a gap."""
        if (last < snap) if self._chained else (last <= snap):
            self._skipped += 1
            return NOTHING
        straddles = (first <= snap or prev == snap) if self._chained else (first <= snap + 1)
        if not straddles:
            return self.start(
                ResyncReason.GAP,
                now,
                expected=snap if self._chained else snap + 1,
                received=first,
                detail=f"the snapshot ({snap}) is older than the update ({first}..{last})",
            )
        self._straddle = False
        return self._apply(last, bids, asks, checksum, now)

    def _apply(
        self,
        last: int,
        bids: Sequence[Any],
        asks: Sequence[Any],
        checksum: int | None,
        now: float,
    ) -> Step:
        book = self.book
        try:
            book.apply(bids, asks)
        except (ValueError, TypeError, LookupError) as exc:
            return self._invalid(last, exc, now)
        book.update_id = last
        problem = self._check(checksum, now)
        if problem is not None:
            return problem
        return APPLIED

    def _invalid(self, last: int, exc: Exception, now: float) -> Step:
        step = self.start(ResyncReason.INVALID, now, detail=f"bad update {last}: {exc!r}")
        return attrs.evolve(step, error=exc)

    def _check(self, checksum: int | None, now: float) -> Step | None:
        book = self.book
        if checksum is not None and self._checksum is not None:
            mine = self._checksum(book)
            if mine != checksum:
                return self.start(
                    ResyncReason.CHECKSUM,
                    now,
                    expected=mine,
                    received=checksum,
                    detail=f"checksum {checksum} after update {book.update_id}, book has {mine}",
                )
        if book.crossed:
            return self.start(
                ResyncReason.CROSSED,
                now,
                detail=f"best bid {book.best_bid} >= best ask {book.best_ask}"
                f" after update {book.update_id}",
            )
        return None

    def _synced(self, now: float, replayed: int) -> Synced:
        return Synced(
            symbol=self.symbol,
            update_id=self.book.update_id,
            duration=max(0.0, now - self._started_at),
            snapshots=self._snapshots,
            replayed=replayed,
            skipped=self._skipped,
        )
