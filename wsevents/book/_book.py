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

A side is compiled when the install had a C compiler
(``wsevents/book/_levels.c``, :class:`wsevents.book._levels.Side`) and pure
Python otherwise (:class:`_PySide`); both read the same levels the same way and
raise the same errors (the tests run every book test on both, and compare them
on random and malformed input).

The compiled side keeps its levels as numbers: a hash table keyed by the
signed float price (bids negated, so both sides ascend from the best level)
holds each level's size as a double, the venue's size string copied inline,
and the price string the level is known by; a sorted array holds the signed
prices.  A level of a diff is found by parsing its price (no str hashing or
comparison), and nothing of the decoded message is kept, so it is freed as a
plain handler's is.  The pure side keeps the sizes by the venue's price
string, the price strings by float key, and a sorted list of keys: updating a
level the venue spells as before is one dict lookup and one store.

Both leave a removed level's key in place, *dead*, until the level comes back
(no ``bisect`` either way) or reaches the head of the list, where reads drop
it; the keys are compacted when dead ones outnumber live ones.  A new price is
one ``bisect`` and one insertion (another spelling of a known price,
``"1.50"`` for ``"1.5"``, is the same level, found through its float; a
removed level back takes the spelling it comes back with).  The best level is
the first live key (O(1) amortised) and depth ``n`` reads ``n`` live keys
(O(n + dead keys among them)).

.. versionadded:: 0.1
"""

from __future__ import annotations

import functools
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias


if TYPE_CHECKING:
    from ._levels import Side


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


class _PySide:
    """One side of a book in pure Python: sizes by the venue's price string, and
    the prices (as signed floats) sorted best first, removed ones left dead in
    place.  ``wsevents.book._levels.Side`` (C) does the same with the levels as
    numbers; this one runs where the extension was not built."""

    __slots__ = ("keys", "names", "sign", "sizes")

    def __init__(self, sign: float) -> None:
        #: +1.0 for asks (lowest first), -1.0 for bids (highest first)
        self.sign = sign
        #: the live levels: the venue's price string -> its size as given (a
        #: string, normally): an update of a level the venue spells as before is
        #: one lookup and one store, a removal one deletion
        self.sizes: dict[str, Any] = {}
        #: signed price -> the price string the level is known by (live or dead)
        self.names: dict[float, str] = {}
        #: the signed prices, ascending (best first); a key whose name is not in
        #: ``sizes`` is dead (removed, left in place until trimmed or compacted)
        self.keys: list[float] = []

    def clear(self) -> None:
        self.sizes.clear()
        self.names.clear()
        self.keys.clear()

    def __len__(self) -> int:
        return len(self.sizes)

    def apply(self, updates: Iterable[Sequence[Any]]) -> None:
        """Set each level's size; a zero size removes the level.

        Raises:
            ValueError: A price or size is not a number, a size is negative or
                not finite, or a new price is not finite; the levels before it
                were applied.
            IndexError: A level has fewer than two fields.
        """
        sizes = self.sizes
        inf = _INF
        names = self.names
        for level in updates:
            price = level[0]
            size = level[1]
            if price in sizes:
                # A level the venue spells as before: no parsing of the price.
                amount = float(size)
                if 0.0 < amount < inf:
                    sizes[price] = size
                    continue
                if amount == 0.0:
                    del sizes[price]  # its key stays in ``keys``, dead
                    continue
            elif price.__class__ is str:
                # A dead level back (the common case after a removal), or a new one.
                key = self.sign * float(price)
                amount = float(size)
                if 0.0 < amount < inf and -inf < key < inf:
                    name = names.get(key)
                    if name is not None and name not in sizes:
                        names[key] = price
                        sizes[price] = size
                        continue
            self._other(level, price, size)

    def _other(self, level: Sequence[Any], price: Any, size: Any) -> None:
        """A new level, a dead one back, another spelling of a known price, or bad input."""
        text = price if price.__class__ is str else str(price)
        key = self.sign * float(text)
        amount = float(size)
        if not -_INF < key < _INF or amount != amount or amount < 0.0 or amount == _INF:
            raise ValueError(f"bad level {list(level)!r}: negative or not finite")
        names = self.names
        sizes = self.sizes
        name = names.get(key)
        if amount:
            if name is None:
                # A new price, known from now on by this spelling.
                keys = self.keys
                if len(keys) > 2 * len(sizes) + 64:
                    self._compact()
                keys.insert(bisect_left(keys, key), key)
                names[key] = text
                sizes[text] = size
            elif name in sizes:
                sizes[name] = size  # another spelling of a live level
            else:
                names[key] = text  # a dead level back, known by this spelling now
                sizes[text] = size
        elif name is not None and name in sizes:
            del sizes[name]

    def _compact(self) -> None:
        """Drop every dead key (in place: callers hold ``keys``)."""
        names = self.names
        sizes = self.sizes
        live = [key for key in self.keys if names[key] in sizes]
        self.keys[:] = live
        kept = {key: names[key] for key in live}
        names.clear()
        names.update(kept)

    def trim(self) -> None:
        """Drop the dead keys at the head: ``keys[0]``, if any, is the best live level."""
        keys = self.keys
        names = self.names
        sizes = self.sizes
        dead = 0
        for key in keys:
            if names[key] in sizes:
                break
            del names[key]
            dead += 1
        del keys[:dead]

    def head(self) -> float | None:
        """The best live signed price, or ``None`` when the side is empty."""
        keys = self.keys
        if keys and self.names[keys[0]] not in self.sizes:
            self.trim()
        return keys[0] if keys else None

    def _live(self, depth: int | None) -> list[tuple[float, str]]:
        """The best ``depth`` live levels (all when ``None``) as ``(signed price, name)``."""
        self.head()
        names = self.names
        sizes = self.sizes
        if depth is not None and depth < 0:  # as a slice ``[:depth]`` of every level
            return self._live(None)[:depth]
        want = len(sizes) if depth is None else depth
        out: list[tuple[float, str]] = []
        if want:
            for key in self.keys:
                name = names[key]
                if name in sizes:
                    out.append((key, name))
                    if len(out) == want:
                        break
        return out

    def top(self, depth: int | None) -> list[Level]:
        sizes = self.sizes
        sign = self.sign
        return [(sign * key, float(sizes[name])) for key, name in self._live(depth)]

    def raw(self, depth: int | None) -> list[RawLevel]:
        sizes = self.sizes
        return [(name, _text(sizes[name])) for _key, name in self._live(depth)]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and copied) as its live levels, through :func:`_restore_side`."""
        sizes = self.sizes
        return (_restore_side, (self.sign, [[name, sizes[name]] for _k, name in self._live(None)]))

    def in_place(self) -> list[float]:
        """The signed prices in place, live and dead (removed, not yet trimmed
        or compacted), best first."""
        return list(self.keys)

    def best(self) -> Level | None:
        key = self.head()
        if key is None:
            return None
        return (self.sign * key, float(self.sizes[self.names[key]]))


def _apply_diff(bids_side: _PySide, asks_side: _PySide, bids: Any, asks: Any) -> bool:
    """What ``wsevents.book._levels.apply_diff`` does, for the pure-Python sides."""
    bids_side.apply(bids)
    asks_side.apply(asks)
    bid = bids_side.head()
    ask = asks_side.head()
    return bid is not None and ask is not None and -bid >= ask


def _restore_side(sign: float, levels: list[list[Any]]) -> Side | _PySide:
    """A side unpickled (or copied): whichever side this install has, so that a
    pickle loads with or without the compiled extension."""
    side = _Side(sign)
    side.apply(levels)
    return side


#: The compiled side (``wsevents/book/_levels.c``), or ``None`` when the
#: extension was not built (no C compiler at install).
_CSide: type[Side] | None
try:
    from ._levels import Side as _CSide, apply_diff as _c_apply_diff
except ImportError:  # pragma: no cover - depends on the install having a C compiler
    _CSide = None

#: The side every :class:`OrderBook` is made of: the compiled one when it was
#: built, the pure-Python one otherwise (the tests run both).
_Side: type[Side] | type[_PySide] = _PySide if _CSide is None else _CSide


class OrderBook:
    """The price levels of one symbol: bids highest first, asks lowest first.

    The book only applies what it is given; :class:`~wsevents.book.BookKeeper`
    decides when (snapshot, diffs in sequence, resync).  Read it from a
    ``book:<symbol>`` handler, or at any time through
    :meth:`BookKeeper.book`.

    Args:
        symbol: The venue's symbol (``"BTCUSDT"``, ``"BTC-USDT"``).
    """

    __slots__ = ("_asks", "_bids", "apply_diff", "symbol", "update_id")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        """The venue's symbol."""
        self.update_id: int | None = None
        """The venue's id of the last update applied (``None`` before a snapshot)."""
        self._bids = _Side(-1.0)
        self._asks = _Side(1.0)
        self.apply_diff: Callable[[Any, Any], bool] = self._bind()
        """``apply_diff(bids, asks)``: :meth:`apply`, then whether the book is
        :attr:`crossed` (one call, for the path of every diff)."""

    def _bind(self) -> Callable[[Any, Any], bool]:
        apply_diff: Callable[..., bool] = (
            _c_apply_diff if self._bids.__class__ is _CSide else _apply_diff
        )
        return functools.partial(apply_diff, self._bids, self._asks)

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.symbol, self.update_id, self._bids, self._asks)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        """A book unpickled (or copied): its sides are this install's, and
        ``apply_diff`` is bound to them again."""
        self.symbol, self.update_id, self._bids, self._asks = state
        self.apply_diff = self._bind()

    def __repr__(self) -> str:
        return (
            f"<OrderBook {self.symbol} {len(self._bids)} bids / "
            f"{len(self._asks)} asks, best {self.best_bid} / {self.best_ask}>"
        )

    def __len__(self) -> int:
        """The number of price levels, both sides."""
        return len(self._bids) + len(self._asks)

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
        bid = self._bids.head()
        ask = self._asks.head()
        if bid is None or ask is None:
            return None
        return ask + bid  # bids are negated

    @property
    def mid(self) -> float | None:
        """``(best bid + best ask) / 2``, or ``None`` when a side is empty."""
        bid = self._bids.head()
        ask = self._asks.head()
        if bid is None or ask is None:
            return None
        return (ask - bid) / 2

    @property
    def crossed(self) -> bool:
        """Whether the best bid is at or above the best ask: a book no venue can have."""
        bid = self._bids.head()
        ask = self._asks.head()
        return bid is not None and ask is not None and -bid >= ask

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
