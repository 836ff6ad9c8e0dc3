"""Record a live session with drops, replay it into the same handlers (issue 14)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import wsevents
from tests.conftest import Recorder, until
from wsevents.record import Recorder as FileRecorder, read_recording
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


def follow(ws: wsevents.Connection) -> list[tuple[str, Any]]:
    """The handler calls of a connection: messages and the disconnects' reasons."""
    calls: list[tuple[str, Any]] = []
    ws.on("message:t", lambda m: calls.append(("t", m)))
    ws.on("message:u", lambda m: calls.append(("u", m)))
    ws.on("message", lambda m: calls.append(("any", m)))
    ws.on("disconnect", lambda d: calls.append(("disconnect", (d.reason, d.code))))
    ws.on("connect", lambda c: calls.append(("connect", c.is_reconnect)))
    return calls


async def record_session(server: FakeServer, make_connection: Make, path: Path) -> list[Any]:
    """A live session: messages, a TCP drop, a 1011 close, more messages, then close."""
    ws = make_connection(server.url, subscriptions=["t", "u"], record=str(path))
    calls = follow(ws)
    rec = Recorder(ws, "connect", "disconnect")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("t", "u")
    for n in range(5):
        await server.publish("t" if n % 2 else "u", {"n": n})
    await server.send_raw("[1, 2]")  # no channel: ``message`` only
    await until(lambda: len(calls) >= 12)
    await client.drop()
    client = await server.wait_for_client(2)
    await client.wait_subscribed("t", "u")
    for n in range(5, 8):
        await server.publish("t", {"n": n})
    await until(lambda: len(calls) >= 20)
    await client.close(1011, "boom")
    client = await server.wait_for_client(3)
    await client.wait_subscribed("t", "u")
    await server.publish("u", {"n": 8})
    await until(lambda: len(calls) >= 24)
    await ws.close()
    assert rec.of("disconnect")[1].code == 1011
    return calls


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
async def test_a_recording_with_drops_replays_into_identical_handler_calls(
    server: FakeServer, make_connection: Make, tmp_path: Path, suffix: str
) -> None:
    """The same handlers see the same calls, in the same order, from the replay: the
    recorded TCP drop and 1011 close are carried out again."""
    path = tmp_path / f"feed{suffix}"
    live = await record_session(server, make_connection, path)
    lines = list(read_recording(path))
    kinds = [line["kind"] for line in lines]
    assert kinds[0] == "recording"
    assert kinds.count("open") == 3
    assert kinds.count("close") == 3
    assert kinds.count("frame") == 10
    events = [line["event"] for line in lines if line["kind"] == "event"]
    assert events[:2] == ["connect", "disconnect"]
    assert events[-1] == "closed"
    frames = [line for line in lines if line["kind"] == "frame"]
    assert [f["t"] for f in frames] == sorted(f["t"] for f in frames)
    assert {f["conn"] for f in frames} == {1, 2, 3}

    async with FakeServer() as replayer:
        replay = replayer.replay(path, speed=None)
        ws = make_connection(replayer.url, subscriptions=["t", "u"])
        replayed = follow(ws)
        await ws.connect()
        await replay.wait_finished()
        await until(lambda: len(replayed) == len(live) - 1)  # all but the closing one
        await ws.close()
    assert replayed == live


async def test_paced_replay_keeps_the_recorded_gaps(
    make_connection: Make, tmp_path: Path
) -> None:
    """speed=2: frames recorded 200 ms apart arrive about 100 ms apart; a recording
    that ended open leaves the connection open; later connections get nothing."""
    path = tmp_path / "paced.jsonl"
    with FileRecorder(path, clock=lambda: 0) as recorder:
        recorder.opened(1, 0)
        recorder.frame(1, 1_000_000_000, '{"channel": "t", "n": 1}')
        recorder.frame(1, 1_200_000_000, '{"channel": "t", "n": 2}')
        recorder.frame(1, 1_200_000_000, b'{"channel": "t", "n": 3}')
    async with FakeServer() as replayer:
        replay = replayer.replay(path, speed=2.0)
        ws = make_connection(replayer.url, subscriptions=["t"], timestamps=True)
        times: list[int] = []
        ws.on("message:t", lambda m: times.append(ws.receive_time(m).monotonic_ns))
        await ws.connect()
        await replay.wait_finished()
        await until(lambda: len(times) == 3)
        gap = (times[1] - times[0]) / 1e9
        assert 0.08 < gap < 0.3
        assert ws.connected
        assert replay.served == 1


def test_replay_checks_its_arguments(tmp_path: Path) -> None:
    """A file that is not a recording, or a bad speed, is a ValueError."""
    other = tmp_path / "other.jsonl"
    other.write_text('{"kind": "frame"}\n')
    server = FakeServer()
    with pytest.raises(ValueError, match="not a wsevents recording"):
        server.replay(other)
    good = tmp_path / "good.jsonl"
    FileRecorder(good).close()
    for speed in (0, -1.0, True, "fast"):
        with pytest.raises(ValueError, match="speed"):
            server.replay(good, speed=speed)  # type: ignore[arg-type]


def test_a_crash_loses_at_most_the_last_line(tmp_path: Path) -> None:
    """A recording cut in the middle of a line reads up to the last whole line;
    binary frames round-trip through base64; ``.gz`` appends a new member."""
    path = tmp_path / "cut.jsonl.gz"
    with FileRecorder(path, clock=lambda: 7) as recorder:
        recorder.frame(1, 5, b"\x00\x01")
        recorder.event("error", ValueError("bad"))
        recorder.event("message:t", {"ignored": True})
    assert repr(recorder) == "<wsevents.record.Recorder closed>"
    with FileRecorder(path) as again:
        assert repr(again) == "<wsevents.record.Recorder open>"
        assert not again.closed
    with gzip.open(path, "at") as file:
        file.write('{"kind": "frame", "conn"')
    lines = list(read_recording(path))
    assert [line["kind"] for line in lines] == ["recording", "frame", "event", "recording"]
    assert lines[1]["bytes"] == "AAE="
    assert lines[2]["payload"] == {"error": "ValueError", "message": "bad"}
    assert json.loads(json.dumps(lines[2]))["t"] == 7


async def test_replay_server_fixture_and_gz(
    server: FakeServer,
    make_connection: Make,
    tmp_path: Path,
    replay_server: Callable[..., Any],
) -> None:
    """The pytest plugin's ``replay_server`` serves a ``.gz`` recording; a ``Recorder``
    given as ``record=`` stays open for its owner to close."""
    path = tmp_path / "feed.jsonl.gz"
    recorder = FileRecorder(path)
    ws = make_connection(server.url, subscriptions=["t"], record=recorder)
    rec = Recorder(ws, "message:t")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("t")
    for n in range(3):
        await server.publish("t", {"n": n})
    await rec.wait_count("message:t", 3)
    await ws.close()
    assert not recorder.closed
    recorder.close()

    replayer, replay = await replay_server(path)
    again = make_connection(replayer.url, subscriptions=["t"])
    rec2 = Recorder(again, "message:t")
    await again.connect()
    await replay.wait_finished()
    await rec2.wait_count("message:t", 3)
    assert rec2.of("message:t") == rec.of("message:t")
    assert again.connected  # the client closed the recorded one: left open


async def test_a_client_that_never_subscribes_gets_nothing(tmp_path: Path) -> None:
    """The replay waits (bounded) for the client's opening frames; a client that
    never sends them gets nothing, and the session still counts as played."""
    from websockets.asyncio.client import connect

    path = tmp_path / "s.jsonl"
    with FileRecorder(path) as recorder:
        recorder.opened(1, 0, sent=1)
        recorder.frame(1, 1, "x")
    async with FakeServer() as replayer:
        replay = replayer.replay(path, speed=None)
        replay.opening_timeout = 0.05
        with pytest.raises(TimeoutError, match="0 of 1"):
            await replay.wait_finished(timeout=0.01)
        async with connect(replayer.url):
            await replay.wait_finished()
            assert replay.served == 1


async def test_a_connection_that_never_ran_leaves_no_file(
    make_connection: Make, tmp_path: Path
) -> None:
    """``record="path"`` opens its file with the first line to write: a connection
    closed before it ran neither creates it nor leaves it open."""
    path = tmp_path / "never.jsonl"
    ws = make_connection("ws://127.0.0.1:1/", record=str(path))
    await ws.close()
    assert not path.exists()
