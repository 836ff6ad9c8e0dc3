"""Issue 14's parts on their own: the latency arithmetic, the timed reader step over
the scripted connection, the recorder's lines and the replay's framing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import until
from tests.unit.test_reader_parts import END, ScriptClosed, ScriptedConnection, frame, make
from wsevents._emitter import Emitter
from wsevents._latency import StampLog, Timing, event_time_getter, percentile
from wsevents._options import Observe
from wsevents._replay import _chunks, frame_bytes, load_sessions
from wsevents._transport import CloseInfo
from wsevents.record import Recorder, _plain, read_recording


def test_event_time_getters() -> None:
    """None, a callable, one key, a dotted path with a list index."""
    assert event_time_getter(None) is None
    assert event_time_getter(len) is len
    assert event_time_getter("E")({"E": 5}) == 5
    assert event_time_getter("data.0.ts")({"data": [{"ts": "7"}]}) == "7"


def test_percentiles_and_skipped_samples() -> None:
    """Nearest rank; non-numbers and NaN are skipped; no sample, no offset."""
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.99) == 4.0
    assert percentile([1.0], 0.0) == 1.0
    timing = Timing(wall_base_ns=0)
    assert timing.clock_offset() is None
    window = timing.window("a")
    assert timing.window("a") is window
    window.extend([("x", 0), (float("nan"), 0), (None, 0)])
    timing.window(None).append((1000.0, 3_000_000_000))  # received 2 s after the event
    assert timing.latency()[""].p50 == pytest.approx(2.0)
    assert "a" not in timing.latency()
    assert timing.clock_offset() == pytest.approx(-2.0)
    timing.rebase(1_000_000_000)
    assert timing.receive_time(5).wall_ns == 1_000_000_005


async def test_timed_step_over_the_transport_callback() -> None:
    """The timed step takes every path of the plain one: inline delivery, protocol
    traffic held for run(), a full queue, a bad frame; each frame is recorded."""
    reader, dispatcher, counters, seen, replies = make(queue_size=1, overflow="block")
    frames: list[tuple[int, str | bytes]] = []

    class Sink:
        def frame(self, conn: int, wall_ns: int, data: str | bytes) -> None:
            frames.append((conn, data))

        def opened(self, conn: int, wall_ns: int, *, sent: int = 0) -> None:
            frames.append((conn, "open"))

        def closed_connection(self, conn: int, wall_ns: int, info: Any, *, sent: int = 0) -> None:
            frames.append((conn, "close"))

        def event(self, name: str, payload: Any) -> None:
            pass

    reader.observe(Observe(timestamps=True, event_time=lambda m: m["n"], record=Sink()), Emitter())
    unknown = {"n": 1}  # alive throughout: its id is none of the messages'
    ws = ScriptedConnection(callback=True)
    running = asyncio.ensure_future(reader.run(ws))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert ws.push(frame("t", 1))  # offered
    assert not ws.push(frame("t", 2))  # full: held for recv()
    assert not ws.push('{"op": "ping"}')  # behind it
    dispatcher.start()
    await until(lambda: len(replies) == 1)
    await until(lambda: len(seen) == 3)
    assert ws.push(frame("t", 3))  # idle: delivered in the callback
    assert not ws.push('{"op": "ping"}')  # protocol traffic: answered by run()
    await until(lambda: len(replies) == 2 and ws.behind == 0)
    assert ws.push("not json")  # a bad frame: an error event
    ws.script(frame("t", 4), END)
    assert isinstance(await asyncio.wait_for(running, 5), ScriptClosed)
    await asyncio.wait_for(dispatcher.barrier(), 5)
    assert [p["n"] for e, p in seen if e == "message"] == [1, 2, 3, 4]
    assert counters.decode_errors == 1
    assert next(data for _, data in frames) == "open"
    assert [data for _, data in frames][-1] == "close"
    assert len(frames) == 2 + 7
    assert reader.receive_time(unknown) is None  # not one it delivered


async def test_receive_time_of_an_unknown_message_is_none() -> None:
    """A message it did not read: None; decode() (a handover's new connection)
    stamps too; stamps never looked up are forgotten past a bound."""
    reader, _dispatcher, *_ = make(queue_size=1)
    reader.observe(Observe(timestamps=True), Emitter())
    assert reader.step(frame("t", 1), False) is None
    assert reader.receive_time({"other": True}) is None
    decoded = reader.decode(frame("t", 2))
    assert decoded is not None
    assert reader.receive_time(decoded[2]) is not None
    alive = []  # kept alive
    for _read in range(60):  # the log is checked once per read (a turn of the loop)
        alive.extend(reader.step(frame("t", n), False) for n in range(100))
        await asyncio.sleep(0)
    assert all(item is not None for item in alive[1:])
    assert reader._log is not None
    assert len(reader._log) < 6000  # a full queue that never empties: bounded


async def test_stamps_are_forgotten_once_the_queue_empties() -> None:
    """Past 64 stamps, an empty queue lets the reader forget them: the last ones
    stay found one more turn, the earlier ones are gone."""
    reader, dispatcher, *_ = make(queue_size=1000)
    reader.observe(Observe(timestamps=True), Emitter())
    kept = []
    for n in range(400):  # one frame per read: the check runs at each read's first
        assert reader.step(frame("t", n), False) is None
        kept.append(dispatcher._queue.pop()[1])  # type: ignore[union-attr]  # delivered
        await asyncio.sleep(0)
    assert reader._log is not None
    assert len(reader._log) < 400
    assert reader.receive_time(kept[-1]) is not None
    assert reader.receive_time(kept[0]) is None


def test_recorder_lines_without_a_loop(tmp_path: Path) -> None:
    """Outside an event loop every line is written at once; a closed recorder
    writes nothing; payloads become JSON values."""
    path = tmp_path / "r.jsonl"
    recorder = Recorder(path, clock=lambda: 1)
    recorder.event("gap", {"a": [1, (2, 3)], "b": object})
    assert len(path.read_text().splitlines()) == 2
    recorder.close()
    recorder.close()
    recorder.frame(1, 2, "x")
    assert len(path.read_text().splitlines()) == 2
    line = json.loads(path.read_text().splitlines()[1])
    assert line["payload"] == {"a": [1, [2, 3]], "b": repr(object)}
    assert _plain(None) is None


def test_replay_framing() -> None:
    """Frames of every length class, and chunks cut at 256 KiB."""
    assert frame_bytes("hi") == b"\x81\x02hi"
    assert frame_bytes(b"\x00" * 200)[:4] == b"\x82\x7e\x00\xc8"
    assert frame_bytes("x" * 70_000)[:10] == b"\x81\x7f" + (70_000).to_bytes(8, "big")
    chunks = _chunks(["y" * 100_000] * 4)
    assert len(chunks) == 2
    assert sum(map(len, chunks)) == 4 * (100_000 + 10)


def test_load_sessions(tmp_path: Path) -> None:
    """Binary frames, a session still open at the end, a client-initiated close."""
    path = tmp_path / "s.jsonl"
    with Recorder(path) as recorder:
        recorder.opened(1, 0, sent=1)
        recorder.frame(1, 1, b"\x01")
        info = type("Info", (), {"rcvd_code": 1000, "rcvd_reason": "", "sent_code": 1000,
                                 "sent_reason": "", "rcvd_then_sent": False})()  # fmt: skip
        recorder.closed_connection(1, 2, info, sent=1)
        recorder.opened(2, 3, sent=2)
        recorder.frame(2, 4, "x")
    first, second = load_sessions(path)
    assert first.frames == (b"\x01",)
    assert first.rcvd_code is None  # the client closed: the replay leaves it open
    assert first.ended
    assert not first.broken
    assert first.opening == 1
    assert second.opening == 1
    assert not second.ended


async def test_receive_time_inline_and_queued() -> None:
    """A handler run in the transport's callback and one run by the dispatcher both
    find their message's stamp, in order."""
    reader, dispatcher, *_ = make(queue_size=8)
    reader.observe(Observe(timestamps=True), Emitter())
    got: list[Any] = []
    dispatcher._emitter.on("message:t", lambda m: got.append((m["n"], reader.receive_time(m))))
    ws = ScriptedConnection(callback=True)
    running = asyncio.ensure_future(reader.run(ws))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert ws.push(frame("t", 1))  # queued: the dispatcher is not started
    dispatcher.start()
    await until(lambda: len(got) == 1)
    assert ws.push(frame("t", 2))  # idle: delivered in the callback
    ws.script(END)
    await asyncio.wait_for(running, 5)
    await asyncio.wait_for(dispatcher.barrier(), 5)
    assert [n for n, _ in got] == [1, 2]
    stamps = [stamp.monotonic_ns for _, stamp in got]
    assert stamps == sorted(stamps)


def test_frames_read_before_run_are_recorded_for_the_next_connection(tmp_path: Path) -> None:
    """decode() (a login, a handover's new connection) records its frames under the
    next connection's number; such a connection, opened while another was open,
    is replayed without waiting for opening frames."""
    path = tmp_path / "h.jsonl"
    reader, *_ = make()
    with Recorder(path) as recorder:
        reader.observe(Observe(record=recorder), Emitter())
        recorder.opened(1, 0, sent=1)
        assert reader.decode(frame("t", 1)) is not None
        recorder.opened(2, 1, sent=5)
        recorder.closed_connection(1, 2, CloseInfo(None, "", 1000, "", False), sent=5)
    frames = [line for line in read_recording(path) if line["kind"] == "frame"]
    assert [line["conn"] for line in frames] == [1]  # run() has not read any yet
    first, second = load_sessions(path)
    assert len(first.frames) == 1
    assert first.opening == 1
    assert second.opening == 0  # opened during the first: a handover


def test_stats_stay_hashable() -> None:
    """The latency mapping is left out of the hash (a frozen Stats hashes as before)."""
    from wsevents import Latency, Stats

    summary = Latency(count=1, p50=0.1, p90=0.1, p99=0.1, max=0.1)
    stats = Stats(latency={"t": summary})
    assert hash(stats) == hash(Stats(latency={}))
    assert stats == Stats(latency={"t": summary})


def test_stamp_log() -> None:
    """Ids and stamps in one list; the index is built on demand."""
    log = StampLog()
    log.entries.extend([11, 1_000, 12, 1_002])
    assert len(log) == 2
    assert [log.find(key) for key in (11, 12, 13)] == [1_000, 1_002, None]
    log.entries.extend([13, 3_000])  # indexed on the next find
    assert log.find(13) == 3_000


async def test_one_clock_read_per_turn() -> None:
    """The frames stepped in one turn of the loop share its clock read (each 1 ns past
    the one before, by frame number); the next turn reads the clock again."""
    reader, dispatcher, *_ = make(queue_size=100)
    reader.observe(Observe(timestamps=True), Emitter())
    before = time.monotonic_ns()
    for n in range(5):
        assert reader.step(frame("t", n), False) is None
    await asyncio.sleep(0)  # the turn is over
    assert reader.step(frame("t", 5), False) is None
    after = time.monotonic_ns()
    queued = [payload for _, payload in dispatcher._queue]  # type: ignore[union-attr]
    stamps = [reader.receive_time(message) for message in queued]
    monos = [stamp.monotonic_ns for stamp in stamps if stamp is not None]
    assert len(monos) == 6
    assert [m - monos[0] for m in monos[:5]] == [0, 1, 2, 3, 4]
    assert before <= monos[0] < monos[4] < monos[5] <= after
