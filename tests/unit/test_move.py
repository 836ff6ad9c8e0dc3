"""_move.Move between two real readers feeding one dispatcher, frames fed by hand in
a chosen order: the source ahead, the target ahead, sequence numbers, a quiet
channel, a failing dedup_key, the gates' removal."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wsevents._delivery import Dispatcher
from wsevents._emitter import Emitter
from wsevents._move import Move
from wsevents._reader import Reader
from wsevents._stats import Counters
from wsevents._tracking import SequenceTracker
from wsevents.routing import JsonProtocol


class Side:
    """One shard's reader, counters, and a way to feed it a frame."""

    def __init__(self, dispatcher: Dispatcher, tracked: bool) -> None:
        self.counters = Counters()
        self.reader = Reader(
            JsonProtocol(),
            dispatcher,
            self.counters,
            tracker=SequenceTracker(lambda m: m.get("seq")) if tracked else None,
            reply=_no_reply,
        )

    def frame(self, channel: str, n: int) -> None:
        item = self.reader.step(json.dumps({"channel": channel, "seq": n, "n": n}), False)
        assert item is None  # the queue had room


async def _no_reply(_ws: Any, _message: Any) -> None:
    raise AssertionError("no protocol traffic here")


class Rig:
    def __init__(self, *, tracked: bool = False, dedup_key: Any = None) -> None:
        self.emitter = Emitter()
        self.counters = Counters()
        self.dispatcher = Dispatcher(
            self.emitter, queue_size=1000, overflow="block", counters=self.counters
        )
        self.got: list[int] = []
        self.errors: list[Exception] = []
        self.emitter.on("message:c", lambda m: self.got.append(m["n"]))
        self.emitter.on("error", self.errors.append)
        self.source = Side(self.dispatcher, tracked)
        self.target = Side(self.dispatcher, tracked)
        self.subscribed: list[list[str]] = []
        self.move = Move(
            ["c"],
            source=self.source.reader,
            target=self.target.reader,
            source_counters=self.source.counters,
            target_counters=self.target.counters,
            dedup_key=dedup_key,
            report=self.dispatcher.report_error,
        )
        self.now = 0.0

    async def subscribe(self, channels: list[str]) -> None:
        self.subscribed.append(channels)

    def run(
        self, timeout: float = 10.0, clock: Callable[[], float] | None = None
    ) -> asyncio.Task[list[str]]:
        return asyncio.ensure_future(
            self.move.run(self.subscribe, timeout, clock or (lambda: self.now))
        )

    async def delivered(self) -> list[int]:
        self.dispatcher.start()
        await self.dispatcher.finish(5, 0.1)
        return self.got


async def _settle(task: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(task, 5)


async def test_source_ahead_target_late_copies_are_dropped() -> None:
    """The source delivered 1-5; the target holds 3-4 when the overlap shows: after
    the switch the target's 5 is dropped, 6 on comes from the target only."""
    rig = Rig()
    task = rig.run()
    for n in range(1, 6):
        rig.source.frame("c", n)
    rig.target.frame("c", 3)
    rig.target.frame("c", 4)
    assert await _settle(task) == ["c"]
    assert rig.subscribed == [["c"]]
    rig.target.frame("c", 5)  # a late copy
    rig.source.frame("c", 6)  # the source after the switch: dropped
    rig.target.frame("c", 6)
    rig.target.frame("c", 7)
    assert await rig.delivered() == [1, 2, 3, 4, 5, 6, 7]
    assert rig.move.duplicates == 4  # target 3, 4, 5; source 6
    assert rig.target.counters.duplicates_dropped == 3
    assert rig.source.counters.duplicates_dropped == 1


async def test_target_ahead_its_held_messages_fill_in() -> None:
    """The target holds 3-6 while the source delivered 1-3: the switch delivers 4-6
    from the target, the source's late 4 is dropped."""
    rig = Rig()
    task = rig.run()
    for n in range(1, 3):
        rig.source.frame("c", n)
    for n in range(3, 7):
        rig.target.frame("c", n)
    rig.source.frame("c", 3)  # the overlap, seen from the source
    await _settle(task)
    rig.source.frame("c", 4)
    rig.target.frame("c", 7)
    assert await rig.delivered() == [1, 2, 3, 4, 5, 6, 7]
    rig.move.close()
    assert rig.move.channels == ["c"]
    rig.source.frame("c", 8)  # no gate any more: delivered as any message
    assert rig.source.counters.duplicates_dropped == 1


async def test_sequence_numbers_switch_when_contiguous() -> None:
    """With sequence numbers the target's first number following the source's last
    is the overlap; numbers carry over to the target's tracker (no gap)."""
    rig = Rig(tracked=True)
    task = rig.run()
    rig.source.frame("c", 1)
    rig.target.frame("c", 3)  # not contiguous yet: held
    rig.source.frame("c", 2)  # now it is
    await _settle(task)
    rig.target.frame("c", 4)
    assert await rig.delivered() == [1, 2, 3, 4]
    assert rig.target.counters.gaps == 0
    assert rig.target.reader.sequence_of("c") == 4


async def test_quiet_channel_switches_at_the_timeout_and_a_bad_dedup_key_is_reported() -> None:
    """Nothing overlaps before the timeout: the held messages are delivered; a
    dedup_key that raises is an error event (the message compared whole instead)."""

    def bad_key(message: Any) -> Any:
        raise ValueError("no id")

    rig = Rig(dedup_key=bad_key)
    task = rig.run(timeout=0.05, clock=time.monotonic)
    rig.target.frame("c", 9)
    await _settle(task)
    assert await rig.delivered() == [9]
    assert len(rig.errors) == 1
    assert isinstance(rig.errors[0], ValueError)


async def test_nothing_on_either_side_waits_for_the_timeout() -> None:
    rig = Rig()
    task = rig.run(timeout=0.05, clock=time.monotonic)
    assert await _settle(task) == ["c"]
    assert await rig.delivered() == []


async def test_closing_a_move_leaves_a_newer_gate_in_place() -> None:
    """Closing the move removes its gates; a newer gate on the channel stays until
    it is cleared itself."""
    rig = Rig()
    newer: Callable[[Any, Any, Any], bool] = lambda *_: False  # noqa: E731
    rig.target.reader.set_gate("c", newer)
    rig.move.close()
    rig.target.frame("c", 1)  # the newer gate holds it
    rig.target.reader.clear_gate("c", newer)
    rig.target.frame("c", 2)
    rig.source.frame("c", 3)
    assert await rig.delivered() == [2, 3]
