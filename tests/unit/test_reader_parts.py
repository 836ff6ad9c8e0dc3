"""The Reader on its own, over a small scripted in-memory TransportConnection.

``ScriptedConnection`` is a test double of wsevents' own transport interface
(``wsevents._transport.TransportConnection``), not of any WebSocket library: it
hands out the frames a test scripts, raises its ``closed_error`` at the end, and
can offer frames to a receiver the way the picows transport's frame callback does.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.conftest import until
from wsevents._config import Overflow
from wsevents._delivery import Dispatcher
from wsevents._emitter import Emitter
from wsevents._handover import Handover
from wsevents._reader import Reader
from wsevents._stats import Counters
from wsevents._tracking import SequenceTracker
from wsevents._transport import CloseInfo, Receiver
from wsevents.exceptions import FrameError
from wsevents.routing import CONSUMED, JsonProtocol, Protocol


class ScriptClosed(Exception):
    """The double's "connection closed" error (its ``closed_error``)."""


#: put in a script: ``recv()`` raises ``closed_error`` there
END = object()


class ScriptedConnection:
    """An in-memory TransportConnection: ``recv()`` returns the scripted frames in order.

    Args:
        frames: the frames ``recv()`` returns (``END`` closes the connection).
        callback: True to accept a receiver (as the picows transport does).
    """

    closed_error: type[BaseException] = ScriptClosed

    def __init__(self, frames: list[Any] = (), *, callback: bool = False) -> None:  # type: ignore[assignment]
        self._frames: deque[Any] = deque(frames)
        self._more = asyncio.Event()
        self._callback = callback
        self.receiver: Receiver | None = None
        #: frames given to recv() and not yet handled (as picows': the receiver is
        #: not offered frames while any is, so the order never changes)
        self.behind = 0
        self._handed = False
        self.receivers: list[Receiver | None] = []
        self.sent: list[str | bytes] = []
        self.closed = False
        self.close_calls = 0
        self.aborted = False

    def script(self, *frames: Any) -> None:
        """More frames for ``recv()``."""
        self._frames.extend(frames)
        self._more.set()

    def push(self, frame: str) -> bool:
        """A frame arriving in the transport's callback: the receiver's answer, or
        queued for ``recv()`` when there is no receiver, it declines, or frames
        wait for ``recv()`` already."""
        if self.receiver is not None and not self.behind and self.receiver(frame) is None:
            return True
        self.behind += 1
        self.script(frame)
        return False

    def handled(self) -> None:
        """The caller handled the frame recv() returned last."""
        if self._handed:
            self._handed = False
            self.behind -= 1

    async def recv(self) -> str | bytes:
        while not self._frames:
            self._more.clear()
            await self._more.wait()
        frame = self._frames.popleft()
        if frame is END:
            self.closed = True
            raise ScriptClosed("scripted end")
        self._handed = self.behind > 0
        return frame  # type: ignore[no-any-return]

    async def send(self, data: str | bytes) -> None:
        if self.closed:
            raise ScriptClosed("closed")
        self.sent.append(data)

    async def close(self) -> None:
        self.close_calls += 1
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def close_rcvd_code(self) -> int | None:
        return 1000 if self.closed else None

    def close_info(self, exc: BaseException) -> CloseInfo:
        return CloseInfo(1000, "", 1000, "", True)

    def set_receiver(self, receiver: Receiver | None) -> bool:
        self.receivers.append(receiver)
        if not self._callback:
            return False
        self.receiver = receiver
        return True


Parts = tuple[Reader, Dispatcher, Counters, list[tuple[str, Any]], list[Any]]


def make(
    protocol: Protocol | None = None,
    *,
    sequence: Callable[[Any], int | None] | None = None,
    queue_size: int = 64,
    overflow: Overflow = "drop_oldest",
) -> Parts:
    """A reader over a dispatcher (not started) and what both record."""
    em = Emitter()
    counters = Counters()
    dispatcher = Dispatcher(em, queue_size=queue_size, overflow=overflow, counters=counters)
    seen: list[tuple[str, Any]] = []
    for name in ("message", "error", "gap", "queue_full"):
        em.on(name, lambda payload, name=name: seen.append((name, payload)))
    replies: list[Any] = []

    async def reply(ws: Any, message: Any) -> None:
        replies.append(message)

    reader = Reader(
        protocol or JsonProtocol(heartbeat=({"op": "ping"}, {"op": "pong"})),
        dispatcher,
        counters,
        tracker=None if sequence is None else SequenceTracker(sequence),
        reply=reply,
    )
    return reader, dispatcher, counters, seen, replies


def frame(channel: str | None, n: int, **extra: Any) -> str:
    body: dict[str, Any] = {"n": n, **extra}
    if channel is not None:
        body["channel"] = channel
    return json.dumps(body)


async def delivered(dispatcher: Dispatcher) -> None:
    dispatcher.start()
    await asyncio.wait_for(dispatcher.barrier(), 5)


async def test_run_reads_until_the_connection_closes() -> None:
    """Every frame takes the step; protocol traffic is answered; the end raises."""
    reader, dispatcher, counters, seen, replies = make()
    ws = ScriptedConnection([frame("a", 1), '{"op": "ping"}', frame(None, 2), "not json", END])
    ended = await asyncio.wait_for(reader.run(ws), 5)  # type: ignore[arg-type]
    assert isinstance(ended, ScriptClosed)  # returned: the exception that ended it
    await delivered(dispatcher)
    assert [(e, p["n"]) for e, p in seen if e == "message"] == [("message", 1), ("message", 2)]
    assert replies == [{"op": "ping"}]
    errors = [p for e, p in seen if e == "error"]
    assert len(errors) == 1
    assert isinstance(errors[0], FrameError)
    assert counters.messages_received == 4
    assert counters.decode_errors == 1
    assert ws.receivers == [reader.step, None]  # offered, declined: recv() only


class _Broken(Protocol):
    """A protocol whose decode raises something other than FrameError."""

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        raise KeyError(frame)


async def test_a_protocol_error_becomes_a_frame_error() -> None:
    reader, dispatcher, counters, seen, _ = make(_Broken())
    assert reader.step("x", False) is None
    assert reader.decode("y") is None
    await delivered(dispatcher)
    errors = [p for e, p in seen if e == "error"]
    assert [type(e) for e in errors] == [FrameError, FrameError]
    assert all(isinstance(e.__cause__, KeyError) for e in errors)
    assert [e.frame for e in errors] == ["x", "y"]
    assert counters.decode_errors == 2


def test_decode_names_the_event_and_spots_protocol_traffic() -> None:
    reader, _, counters, _, _ = make()
    assert reader.decode(frame("t", 1)) == ("t", "message:t", {"n": 1, "channel": "t"})
    assert reader.decode(frame("t", 2))[1] == "message:t"  # type: ignore[index]
    assert reader.decode(frame(None, 3)) == (None, "message", {"n": 3})
    channel, name, message = reader.decode('{"op": "ping"}')  # type: ignore[misc]
    assert channel == CONSUMED
    assert name is None
    assert message == {"op": "ping"}
    assert counters.messages_received == 4


async def test_sequences_gaps_repeats_and_a_broken_sequence_function() -> None:
    def seq(message: dict[str, Any]) -> int | None:
        if message.get("bad"):
            raise ValueError("no number")
        value: int | None = message.get("seq")
        return value

    reader, dispatcher, counters, seen, _ = make(sequence=seq)
    for n, s in enumerate([1, 2, 4, 4, 3]):
        reader.step(frame("t", n, seq=s), False)
    reader.step(frame("t", 9, bad=True), False)  # reported, delivered anyway
    reader.step(frame("t", 10), False)  # no number: delivered
    assert reader.last_sequences == {"t": 4}
    await delivered(dispatcher)
    assert [p["n"] for e, p in seen if e == "message"] == [0, 1, 2, 9, 10]
    gaps = [(p.expected, p.received, p.missing) for e, p in seen if e == "gap"]
    assert gaps == [(3, 4, 1), (5, 4, 0), (5, 3, 0)]
    errors = [p for e, p in seen if e == "error"]
    assert len(errors) == 1
    assert "sequence function failed" in str(errors[0])
    assert counters.gaps == 3
    assert counters.duplicates_dropped == 2


async def test_feed_delivers_a_decoded_message_and_drops_a_repeat() -> None:
    reader, dispatcher, counters, seen, _ = make(sequence=lambda m: m.get("seq"))
    await reader.feed("t", "message:t", {"seq": 1})
    await reader.feed("t", "message:t", {"seq": 1})  # a repeat: dropped
    await reader.feed(None, "message", {"x": 1})
    await delivered(dispatcher)
    assert [p for e, p in seen if e == "message"] == [{"seq": 1}, {"x": 1}]
    assert counters.duplicates_dropped == 1


def test_untracked_reader_has_no_sequences() -> None:
    reader, *_ = make()
    assert reader.last_sequences == {}


async def test_handover_duplicates_are_dropped_while_it_runs() -> None:
    """While a handover de-duplicates, its duplicates are dropped; once it is over
    (end_handover), the reader stops asking it."""
    reader, dispatcher, counters, seen, _ = make()
    resolved: list[Handover] = []
    handover = Handover(
        dedup_key=lambda m: m["n"], started=0.0, report=lambda e: None,
        on_resolved=resolved.append,
    )
    other = Handover(
        dedup_key=None, started=0.0, report=lambda e: None, on_resolved=resolved.append
    )
    reader.begin_handover(handover)
    reader.step(frame("t", 1), False)  # the old connection: recorded
    handover.recording = False  # the switch (what take() does)
    reader.step(frame("t", 1), False)  # the new connection repeats it: dropped
    reader.end_handover(other)  # not the running one: no effect
    reader.step(frame("t", 1), False)  # still dropped
    reader.step(frame("t", 2), False)  # new: resolves the handover
    reader.end_handover(handover)
    reader.step(frame("t", 1), False)  # no handover any more: delivered
    await delivered(dispatcher)
    assert [p["n"] for e, p in seen if e == "message"] == [1, 2, 1]
    assert counters.duplicates_dropped == 2
    assert resolved == [handover]


async def test_frames_from_the_transport_callback() -> None:
    """receive(): delivered in the callback when the dispatcher is idle, offered
    otherwise; a frame it cannot finish (a full queue, protocol traffic) goes back
    to recv() and run() finishes it without decoding it again."""
    reader, dispatcher, counters, seen, replies = make(queue_size=1, overflow="block")
    ws = ScriptedConnection(callback=True)
    running = asyncio.ensure_future(reader.run(ws))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # run() offered its receiver
    assert ws.receiver is not None
    assert ws.push(frame("t", 1))  # offered (the dispatcher is not started)
    assert not ws.push(frame("t", 2))  # the queue is full: held for recv()
    assert not ws.push('{"op": "ping"}')  # behind frame 2: to recv() too
    dispatcher.start()
    await until(lambda: len(replies) == 1)
    assert replies == [{"op": "ping"}]
    await until(lambda: len(seen) == 3)
    assert ws.push(frame("t", 3))  # all handled, idle again: delivered in the callback
    assert not ws.push('{"op": "ping"}')  # protocol traffic: answered by run()
    await until(lambda: len(replies) == 2)
    ws.script(END)
    assert isinstance(await asyncio.wait_for(running, 5), ScriptClosed)
    assert ws.receivers[-1] is None  # run() took its receiver back
    await asyncio.wait_for(dispatcher.barrier(), 5)
    assert [p["n"] for e, p in seen if e == "message"] == [1, 2, 3]
    assert counters.messages_received == 5  # each frame decoded once
    reports = [p for e, p in seen if e == "queue_full"]
    assert [(r.channel, r.dropped) for r in reports] == [("t", 0)]  # held, reported at once

