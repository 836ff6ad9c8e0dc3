"""Property tests of the snapshot + diff synchroniser (pure, no sockets).

A random true stream of diffs is perturbed on the way (dropped, repeated,
swapped) and snapshots arrive late and lagging.  Whenever the synchroniser
says LIVE, its book equals the reference rebuilt from the full true stream at
the book's update id; every perturbation that would make the book diverge is
a ``resync``; and an unperturbed tail always ends LIVE at the last id.

``WSEVENTS_HYPOTHESIS_PROFILE=thorough`` runs 5,000 examples instead of 200.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from wsevents.book import (
    BookState,
    OrderBook,
    ResyncReason,
    Sequencing,
    Snapshot,
    SymbolSync,
)
from wsevents.book._sync import APPLIED, NOTHING


#: every test here runs on the compiled book sides and on the pure-Python ones
pytestmark = pytest.mark.usefixtures("level_loop")


#: 200 examples per property by default (the suite runs on 2 cores);
#: ``WSEVENTS_HYPOTHESIS_PROFILE=thorough`` for 5,000.  Applied per test, so that
#: other modules' hypothesis settings are left alone.
EXAMPLES = {"default": 200, "thorough": 5000}[
    os.environ.get("WSEVENTS_HYPOTHESIS_PROFILE", "default")
]
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

BID_PRICES = [f"{p}.5" for p in range(90, 100)]
ASK_PRICES = [f"{p}.5" for p in range(101, 111)]
SIZES = ["0", "1", "2.5", "0.000", "3"]


@dataclass
class Diff:
    first: int
    last: int
    prev: int | None
    bids: list[list[str]]
    asks: list[list[str]]


@dataclass
class Truth:
    """The venue: diffs in order and the book after each id."""

    diffs: list[Diff] = field(default_factory=list)
    books: dict[int, tuple[dict[float, float], dict[float, float]]] = field(default_factory=dict)


def apply_model(side: dict[float, float], levels: list[list[str]]) -> None:
    for price, size in levels:
        if float(size):
            side[float(price)] = float(size)
        else:
            side.pop(float(price), None)


levels = st.lists(st.tuples(st.integers(0, 9), st.sampled_from(SIZES)), max_size=4)


@st.composite
def truths(draw: st.DrawFn, chained: bool) -> Truth:
    truth = Truth()
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    start = draw(st.integers(0, 50))
    for i in range(start):  # the book before the stream starts
        apply_model(bids, [[BID_PRICES[i % 10], "1"]])
    current = start
    truth.books[current] = (dict(bids), dict(asks))
    for _ in range(draw(st.integers(1, 30))):
        width = draw(st.integers(1, 3))
        first, last = current + 1, current + width
        b = [[BID_PRICES[i], s] for i, s in draw(levels)]
        a = [[ASK_PRICES[i], s] for i, s in draw(levels)]
        truth.diffs.append(Diff(first, last, current if chained else None, b, a))
        apply_model(bids, b)
        apply_model(asks, a)
        current = last
        truth.books[current] = (dict(bids), dict(asks))
    return truth


def book_as_model(sync: SymbolSync) -> tuple[dict[float, float], dict[float, float]]:
    return dict(sync.book.bids()), dict(sync.book.asks())


@dataclass
class Run:
    """Drives a SymbolSync through a perturbed delivery, snapshots on request."""

    truth: Truth
    sync: SymbolSync
    resyncs: list[ResyncReason] = field(default_factory=list)
    fetching: bool = False
    applied: list[int] = field(default_factory=list)

    def check(self) -> None:
        if self.sync.state is BookState.LIVE:
            uid = self.sync.book.update_id
            assert uid in self.truth.books, f"LIVE at {uid}, not an id of the stream"
            assert book_as_model(self.sync) == self.truth.books[uid]

    def carry_out(self, step: object) -> None:
        resync = getattr(step, "resync", None)
        if resync is not None:
            self.resyncs.append(resync.reason)
        if getattr(step, "fetch", False):
            self.fetching = True
        self.check()

    def snapshot_at(self, position: int) -> None:
        """Serve a snapshot of the truth as of diff index ``position`` (-1: before all)."""
        uid = self.truth.diffs[position].last if position >= 0 else min(self.truth.books)
        bids, asks = self.truth.books[uid]
        snap = Snapshot(
            uid,
            [[repr(p), repr(s)] for p, s in bids.items()],
            [[repr(p), repr(s)] for p, s in asks.items()],
        )
        self.fetching = False
        self.carry_out(self.sync.snapshot(snap, 0.0, generation=self.sync.generation))

    def deliver(self, diff: Diff) -> object:
        before = self.sync.book.update_id if self.sync.state is BookState.LIVE else None
        step = self.sync.update(diff.first, diff.last, diff.prev, diff.bids, diff.asks, None, 0.0)
        if step is APPLIED:
            assert before is not None
            self.applied.append(diff.last)
        self.carry_out(step)
        return step


perturbation = st.sampled_from(["ok", "ok", "ok", "ok", "drop", "repeat", "swap"])


@PROPERTY
@given(data=st.data(), chained=st.booleans(), max_buffer=st.integers(2, 40))
def test_live_book_always_equals_the_reference(
    data: st.DataObject, chained: bool, max_buffer: int
) -> None:
    truth = data.draw(truths(chained))
    sync = SymbolSync(
        "X",
        sequencing=Sequencing.CHAINED if chained else Sequencing.CONTIGUOUS,
        socket_snapshots=False,
        max_buffer=max_buffer,
    )
    run = Run(truth, sync)
    run.carry_out(sync.start(ResyncReason.START, 0.0))
    diffs = truth.diffs
    # The perturbed delivery, with the position in the truth each event reveals.
    plan = [data.draw(perturbation) for _ in diffs]
    delivered: list[tuple[int, Diff]] = []
    i = 0
    while i < len(diffs):
        kind = plan[i]
        if kind == "drop":
            pass
        elif kind == "repeat":
            delivered += [(i, diffs[i]), (i, diffs[i])]
        elif kind == "swap" and i + 1 < len(diffs):
            delivered += [(i + 1, diffs[i + 1]), (i, diffs[i])]
            i += 1
        else:
            delivered.append((i, diffs[i]))
        i += 1
    perturbed = any(k != "ok" for k in plan)
    seen = -1
    for position, diff in delivered:
        seen = max(seen, position)
        live_before = sync.state is BookState.LIVE
        last_before = sync.book.update_id
        step = run.deliver(diff)
        if live_before and step is not APPLIED and step is not NOTHING:
            assert step.resync is not None  # type: ignore[attr-defined]
        if live_before and step is NOTHING:
            assert last_before is not None
            assert diff.last <= last_before  # only a repeat or an older diff is dropped
        if run.fetching and data.draw(st.booleans(), label="snapshot now"):
            lag = data.draw(st.integers(0, 3), label="snapshot lag")
            run.snapshot_at(max(-1, seen - lag))
    # The feed calms down: a current snapshot if one is wanted.
    if run.fetching:
        run.snapshot_at(len(diffs) - 1)
    assert sync.state is BookState.LIVE
    if not perturbed:
        assert sync.book.update_id == diffs[-1].last
        assert run.resyncs == [ResyncReason.START] or ResyncReason.OVERFLOW in run.resyncs


@PROPERTY
@given(data=st.data(), chained=st.booleans())
def test_every_gap_while_live_is_a_resync(data: st.DataObject, chained: bool) -> None:
    """LIVE, then one diff is missing: the next one is a GAP resync, never applied."""
    truth = data.draw(truths(chained))
    diffs = truth.diffs
    if len(diffs) < 3:
        return
    sync = SymbolSync(
        "X",
        sequencing=Sequencing.CHAINED if chained else Sequencing.CONTIGUOUS,
        socket_snapshots=False,
        max_buffer=100,
    )
    run = Run(truth, sync)
    run.carry_out(sync.start(ResyncReason.START, 0.0))
    run.deliver(diffs[0])
    run.snapshot_at(-1)
    assert sync.state is BookState.LIVE
    missing = data.draw(st.integers(1, len(diffs) - 2))
    for diff in diffs[1:missing]:
        assert run.deliver(diff) is APPLIED
    step = run.deliver(diffs[missing + 1])
    assert step.resync is not None  # type: ignore[attr-defined]
    assert step.resync.reason is ResyncReason.GAP  # type: ignore[attr-defined]
    assert sync.state is BookState.SYNCING
    assert len(sync.book) == 0


@PROPERTY
@given(data=st.data(), chained=st.booleans())
def test_socket_snapshots_live_book_always_equals_the_reference(
    data: st.DataObject, chained: bool
) -> None:
    """Venues that send snapshots in the stream (Bybit, OKX): a snapshot of the
    current book arrives at random points (after a subscription, or unasked); the
    diffs are dropped, repeated and swapped on the way.  LIVE implies the
    reference book; a dropped diff followed by another is always a resync."""
    truth = data.draw(truths(chained))
    sync = SymbolSync(
        "X",
        sequencing=Sequencing.CHAINED if chained else Sequencing.CONTIGUOUS,
        socket_snapshots=True,
        max_buffer=10,
    )
    run = Run(truth, sync)
    run.carry_out(sync.start(ResyncReason.START, 0.0))
    diffs = truth.diffs
    position = -1  # the last diff the venue produced
    i = 0
    while i < len(diffs):
        if data.draw(st.integers(0, 5), label="snapshot?") == 0:
            uid = diffs[position].last if position >= 0 else min(truth.books)
            bids, asks = truth.books[uid]
            snap = Snapshot(
                uid,
                [[repr(p), repr(s)] for p, s in bids.items()],
                [[repr(p), repr(s)] for p, s in asks.items()],
            )
            run.carry_out(sync.snapshot(snap, 0.0))
            assert sync.state is BookState.LIVE
        kind = data.draw(perturbation, label="delivery")
        position = i
        if kind == "drop":
            if sync.state is BookState.LIVE and i + 1 < len(diffs):
                step = run.deliver(diffs[i + 1])  # reveals the gap
                assert step is not APPLIED
                assert sync.state is BookState.SYNCING
                position = i + 1
                i += 1
        elif kind == "repeat":
            run.deliver(diffs[i])
            assert run.deliver(diffs[i]) is not APPLIED
        elif kind == "swap" and i + 1 < len(diffs):
            was_live = sync.state is BookState.LIVE
            step = run.deliver(diffs[i + 1])
            if was_live:
                assert step is not APPLIED
            run.deliver(diffs[i])
            position = i + 1
            i += 1
        else:
            run.deliver(diffs[i])
        i += 1


@PROPERTY
@given(data=st.data())
def test_every_checksum_mismatch_is_a_resync(data: st.DataObject) -> None:
    """OKX-style updates with the venue's checksum: a right one is applied, any
    wrong one is a CHECKSUM resync, whatever the book."""
    truth = data.draw(truths(chained=True))
    sync = SymbolSync(
        "X",
        sequencing=Sequencing.CHAINED,
        socket_snapshots=True,
        max_buffer=10,
        checksum=OrderBook.checksum,
    )
    reference = OrderBook("ref")
    start = min(truth.books)
    bids, asks = truth.books[start]
    levels = (
        [[repr(p), repr(s)] for p, s in bids.items()],
        [[repr(p), repr(s)] for p, s in asks.items()],
    )
    reference.load(*levels, start)
    step = sync.snapshot(Snapshot(start, *levels), 0.0, checksum=reference.checksum())
    assert step.synced is not None
    for diff in truth.diffs:
        reference.apply(diff.bids, diff.asks)
        right = reference.checksum()
        wrong = data.draw(st.booleans(), label="corrupt?")
        sent = right ^ data.draw(st.integers(1, 2**31 - 1)) if wrong else right
        step = sync.update(diff.first, diff.last, diff.prev, diff.bids, diff.asks, sent, 0.0)
        if wrong:
            assert step.resync is not None
            assert step.resync.reason is ResyncReason.CHECKSUM
            return
        assert step is APPLIED
        assert sync.book.raw_bids() == reference.raw_bids()
