"""Sequence tracking and handover de-duplication (pure L1 code, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_backoff_mutants import config_error
from wsevents import Gap
from wsevents._tracking import Overlap, SequenceTracker, check_sequence_option


def seq(message: Any) -> int | None:
    return message.get("s") if isinstance(message, dict) else None


# -- check_sequence_option ----------------------------------------------------------


def test_sequence_option_accepts_none_callables_and_mappings() -> None:
    assert check_sequence_option(None) is None
    assert check_sequence_option(seq) is seq
    mapping = {"a": seq, "b": len}
    assert check_sequence_option(mapping) is mapping
    assert check_sequence_option({}) == {}


@pytest.mark.parametrize("value", [1, "s", ["a"], b"x"])
def test_sequence_option_rejects_other_values(value: Any) -> None:
    config_error(
        lambda: check_sequence_option(value),
        "sequence",
        value,
        "must be a callable, a mapping channel -> callable, or None",
    )


@pytest.mark.parametrize("value", [{"a": 1}, {1: seq}, {"a": seq, "b": None}])
def test_sequence_option_rejects_bad_entries(value: dict[Any, Any]) -> None:
    bad = next(k for k, v in value.items() if not (isinstance(k, str) and callable(v)))
    config_error(
        lambda: check_sequence_option(value),
        "sequence",
        value,
        f"entry {bad!r} must map a channel to a callable",
    )


# -- SequenceTracker ----------------------------------------------------------------


def test_number_with_one_function_for_every_channel() -> None:
    tracker = SequenceTracker(seq)
    assert tracker.number("a", {"s": 3}) == 3
    assert tracker.number(None, {"s": 4}) == 4
    assert tracker.number("a", {}) is None
    assert tracker.last == {}


def test_number_with_a_function_per_channel() -> None:
    calls: list[Any] = []

    def other(message: Any) -> int:
        calls.append(message)
        return 7

    tracker = SequenceTracker({"a": seq, "b": other})
    assert tracker.number("a", {"s": 1}) == 1
    assert tracker.number("b", {"s": 1}) == 7
    assert calls == [{"s": 1}]
    assert tracker.number("c", {"s": 1}) is None
    assert tracker.number(None, {"s": 1}) is None


def test_number_looks_up_none_channel_in_no_mapping() -> None:
    """A message with no channel is never looked up in the per-channel table."""
    tracker = SequenceTracker({None: seq})  # type: ignore[dict-item]
    assert tracker.number(None, {"s": 1}) is None


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_number_must_be_an_int(value: Any) -> None:
    tracker = SequenceTracker(lambda message: value)
    with pytest.raises(TypeError) as info:
        tracker.number("a", {})
    assert str(info.value) == f"sequence function returned {value!r}, not an int or None"


def test_number_passes_what_the_function_raises() -> None:
    def boom(message: Any) -> int:
        raise KeyError(message)

    with pytest.raises(KeyError):
        SequenceTracker(boom).number("a", "m")


def test_check_in_order_then_gaps_then_repeats() -> None:
    tracker = SequenceTracker(seq)
    assert tracker.check("a", 5) == (True, None)
    assert tracker.last == {"a": 5}
    assert tracker.check("a", 6) == (True, None)
    assert tracker.check("a", 9) == (True, Gap(channel="a", expected=7, received=9, missing=2))
    assert tracker.last == {"a": 9}
    assert tracker.check("a", 11) == (True, Gap(channel="a", expected=10, received=11, missing=1))
    assert tracker.check("a", 11) == (False, Gap(channel="a", expected=12, received=11, missing=0))
    assert tracker.check("a", 3) == (False, Gap(channel="a", expected=12, received=3, missing=0))
    assert tracker.last == {"a": 11}
    assert tracker.check("a", 12) == (True, None)


def test_check_keeps_channels_apart_and_names_none_as_empty() -> None:
    tracker = SequenceTracker(seq)
    assert tracker.check("a", 1) == (True, None)
    assert tracker.check("b", 10) == (True, None)
    assert tracker.check(None, 4) == (True, None)
    assert tracker.last == {"a": 1, "b": 10, "": 4}
    assert tracker.check(None, 6) == (True, Gap(channel="", expected=5, received=6, missing=1))
    assert tracker.check("", 7) == (True, None)


def test_is_old() -> None:
    tracker = SequenceTracker(seq)
    assert not tracker.is_old("a", 1)
    tracker.check("a", 5)
    assert tracker.is_old("a", 5)
    assert tracker.is_old("a", 4)
    assert not tracker.is_old("a", 6)
    assert not tracker.is_old("b", 1)
    tracker.check(None, 2)
    assert tracker.is_old(None, 2)
    assert tracker.is_old("", 1)


# -- Overlap ------------------------------------------------------------------------


def test_overlap_by_key() -> None:
    overlap = Overlap(lambda message: message["id"])
    assert overlap.seen == set()
    assert (overlap.duplicates, overlap.switched) == (0, False)
    overlap.record({"id": 1, "x": "a"})
    overlap.record({"id": 2, "x": "b"})
    assert overlap.seen == {1, 2}
    assert overlap.is_duplicate({"id": 1, "x": "other"})
    assert overlap.is_duplicate({"id": 2})
    assert overlap.duplicates == 2
    assert not overlap.switched
    assert not overlap.is_duplicate({"id": 3})
    assert overlap.switched
    assert overlap.seen == set()
    # after the switch nothing is a duplicate, and nothing is counted
    assert not overlap.is_duplicate({"id": 1})
    assert overlap.duplicates == 2


def test_overlap_by_equality() -> None:
    overlap = Overlap(None)
    assert overlap.seen == []
    overlap.record({"p": 1})
    overlap.record([1, 2])
    assert overlap.seen == [{"p": 1}, [1, 2]]
    assert overlap.is_duplicate([1, 2])
    assert overlap.duplicates == 1
    assert not overlap.is_duplicate({"p": 2})
    assert overlap.switched
    assert overlap.duplicates == 1
    assert not overlap.is_duplicate({"p": 1})
