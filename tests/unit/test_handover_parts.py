"""One Handover on its own: de-duplication, preparing the new connection (over the
scripted in-memory TransportConnection of test_reader_parts), the switch, expiry,
cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import until
from tests.unit.test_reader_parts import END, ScriptedConnection
from wsevents._handover import Handover
from wsevents._supervisor import Failure
from wsevents._tracking import SequenceTracker
from wsevents._transport import TransportConnection
from wsevents.exceptions import ConnectError


class Recorded:
    """What a handover reports: errors, resolutions, aborted connections, replies."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []
        self.resolved: list[Handover] = []
        self.aborted: list[Any] = []
        self.replies: list[Any] = []

    def handover(self, dedup_key: Any = None) -> Handover:
        return Handover(
            dedup_key=dedup_key, started=1.0, report=self.errors.append,
            on_resolved=self.resolved.append,
        )

    async def abort(self, ws: TransportConnection) -> None:
        self.aborted.append(ws)

    async def reply(self, ws: TransportConnection, message: Any) -> None:
        self.replies.append(message)


def decode(frame: str | bytes) -> tuple[str | None, str | None, Any] | None:
    """``"ping"``: protocol traffic; ``"bad"``: a bad frame; else a message of channel t."""
    if frame == "bad":
        return None
    if frame == "ping":
        return ("\x00consumed", None, frame)
    return ("t", "message:t", frame)


def test_admit_records_then_drops_duplicates_until_the_first_new_message() -> None:
    rec = Recorded()
    h = rec.handover()
    assert h.admit("t", "a", None, None)
    assert h.admit("t", "b", None, None)
    h.recording = False  # the switch
    assert not h.admit("t", "a", None, None)
    assert not h.admit("t", "b", None, None)
    assert h.admit("t", "c", None, None)  # new: resolves
    assert rec.resolved == [h]
    assert h.resolved
    assert h.admit("t", "a", None, None)  # resolved: everything is new
    h.resolve()  # idempotent
    assert rec.resolved == [h]
    assert h.overlap.duplicates == 2


def test_admit_by_sequence_number() -> None:
    rec = Recorded()
    tracker = SequenceTracker(lambda m: m)
    tracker.check("t", 5)
    h = rec.handover()
    assert h.admit("t", 4, 4, tracker)  # recording: numbered messages are not recorded
    h.recording = False
    assert not h.admit("t", 5, 5, tracker)
    assert h.overlap.duplicates == 1
    assert h.admit("t", 6, 6, tracker)
    assert rec.resolved == [h]


def test_a_raising_dedup_key_is_reported_and_the_message_admitted() -> None:
    rec = Recorded()

    def key(message: Any) -> Any:
        return message["id"]

    h = rec.handover(dedup_key=key)
    assert h.admit("t", {"id": 1}, None, None)
    assert h.admit("t", {}, None, None)  # recording: key() raised, reported
    h.recording = False
    assert h.admit("t", {}, None, None)  # key() raised: admitted, and it resolves
    assert [type(e) for e in rec.errors] == [KeyError, KeyError]
    assert rec.resolved == [h]


async def test_prepare_collects_the_new_connection_and_take_switches() -> None:
    rec = Recorded()
    h = rec.handover()
    new = ScriptedConnection(["bad", "ping", "m1"])

    async def open_new() -> TransportConnection:
        return new  # type: ignore[return-value]

    assert await h.prepare(open_new, decode, rec.reply, rec.abort, 5.0) is None
    assert rec.replies == ["ping"]  # answered while collecting
    new.script("m2")
    await until(lambda: len(h.buffer) == 2)
    ws, buffer = await h.take()
    assert ws is new
    assert buffer == [("t", "message:t", "m1"), ("t", "message:t", "m2")]
    assert not h.recording
    assert h.ws is None
    assert rec.aborted == []
    await h.cancel(rec.abort)  # after take(): nothing left to close
    assert rec.aborted == []


async def test_prepare_gives_up_on_a_failed_open() -> None:
    rec = Recorded()
    h = rec.handover()
    failure = Failure(error=ConnectError("refused"))

    async def open_new() -> Failure:
        return failure

    assert await h.prepare(open_new, decode, rec.reply, rec.abort, 5.0) is failure
    assert h.ws is None


async def test_prepare_fails_when_the_new_connection_closes_at_once() -> None:
    rec = Recorded()
    h = rec.handover()
    new = ScriptedConnection([END])

    async def open_new() -> TransportConnection:
        return new  # type: ignore[return-value]

    failure = await h.prepare(open_new, decode, rec.reply, rec.abort, 5.0)
    assert isinstance(failure, Failure)
    assert "closed at once" in str(failure.error)
    assert rec.aborted == [new]


async def test_prepare_times_out_waiting_and_is_ready_anyway() -> None:
    """No message within the timeout: the new connection is taken over all the same."""
    rec = Recorded()
    h = rec.handover()
    new = ScriptedConnection()

    async def open_new() -> TransportConnection:
        return new  # type: ignore[return-value]

    assert await h.prepare(open_new, decode, rec.reply, rec.abort, 0.01) is None
    assert h.ws is new
    await h.cancel(rec.abort)  # not taken over: closed
    assert rec.aborted == [new]
    assert h.ws is None


async def test_a_cancelled_prepare_closes_the_new_connection() -> None:
    rec = Recorded()
    h = rec.handover()
    new = ScriptedConnection()
    opened = asyncio.Event()

    async def open_new() -> TransportConnection:
        opened.set()
        return new  # type: ignore[return-value]

    task = asyncio.ensure_future(h.prepare(open_new, decode, rec.reply, rec.abort, 30.0))
    await asyncio.wait_for(opened.wait(), 5)
    await asyncio.sleep(0)  # prepare() waits for the first message now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert rec.aborted == [new]


async def test_expire_after_resolves_and_cancel_stops_the_timer() -> None:
    rec = Recorded()
    h = rec.handover()
    h.recording = False
    h.expire_after(0.001)
    await until(lambda: h.resolved)
    assert rec.resolved == [h]
    h.expire_after(0.001)  # resolved already: no timer
    other = rec.handover()
    other.expire_after(60.0)
    await other.cancel(rec.abort)  # the timer is cancelled: never resolves
    assert not other.resolved
    other.resolve()  # by hand it still can, once
    assert rec.resolved == [h, other]
