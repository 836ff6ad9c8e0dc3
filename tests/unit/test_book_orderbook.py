"""OrderBook: sorted levels, reads, crossed detection, OKX's checksum (pure)."""

from __future__ import annotations

import copy
import math
import pickle
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from wsevents.book import OrderBook, _book, okx_checksum


#: every test here runs on the compiled book sides and on the pure-Python ones
pytestmark = pytest.mark.usefixtures("level_loop")


def test_levels_sorted_best_first_and_removed_at_zero() -> None:
    book = OrderBook("BTCUSDT")
    assert book.best_bid is None
    assert book.best_ask is None
    assert book.spread is None
    assert book.mid is None
    assert not book.crossed
    book.apply(
        bids=[["99.5", "1"], ["100", "2"], ["98", "3"]],
        asks=[["101", "1.5"], ["100.5", "0.25"], ["103", "4"]],
    )
    assert book.bids() == [(100.0, 2.0), (99.5, 1.0), (98.0, 3.0)]
    assert book.asks(2) == [(100.5, 0.25), (101.0, 1.5)]
    assert book.best_bid == (100.0, 2.0)
    assert book.best_ask == (100.5, 0.25)
    assert book.spread == 0.5
    assert book.mid == 100.25
    assert len(book) == 6
    book.apply(bids=[["100.0", "0"], ["97", "0.000"]], asks=[["100.50", "3"]])
    assert book.raw_bids() == [("99.5", "1"), ("98", "3")]
    # "100.50" is the level "100.5": its size replaced, known by its first spelling
    assert book.raw_asks(1) == [("100.5", "3")]
    book.apply(asks=[["100.500", "0"]])
    assert book.best_ask == (101.0, 1.5)
    assert "BTCUSDT" in repr(book)


def test_load_replaces_and_clear_empties() -> None:
    book = OrderBook("X")
    book.apply(bids=[["1", "1"]])
    book.load([["2", "1"], ["3", "0"]], [["4", "1"]], 42)
    assert book.bids() == [(2.0, 1.0)]
    assert book.update_id == 42
    book.clear()
    assert len(book) == 0
    assert book.update_id is None


def test_crossed_and_locked_books_are_detected() -> None:
    book = OrderBook("X")
    book.apply(bids=[["100", "1"]], asks=[["101", "1"]])
    assert not book.crossed
    book.apply(asks=[["100", "1"]])
    assert book.crossed  # locked: bid == ask
    book.apply(asks=[["100", "0"], ["99", "1"]])
    assert book.crossed


@pytest.mark.parametrize(
    ("level", "error"),
    [
        (["abc", "1"], ValueError),
        (["1", "-2"], ValueError),
        (["nan", "1"], ValueError),
        (["1", "inf"], ValueError),
        (["1", "nan"], ValueError),
        (["1"], IndexError),
    ],
)
def test_bad_levels_raise(level: list[str], error: type[Exception]) -> None:
    book = OrderBook("X")
    with pytest.raises(error):
        book.apply(bids=[level])


def test_numbers_are_accepted_and_kept_as_text() -> None:
    book = OrderBook("X")
    book.apply(bids=[[1.5, 2]])
    assert book.raw_bids() == [("1.5", "2")]


def test_okx_checksum_matches_okx_documented_examples() -> None:
    """The two examples of OKX's documentation (even and odd depths)."""
    even = okx_checksum([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
    assert even == -1881014294
    odd = okx_checksum([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")])
    assert odd == 831078360
    book = OrderBook("BTC-USDT")
    book.apply(
        bids=[["3366.1", "7", "0", "3"], ["3366", "6", "3", "4"]],
        asks=[["3366.8", "9", "10", "3"], ["3368", "8", "3", "4"]],
    )
    assert book.checksum() == -1881014294


def test_checksum_covers_only_the_top_25_levels() -> None:
    book = OrderBook("X")
    book.apply(bids=[[str(1000 - i), "1"] for i in range(30)])
    before = book.checksum()
    book.apply(bids=[["900", "5"]])  # far below the 25th level
    assert book.checksum() == before
    book.apply(bids=[["999", "5"]])
    assert book.checksum() != before


prices = st.integers(1, 400).map(lambda t: f"{t / 4:.2f}")
sizes = st.sampled_from(["0", "1", "0.5", "2.25", "0.000"])


@given(st.lists(st.tuples(st.booleans(), prices, sizes), max_size=80))
def test_book_equals_a_dict_model(updates: list[tuple[bool, str, str]]) -> None:
    """Any sequence of level updates: the book equals a plain dict, sorted."""
    book = OrderBook("X")
    model: dict[bool, dict[float, float]] = {True: {}, False: {}}
    for is_bid, price, size in updates:
        if is_bid:
            book.apply(bids=[[price, size]])
        else:
            book.apply(asks=[[price, size]])
        side = model[is_bid]
        if float(size):
            side[float(price)] = float(size)
        else:
            side.pop(float(price), None)
    assert book.bids() == sorted(model[True].items(), reverse=True)
    assert book.asks() == sorted(model[False].items())
    assert len(book) == len(model[True]) + len(model[False])
    if model[True] and model[False]:
        best_bid, best_ask = max(model[True]), min(model[False])
        assert book.crossed == (best_bid >= best_ask)
        assert math.isclose(book.spread or 0.0, best_ask - best_bid)


def test_removed_levels_stay_dead_until_back_trimmed_or_compacted() -> None:
    """A removal leaves its key in the sorted list, dead: reads skip it, the head is
    trimmed, the level can come back under another spelling, and a side with more
    dead keys than live ones is compacted when a new price arrives."""
    book = OrderBook("X")
    book.apply(bids=[["100", "1"], ["99", "2"], ["98", "3"]], asks=[["101", "1"]])
    book.apply(bids=[["100", "0"], ["99", "0.00"]])
    assert len(book) == 2
    assert "1 bids / 1 asks" in repr(book)
    assert book.bids() == [(98.0, 3.0)]
    assert book.best_bid == (98.0, 3.0)
    assert book.spread == 3.0
    assert book.mid == 99.5
    book.apply(bids=[["99.0", "4"]])  # back, known by its new spelling
    assert book.raw_bids() == [("99.0", "4"), ("98", "3")]
    book.apply(bids=[["99.0", "0"], [99.0, 5]])  # a number: through the general path
    assert book.raw_bids(1) == [("99.0", "5")]
    book.apply(bids=[["99.00", "0"], ["98", "0"]])  # another spelling removes it too
    assert book.bids() == []
    assert book.best_bid is None
    assert book.spread is None
    assert not book.crossed
    assert book.bids(0) == []
    book.apply(bids=[["97", "1"], ["96", "2"], ["95", "3"]])
    assert book.bids(-1) == [(97.0, 1.0), (96.0, 2.0)]  # as a slice, before too

    many = OrderBook("Y")
    many.apply(asks=[[str(1000 + i), "1"] for i in range(200)])
    many.apply(asks=[[str(1000 + i), "0"] for i in range(1, 200)])
    assert many.asks(5) == [(1000.0, 1.0)]
    side = many._asks
    assert len(side.in_place()) == 200  # 199 dead keys, still in place
    many.apply(asks=[["2000", "2"]])  # a new price: the dead ones go first
    assert side.in_place() == [1000.0, 2000.0]
    assert many.asks() == [(1000.0, 1.0), (2000.0, 2.0)]
    many.apply(asks=[["1000", "0"]])
    assert many.best_ask == (2000.0, 2.0)
    assert side.in_place() == [2000.0]  # the dead head was trimmed by the read
    many.apply(asks=[["3000", "1"], ["1000", "7"]])  # a trimmed level is a new one
    assert side.in_place() == [1000.0, 2000.0, 3000.0]
    assert many.raw_asks() == [("1000", "7"), ("2000", "2"), ("3000", "1")]


#: what venues send, and what they should not: other spellings of a number (a
#: sign, an exponent, spaces, underscores, non-ASCII digits, too many digits),
#: non-numbers, NaN and infinities, and other types than str
weird_texts = st.sampled_from(
    ["1", "1.5", "1.50", "01.5", "1.", ".5", "0", "0.000", "-0", "+2", "1e2", "1E-1", " 3",
     "4 ", "1_0", "\u0661\u0662", "12345678901234567", "0.0000000000000001", "1" * 400,
     "-1", "nan", "inf", "-inf", "", ".", "1..2", "x", "\x00", "1.500", "2.2500", "1.5e0",
     "95604230411.44269", "4.3915000806360837", "9007199254740993", "0.1", "0.3"]
)
#: few prices, so that levels come back, and under other spellings
few_prices = st.sampled_from(["1", "1.0", "1.5", "1.50", "01.5", "2", "2.25", "3"])
weird_levels = st.one_of(
    st.tuples(few_prices, sizes).map(list),
    st.tuples(few_prices, weird_texts).map(list),
    st.tuples(weird_texts, sizes).map(list),
    st.tuples(st.one_of(few_prices, weird_texts), sizes, st.just("extra")),
    st.tuples(st.one_of(few_prices, st.floats(), st.integers(-5, 5)),
              st.one_of(sizes, st.floats(), st.integers(-5, 5))).map(list),
    st.just([]),
    st.just(["1"]),
)


def _state(book: OrderBook) -> tuple[object, ...]:
    sides = (book._bids, book._asks)
    return tuple((s.in_place(), s.raw(None), s.top(None), len(s)) for s in sides)


@pytest.mark.parametrize("level_loop", ["compiled"], indirect=True)
@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(weird_levels, max_size=6), max_size=30))
def test_the_compiled_side_does_what_the_python_side_does(
    batches: list[list[list[object]]],
) -> None:
    """Any batches of levels, good and bad: the compiled side reads as the
    pure-Python side does after each batch (levels, the venue's strings, dead
    keys in place, the best level), and raises the same error after applying
    the same levels."""
    compiled, pure = OrderBook("C"), OrderBook("P")
    pure._bids = _book._PySide(-1.0)
    assert type(compiled._bids) is not type(pure._bids)
    for levels in batches:
        outcome: list[object] = []
        for side in (compiled._bids, pure._bids):
            try:
                side.apply(levels)
                outcome.append(None)
            except Exception as exc:  # noqa: BLE001 - compared below
                outcome.append((type(exc), str(exc)))
        assert outcome[0] == outcome[1]
        assert compiled._bids.in_place() == pure._bids.in_place()  # before a read trims
        assert compiled.best_bid == pure.best_bid
        assert _state(compiled)[0] == _state(pure)[0]
    assert compiled.raw_bids() == pure.raw_bids()


@pytest.mark.parametrize("level_loop", ["compiled"], indirect=True)
def test_the_compiled_side_reads_prices_as_float_does() -> None:
    """The compiled side's own parse of plain decimals gives float()'s value
    (a level found again by its float key, never another one)."""
    assert _book._CSide is not None
    book = OrderBook("X")
    texts = [f"{i / 1000:.3f}" for i in range(1, 3000, 7)] + ["0.1", "0.3", "123456789.012345"]
    book.apply(bids=[[t, "1"] for t in texts])
    book.apply(bids=[[t, "0"] for t in texts])
    assert len(book) == 0
    book.apply(bids=[[t, "2"] for t in texts])  # every one back by its float key
    assert book._bids.in_place() == sorted(-float(t) for t in texts)
    assert book.bids(1) == [(123456789.012345, 2.0)]


@pytest.mark.parametrize("level_loop", ["compiled"], indirect=True)
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([8, 60, 700, 3000]))
def test_the_compiled_side_matches_under_churn(seed: int, spread: int) -> None:
    """Thousands of levels over few or many prices, removed and back, the head
    emptied and read: the compiled side's table grows, trims, compacts and
    shifts its entries back, and still reads as the pure-Python side does."""
    rng = random.Random(seed)
    compiled, pure = _book._Side(1.0), _book._PySide(1.0)
    for _ in range(60):
        batch = []
        for _ in range(rng.randint(1, 80)):
            tick = rng.randint(0, spread)
            price = f"{tick / 100:.2f}" if rng.random() < 0.9 else f"{tick / 100}"
            size = "0" if rng.random() < 0.45 else f"{rng.randint(1, 10**6) / 1000:.3f}"
            batch.append([price, size])
        if rng.random() < 0.2:  # a run of removals from the best level on
            best = pure.head()
            assert compiled.head() == best
            start = 0 if best is None else round(best * 100)
            batch += [[f"{t / 100:.2f}", "0"] for t in range(start, start + rng.randint(1, 50))]
        compiled.apply(batch)
        pure.apply(batch)
        assert len(compiled) == len(pure)
        assert compiled.in_place() == pure.in_place()
        read = rng.random()
        if read < 0.3:
            assert compiled.head() == pure.head()
        elif read < 0.6:
            depth = rng.randint(-3, 30)
            assert compiled.top(depth) == pure.top(depth)
            assert compiled.raw(depth) == pure.raw(depth)
        if rng.random() < 0.05:
            compiled.clear()
            pure.clear()
    assert compiled.raw(None) == pure.raw(None)
    assert compiled.best() == pure.best()


def test_a_size_whose_own_code_changes_later_levels_is_followed() -> None:
    """A size that is not a str runs its own ``__float__``: when it changes a later
    level of the same batch, that level is applied as it is by then (the compiled
    side parses prices ahead, and must not use them once foreign code has run)."""
    levels: list[list[object]] = [["1", "1"], ["2", "1"], ["".join(["4", "0"]), "1"]]

    class Sneaky:
        def __float__(self) -> float:
            # The price "40" is freed, and "50" most likely takes its memory: a
            # price parsed ahead is known by its object, which is not enough.
            levels[2][0] = None
            levels[2][0] = "".join(["5", "0"])
            levels[1][1] = "0"
            return 3.0

        def __str__(self) -> str:
            return "3"

    levels[0][1] = Sneaky()
    book = OrderBook("X")
    book.apply(asks=levels)
    assert book.raw_asks() == [("1", "3"), ("50", "1")]  # "2" removed before it was there
    book.apply(asks=[["50", "2"]])
    assert book.raw_asks() == [("1", "3"), ("50", "2")]


@pytest.mark.parametrize("level_loop", ["compiled"], indirect=True)
def test_apply_diff_takes_two_sides_and_says_whether_the_book_is_crossed() -> None:
    """``apply_diff`` (one call for a diff's two sides and the crossed check) takes
    the compiled module's own sides, and says why when given anything else."""
    from wsevents.book._levels import Side, apply_diff

    bids, asks = Side(-1.0), Side(1.0)
    assert apply_diff(bids, asks, [["100", "1"]], [["101", "1"]]) is False
    assert apply_diff(bids, asks, [["101", "2"]], []) is True  # bid at the ask
    assert apply_diff(bids, asks, [["101", "0"]], [["101", "0"]]) is False  # a side empty
    with pytest.raises(TypeError, match="Side objects"):
        apply_diff(bids, _book._PySide(1.0), [], [])
    with pytest.raises(TypeError, match="4 arguments"):
        apply_diff(bids, asks, [])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="sign"):
        Side(2.0)


def test_a_book_pickles_and_copies_with_its_levels() -> None:
    """``pickle`` and ``copy.deepcopy`` keep a book's levels (the venue's
    spellings, sizes that are not strings), its symbol and update id; the copy
    applies diffs on its own."""
    book = OrderBook("X")
    book.apply(
        bids=[["100", "1"], ["99.50", Decimal("2.5")], ["98", "3"]], asks=[["101", "2"]]
    )
    book.apply(bids=[["98", "0"]])  # a removed level is not kept
    book.update_id = 7
    for copied in (pickle.loads(pickle.dumps(book)), copy.deepcopy(book)):
        assert copied.symbol == "X"
        assert copied.update_id == 7
        assert copied.raw_bids() == [("100", "1"), ("99.50", "2.5")]
        assert copied.bids() == book.bids()
        assert copied.asks() == book.asks()
        assert copied.apply_diff([["101", "1"]], []) is True
        assert copied.best_bid == (101.0, 1.0)
        assert book.best_bid == (100.0, 1.0)  # the original is untouched
        assert not book.crossed


@pytest.mark.parametrize("level_loop", ["compiled"], indirect=True)
def test_a_pickle_loads_with_or_without_the_compiled_sides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A book pickled where the extension was built loads where it was not (and
    the other way round): the sides are restored as the install's own."""
    book = OrderBook("X")
    book.apply(bids=[["100", "1"]], asks=[["101", "2"]])
    data = pickle.dumps(book)
    monkeypatch.setattr(_book, "_Side", _book._PySide)
    pure = pickle.loads(data)
    assert type(pure._bids) is _book._PySide
    assert pure.raw_bids() == [("100", "1")]
    assert pure.apply_diff([["102", "1"]], []) is True  # bound to the pure sides
    data = pickle.dumps(pure)
    monkeypatch.undo()
    compiled = pickle.loads(data)
    assert type(compiled._bids) is _book._CSide
    assert compiled.raw_bids() == [("102", "1"), ("100", "1")]
