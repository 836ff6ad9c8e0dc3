"""`OrderBook`: one symbol's L2 price levels, kept sorted (layer L1, pure).

Prices and sizes are kept twice: as the venue's own strings (what OKX's CRC32
checksum is computed over, and what :meth:`OrderBook.raw_bids` returns), and as
``float`` keys for ordering and comparison.  ``float`` rather than
``Decimal``: parsing is about ten times cheaper on the hot path, and an IEEE
double round-trips every decimal of up to 15 significant digits, so two
distinct venue prices (at most 12 or so significant digits in practice) never
map to the same key and their order is exact; ``"1.0"`` and ``"1.00"`` are the
same level, as they are for the venue.  A size is only compared with zero
(``"0"``, ``"0.000"`` remove a level), which ``float`` does exactly.  Keep the
strings (or convert them to ``Decimal`` yourself) for arithmetic that must not
round.

Each side is a dict ``key -> (price, size, size as float)`` plus a sorted list of
keys (bids negated, so both lists are ascending from the best level): updating
an existing level is one dict store, a new or removed level one ``bisect`` in
the list, the best level is ``keys[0]`` (O(1)) and depth ``n`` reads ``n`` keys
(O(n)).

.. versionadded:: 0.2
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeAlias


__all__ = ["OKX_CHECKSUM_DEPTH", "Level", "OrderBook", "RawLevel", "okx_checksum"]

#: A price level as ``(price, size)`` floats.
Level: TypeAlias = tuple[float, float]
#: A price level as the venue's ``(price, size)`` strings.
RawLevel: TypeAlias = tuple[str, str]

#: How many levels of each side OKX's checksum covers.
OKX_CHECKSUM_DEPTH: Final = 25
_INF: Final = float("inf")


def _text(value: Any) -> str:
    return value if value.__class__ is str else str(value)


class _Side:
    """One side of a book: levels by key, and the keys sorted best first."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: float) -> None:
        #: +1.0 for asks (lowest first), -1.0 for bids (highest first)
        self.sign = sign
        self.levels: dict[float, tuple[str, str, float]] = {}
        self.keys: list[float] = []

    def clear(self) -> None:
        self.levels.clear()
        self.keys.clear()

    def apply(self, updates: Iterable[Sequence[Any]]) -> None:
        """Set each level's size; a zero size removes the level.

        Raises:
            ValueError: A level is not ``[price, size, ...]`` with numeric
                strings, or a size is negative; levels before it were applied.
        """
        levels = self.levels
        keys = self.keys
        sign = self.sign
        for level in updates:
            price = level[0]
            size = level[1]
            key = sign * float(price)
            amount = float(size)
            if amount:
                if not (0.0 < amount < _INF and -_INF < key < _INF):
                    raise ValueError(f"bad level {list(level)!r}: negative or non-finite")
                if key not in levels:
                    keys.insert(bisect_left(keys, key), key)
                levels[key] = (_text(price), _text(size), amount)
            elif key in levels:
                del levels[key]
                del keys[bisect_left(keys, key)]

    def top(self, depth: int | None) -> list[Level]:
        levels = self.levels
        keys = self.keys if depth is None else self.keys[:depth]
        sign = self.sign
        return [(sign * key, levels[key][2]) for key in keys]

    def raw(self, depth: int | None) -> list[RawLevel]:
        levels = self.levels
        keys = self.keys if depth is None else self.keys[:depth]
        return [levels[key][:2] for key in keys]

    def best(self) -> Level | None:
        if not self.keys:
            return None
        key = self.keys[0]
        return (self.sign * key, self.levels[key][2])


class OrderBook:
    """The price levels of one symbol: bids highest first, asks lowest first.

    The book only applies what it is given; :class:`~wsevents.book.BookKeeper`
    decides when (snapshot, diffs in sequence, resync).  Read it from a
    ``book:<symbol>`` handler, or at any time through
    :meth:`BookKeeper.book`.

    Args:
        symbol: The venue's symbol (``"BTCUSDT"``, ``"BTC-USDT"``).
    """

    __slots__ = ("_asks", "_bids", "symbol", "update_id")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        """The venue's symbol."""
        self.update_id: int | None = None
        """The venue's id of the last update applied (``None`` before a snapshot)."""
        self._bids = _Side(-1.0)
        self._asks = _Side(1.0)

    def __repr__(self) -> str:
        return (
            f"<OrderBook {self.symbol} {len(self._bids.keys)} bids / "
            f"{len(self._asks.keys)} asks, best {self.best_bid} / {self.best_ask}>"
        )

    def __len__(self) -> int:
        """The number of price levels, both sides."""
        return len(self._bids.keys) + len(self._asks.keys)

    def clear(self) -> None:
        """Remove every level and forget the update id."""
        self._bids.clear()
        self._asks.clear()
        self.update_id = None

    def apply(
        self, bids: Iterable[Sequence[Any]] = (), asks: Iterable[Sequence[Any]] = ()
    ) -> None:
        """Apply levels ``[price, size, ...]`` (extra fields ignored): a size of
        zero removes the level, any other size replaces it.

        Args:
            bids: Bid levels, in any order.
            asks: Ask levels, in any order.

        Raises:
            ValueError: A price or size is not a number, or a size is negative.
            IndexError: A level has fewer than two fields.
        """
        self._bids.apply(bids)
        self._asks.apply(asks)

    def load(
        self,
        bids: Iterable[Sequence[Any]],
        asks: Iterable[Sequence[Any]],
        update_id: int | None = None,
    ) -> None:
        """Replace the whole book with a snapshot (zero-size levels are skipped).

        Args:
            bids: Bid levels ``[price, size, ...]``.
            asks: Ask levels ``[price, size, ...]``.
            update_id: The snapshot's id.

        Raises:
            ValueError: As :meth:`apply`.
        """
        self.clear()
        self.apply(bids, asks)
        self.update_id = update_id

    def bids(self, depth: int | None = None) -> list[Level]:
        """The best ``depth`` bids (all when ``None``) as ``(price, size)``, highest first."""
        return self._bids.top(depth)

    def asks(self, depth: int | None = None) -> list[Level]:
        """The best ``depth`` asks (all when ``None``) as ``(price, size)``, lowest first."""
        return self._asks.top(depth)

    def raw_bids(self, depth: int | None = None) -> list[RawLevel]:
        """As :meth:`bids`, with the venue's own strings."""
        return self._bids.raw(depth)

    def raw_asks(self, depth: int | None = None) -> list[RawLevel]:
        """As :meth:`asks`, with the venue's own strings."""
        return self._asks.raw(depth)

    @property
    def best_bid(self) -> Level | None:
        """The highest bid ``(price, size)``, or ``None`` when there is no bid."""
        return self._bids.best()

    @property
    def best_ask(self) -> Level | None:
        """The lowest ask ``(price, size)``, or ``None`` when there is no ask."""
        return self._asks.best()

    @property
    def spread(self) -> float | None:
        """``best ask - best bid``, or ``None`` when a side is empty."""
        if not self._bids.keys or not self._asks.keys:
            return None
        return self._asks.keys[0] + self._bids.keys[0]  # bids are negated

    @property
    def mid(self) -> float | None:
        """``(best bid + best ask) / 2``, or ``None`` when a side is empty."""
        if not self._bids.keys or not self._asks.keys:
            return None
        return (self._asks.keys[0] - self._bids.keys[0]) / 2

    @property
    def crossed(self) -> bool:
        """Whether the best bid is at or above the best ask: a book no venue can have."""
        bids = self._bids.keys
        asks = self._asks.keys
        return bool(bids) and bool(asks) and -bids[0] >= asks[0]

    def checksum(self, depth: int = OKX_CHECKSUM_DEPTH) -> int:
        """OKX's CRC32 of the top ``depth`` levels (see :func:`okx_checksum`)."""
        return okx_checksum(self._bids.raw(depth), self._asks.raw(depth))


def okx_checksum(bids: Sequence[RawLevel], asks: Sequence[RawLevel]) -> int:
    """OKX's order-book checksum: a signed CRC32 of the interleaved top levels.

    OKX's documented algorithm: take the best 25 bids and asks as the venue's
    strings and join ``bid price:bid size:ask price:ask size`` level by level
    with ``:`` (when one side runs out, the other continues alone), then take
    the CRC32 of the UTF-8 text as a signed 32-bit integer.

    Args:
        bids: Bid levels best first (only the first 25 are used).
        asks: Ask levels best first (only the first 25 are used).

    Returns:
        The checksum, comparable with the ``checksum`` field of OKX's ``books``
        messages.
    """
    parts: list[str] = []
    for i in range(OKX_CHECKSUM_DEPTH):
        if i < len(bids):
            parts += bids[i][:2]
        if i < len(asks):
            parts += asks[i][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc
