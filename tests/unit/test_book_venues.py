"""Venue rules: parsing Binance, Bybit and OKX messages and snapshots (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from wsevents.book import (
    BINANCE_FUTURES,
    BINANCE_SPOT,
    BYBIT,
    OKX,
    BinanceFutures,
    BinanceSpot,
    BookError,
    OrderBook,
    Sequencing,
    Snapshot,
    Update,
    Venue,
)
from wsevents.book._venue import plain_diff_keys


def test_binance_spot_and_futures() -> None:
    spot = {"e": "depthUpdate", "E": 1, "s": "BNBBTC", "U": 157, "u": 160,
            "b": [["0.0024", "10"]], "a": [["0.0026", "100"]]}
    assert BINANCE_SPOT.parse(spot) == Update(
        "BNBBTC", False, 157, 160, None, [["0.0024", "10"]], [["0.0026", "100"]]
    )
    assert BINANCE_SPOT.sequencing is Sequencing.CONTIGUOUS
    assert not BINANCE_SPOT.socket_snapshots
    futures = {**spot, "pu": 149}
    assert BINANCE_FUTURES.parse(futures).prev == 149
    assert BINANCE_FUTURES.sequencing is Sequencing.CHAINED


@pytest.mark.parametrize(
    ("venue", "message", "needle"),
    [
        (BINANCE_SPOT, {"s": "X", "u": 1, "b": [], "a": []}, "'U'"),
        (BINANCE_SPOT, [1, 2], "'s'"),
        (BINANCE_FUTURES, {"s": "X", "U": 1, "u": 1, "b": [], "a": []}, "'pu'"),
        (BYBIT, {"type": "delta"}, "'data'"),
        (BYBIT, {"type": "nope", "data": {}}, "unknown type"),
        (BYBIT, {"type": "delta", "data": {"s": "X", "u": "7", "b": [], "a": []}}, "not int"),
        (OKX, {"arg": {"instId": "A"}, "action": "bad", "data": []}, "unknown action"),
        (OKX, {"arg": {"instId": "A"}, "action": "update", "data": []}, "one book"),
        (OKX, {"arg": {"instId": "A"}, "action": "update", "data": [{"seqId": 1}]}, "prevSeqId"),
    ],
)
def test_bad_messages_name_the_problem(venue: Venue, message: Any, needle: str) -> None:
    with pytest.raises(BookError, match=needle):
        venue.parse(message)


def test_binance_well_formed_keys_with_a_bad_shape_still_fail_clearly() -> None:
    class Weird(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            if key == "a":
                raise TypeError("no")
            return super().__getitem__(key)

    with pytest.raises(BookError):
        BINANCE_SPOT.parse(Weird(s="X", U=1, u=1, b=[], a=[]))
    with pytest.raises(BookError):
        BINANCE_FUTURES.parse(Weird(s="X", U=1, u=1, pu=0, b=[], a=[]))

    class Flaky(dict[str, Any]):
        """Fails once, then answers: the error still says what the message was."""

        failed = False

        def __getitem__(self, key: str) -> Any:
            if not self.failed:
                self.failed = True
                raise KeyError(key)
            return super().__getitem__(key)

    with pytest.raises(BookError, match="not a depth update"):
        BINANCE_SPOT.parse(Flaky(s="X", U=1, u=1, b=[], a=[]))


def test_bybit_snapshot_delta_and_u1_reset() -> None:
    delta = {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1,
             "data": {"s": "BTCUSDT", "b": [["1", "2"]], "a": [], "u": 18, "seq": 7}}
    update = BYBIT.parse(delta)
    assert (update.symbol, update.snapshot, update.first, update.last) == ("BTCUSDT", False, 18, 18)
    assert BYBIT.parse({**delta, "type": "snapshot"}).snapshot
    reset = {**delta, "data": {**delta["data"], "u": 1}}
    assert BYBIT.parse(reset).snapshot  # u == 1: a snapshot whatever the type says
    assert BYBIT.socket_snapshots


def test_okx_update_and_checksum() -> None:
    message = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update",
               "data": [{"asks": [["3366.8", "9", "0", "3"]], "bids": [], "ts": "1",
                         "checksum": -5, "prevSeqId": 10, "seqId": 12}]}
    update = OKX.parse(message)
    assert update == Update("BTC-USDT", False, 12, 12, 10, [], [["3366.8", "9", "0", "3"]], -5)
    book = OrderBook("BTC-USDT")
    book.apply(bids=[["3366.1", "7"]], asks=[["3366.8", "9"]])
    assert OKX.has_checksum
    assert OKX.book_checksum(book) == book.checksum()


def test_snapshot_replies() -> None:
    reply = {"lastUpdateId": 5, "bids": [["1", "1"]], "asks": []}
    assert BINANCE_SPOT.parse_snapshot("X", reply) == Snapshot(5, [["1", "1"]], [])
    snap = Snapshot(1, [], [])
    assert BINANCE_SPOT.parse_snapshot("X", snap) is snap
    with pytest.raises(BookError, match="X: binance snapshot needs lastUpdateId"):
        BINANCE_SPOT.parse_snapshot("X", {"bids": []})
    with pytest.raises(BookError, match="not an integer"):
        BINANCE_SPOT.parse_snapshot("X", {"lastUpdateId": "5", "bids": [], "asks": []})


def test_the_base_venue_is_abstract() -> None:
    venue = Venue()
    with pytest.raises(NotImplementedError):
        venue.parse({})
    with pytest.raises(NotImplementedError):
        venue.book_checksum(OrderBook("X"))


def test_diff_keys_are_used_only_with_the_parse_they_match() -> None:
    """The keeper reads a diff by ``diff_keys`` only when the class that gives
    ``parse`` gives them too: a subclass changing one of them alone, or an
    instance given its own, is parsed."""
    assert plain_diff_keys(BINANCE_SPOT) == ("s", "U", "u", None, "b", "a")
    assert plain_diff_keys(BINANCE_FUTURES) == ("s", "U", "u", "pu", "b", "a")
    assert plain_diff_keys(BYBIT) is None
    assert plain_diff_keys(OKX) is None

    class OwnParse(BinanceSpot):
        def parse(self, message: Any) -> Update:
            return super().parse(message)

    class OwnKeys(BinanceSpot):
        diff_keys = ("S", "U", "u", None, "b", "a")

    class Both(BinanceSpot):
        diff_keys = ("S", "U", "u", None, "b", "a")

        def parse(self, message: Any) -> Update:
            return super().parse({**message, "s": message["S"]})

    class KeysOverAnotherParse(OwnParse):
        diff_keys = ("S", "U", "u", None, "b", "a")

    class Neither(BinanceFutures):
        pass

    assert plain_diff_keys(OwnParse()) is None
    assert plain_diff_keys(OwnKeys()) is None
    assert plain_diff_keys(Both()) == ("S", "U", "u", None, "b", "a")
    assert plain_diff_keys(KeysOverAnotherParse()) is None
    assert plain_diff_keys(Neither()) == ("s", "U", "u", "pu", "b", "a")
    patched = BinanceSpot()
    patched.parse = BINANCE_SPOT.parse  # type: ignore[method-assign]
    assert plain_diff_keys(patched) is None
