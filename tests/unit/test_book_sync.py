"""SymbolSync, path by path (pure): buffering, straddles, resync reasons."""

from __future__ import annotations

import pytest

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


def make(
    sequencing: Sequencing = Sequencing.CONTIGUOUS,
    *,
    socket: bool = False,
    max_buffer: int = 10,
    checksum: bool = False,
) -> SymbolSync:
    sync = SymbolSync(
        "X",
        sequencing=sequencing,
        socket_snapshots=socket,
        max_buffer=max_buffer,
        checksum=OrderBook.checksum if checksum else None,
    )
    step = sync.start(ResyncReason.START, 10.0)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.START
    assert step.fetch
    return sync


SNAP = Snapshot(100, [["99", "1"]], [["101", "1"]])


def test_rest_snapshot_replays_the_buffer_and_reports_it() -> None:
    sync = make()
    assert sync.update(95, 98, None, [["90", "1"]], [], None, 10.5) is NOTHING  # buffered
    assert sync.update(99, 102, None, [["98", "2"]], [], None, 10.6) is NOTHING
    assert sync.update(103, 103, None, [["97", "3"]], [], None, 10.7) is NOTHING
    step = sync.snapshot(SNAP, 11.0, generation=sync.generation)
    assert step.update
    assert step.snapshot
    assert step.synced is not None
    assert (step.synced.replayed, step.synced.skipped, step.synced.snapshots) == (2, 1, 1)
    assert step.synced.duration == 1.0
    assert step.synced.update_id == 103
    assert sync.state is BookState.LIVE
    assert sync.book.bids() == [(99.0, 1.0), (98.0, 2.0), (97.0, 3.0)]
    assert "LIVE" in repr(sync)


def test_snapshot_of_an_older_generation_is_ignored() -> None:
    sync = make()
    old = sync.generation
    sync.start(ResyncReason.REQUESTED, 1.0)
    assert sync.snapshot(SNAP, 2.0, generation=old) is NOTHING
    assert sync.state is BookState.SYNCING


def test_first_update_after_the_snapshot_must_straddle() -> None:
    sync = make()
    sync.snapshot(SNAP, 0.0, generation=sync.generation)
    assert sync.update(90, 100, None, [], [], None, 0.0) is NOTHING  # stale
    step = sync.update(102, 104, None, [], [], None, 0.0)  # 101 is missing
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.GAP
    assert step.resync.expected == 101
    assert "older" in step.resync.detail
    assert sync.state is BookState.SYNCING


def test_chained_straddle_accepts_prev_equal_to_the_snapshot() -> None:
    sync = make(Sequencing.CHAINED)
    sync.snapshot(SNAP, 0.0, generation=sync.generation)
    assert sync.update(101, 105, 100, [["98", "1"]], [], None, 0.0) is APPLIED
    assert sync.update(106, 107, 105, [], [], None, 0.0) is APPLIED
    assert sync.update(106, 107, 105, [], [], None, 0.0) is NOTHING  # repeated
    step = sync.update(110, 112, 109, [], [], None, 0.0)
    assert step.resync is not None
    assert (step.resync.expected, step.resync.received) == (107, 109)


def test_overflow_is_a_resync() -> None:
    sync = make(max_buffer=2)
    sync.update(1, 1, None, [], [], None, 0.0)
    sync.update(2, 2, None, [], [], None, 0.0)
    step = sync.update(3, 3, None, [], [], None, 0.0)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.OVERFLOW
    assert step.fetch
    # the update that overflowed starts the new buffer
    step = sync.snapshot(Snapshot(2, [], []), 0.0, generation=sync.generation)
    assert step.synced is not None
    assert step.synced.replayed == 1
    assert sync.book.update_id == 3


def test_socket_venue_skips_until_its_snapshot_and_resets_when_live() -> None:
    sync = make(socket=True)
    assert sync.update(5, 5, None, [], [], None, 0.0) is NOTHING
    step = sync.snapshot(Snapshot(10, [["1", "1"]], []), 0.0)
    assert step.synced is not None
    assert step.synced.skipped == 1
    assert sync.update(11, 11, None, [["2", "1"]], [], None, 0.0) is APPLIED
    again = sync.snapshot(Snapshot(1, [["3", "1"]], []), 0.0)
    assert again.update
    assert again.snapshot
    assert again.synced is None  # no resync happened: the venue replaced its book
    assert sync.book.bids() == [(3.0, 1.0)]


def test_checksum_mismatch_and_crossed_books_resync() -> None:
    sync = make(Sequencing.CHAINED, socket=True, checksum=True)
    book = OrderBook("ref")
    book.apply(bids=[["99", "1"]], asks=[["101", "1"]])
    step = sync.snapshot(SNAP, 0.0, checksum=book.checksum())
    assert step.synced is not None
    book.apply(bids=[["98", "1"]])
    assert sync.update(105, 105, 100, [["98", "1"]], [], book.checksum(), 0.0) is APPLIED
    bad = sync.update(106, 106, 105, [["97", "1"]], [], 12345, 0.0)
    assert bad.resync is not None
    assert bad.resync.reason is ResyncReason.CHECKSUM
    assert bad.resync.received == 12345
    wrong_snapshot = sync.snapshot(SNAP, 0.0, checksum=1)
    assert wrong_snapshot.resync is not None
    assert wrong_snapshot.resync.reason is ResyncReason.CHECKSUM

    crossed = make(socket=True)
    crossed.snapshot(SNAP, 0.0)
    step = crossed.update(101, 101, None, [["102", "1"]], [], None, 0.0)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.CROSSED
    assert "102" in step.resync.detail


def test_bad_levels_resync_with_the_error() -> None:
    sync = make()
    step = sync.snapshot(Snapshot(1, [["x", "1"]], []), 0.0, generation=sync.generation)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.INVALID
    assert isinstance(step.error, ValueError)
    sync.snapshot(SNAP, 0.0, generation=sync.generation)
    step = sync.update(101, 101, None, [["1", "-1"]], [], None, 0.0)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.INVALID


def test_a_gap_inside_the_buffer_is_a_resync_at_replay() -> None:
    sync = make()
    sync.update(101, 101, None, [], [], None, 0.0)
    sync.update(103, 103, None, [], [], None, 0.0)  # 102 never came
    step = sync.snapshot(SNAP, 0.0, generation=sync.generation)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.GAP
    assert step.fetch
    assert sync.state is BookState.SYNCING


def test_bad_levels_in_the_straddling_and_the_live_updates() -> None:
    sync = make()
    sync.snapshot(SNAP, 0.0, generation=sync.generation)
    step = sync.update(101, 101, None, [["98", "x"]], [], None, 0.0)  # the straddling one
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.INVALID
    sync.snapshot(SNAP, 0.0, generation=sync.generation)
    assert sync.update(101, 101, None, [], [], None, 0.0) is APPLIED
    step = sync.update(102, 102, None, [["99", "-1"]], [], None, 0.0)  # a known level
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.INVALID
    assert "negative" in step.resync.detail


def test_a_straddling_update_that_crosses_the_book_resyncs() -> None:
    sync = make()
    sync.snapshot(SNAP, 0.0, generation=sync.generation)
    step = sync.update(100, 101, None, [["101.5", "1"]], [], None, 0.0)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.CROSSED


def test_levels_of_the_wrong_shape_resync_with_the_error() -> None:
    """A level that is a mapping (another venue's format) is a bad level, not a crash."""
    sync = make(socket=True)
    sync.snapshot(SNAP, 0.0)
    step = sync.update(101, 101, None, [{"price": "98", "size": "1"}], [], None, 0.0)
    assert step.resync is not None
    assert step.resync.reason is ResyncReason.INVALID
    assert isinstance(step.error, KeyError)
