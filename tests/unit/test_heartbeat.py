"""HeartbeatSpec validation and HeartbeatScheduler on an injected clock and timer
queue (fixed schedule, idle-only schedule, answers, a missed answer, send errors)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from wsevents import ConfigError, HeartbeatSpec
from wsevents._heartbeat import HeartbeatScheduler, HeartbeatStats


class Handle:
    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTime:
    """An injected clock and call_later: time moves only when the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.handles: list[Handle] = []

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Handle:
        handle = Handle(self.now + delay, callback, args)
        self.handles.append(handle)
        return handle

    def advance(self, seconds: float) -> None:
        """Move time forward, running due callbacks in time order."""
        end = self.now + seconds
        while True:
            due = [h for h in self.handles if not h.cancelled and h.when <= end]
            if not due:
                break
            handle = min(due, key=lambda h: h.when)
            self.handles.remove(handle)
            self.now = handle.when
            handle.callback(*handle.args)
        self.now = end


class Peer:
    """Records heartbeats sent; a stand-in for the connection's send."""

    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.missed = 0

    async def send(self, frame: Any) -> None:
        self.frames.append(frame)

    def on_missed(self) -> None:
        self.missed += 1


def spec(**overrides: Any) -> HeartbeatSpec:
    options: dict[str, Any] = {
        "interval": 20.0,
        "frame": {"op": "ping"},
        "is_answer": lambda m: m == "pong",
        "timeout": 10.0,
    }
    options.update(overrides)
    return HeartbeatSpec(**options)


async def settle() -> None:
    """Let the heartbeat's send task run (it awaits nothing that blocks)."""
    for _ in range(3):
        await asyncio.sleep(0)


def scheduler(hb: HeartbeatSpec, time: FakeTime, peer: Peer, **kw: Any) -> HeartbeatScheduler:
    return HeartbeatScheduler(
        hb, peer.send, peer.on_missed, clock=time.clock, call_later=time.call_later, **kw
    )


class TestSpec:
    @pytest.mark.parametrize(
        ("key", "options"),
        [
            ("heartbeat.interval", {"interval": 0}),
            ("heartbeat.interval", {"interval": float("nan")}),
            ("heartbeat.interval", {"interval": True}),
            ("heartbeat.timeout", {"timeout": -1}),
            ("heartbeat.frame", {"frame": 3}),
            ("heartbeat.is_answer", {"is_answer": "pong"}),
            ("heartbeat.when_idle", {"when_idle": "yes"}),
        ],
    )
    def test_bad_values(self, key: str, options: dict[str, Any]) -> None:
        """Each bad value is a ConfigError naming its key."""
        with pytest.raises(ConfigError) as info:
            spec(**options)
        assert info.value.key == key

    def test_frame_value_or_callable(self) -> None:
        """A frame is sent as is; a callable is called for each heartbeat."""
        assert spec(frame="ping").make_frame() == "ping"
        counter = iter(range(3))
        made = spec(frame=lambda: {"op": "ping", "n": next(counter)})
        assert made.make_frame() == {"op": "ping", "n": 0}
        assert made.make_frame() == {"op": "ping", "n": 1}


class TestFixedSchedule:
    async def test_sends_every_interval_and_answers_clear_the_wait(self) -> None:
        """A ping every 20 s; answered each time, nothing is missed."""
        time, peer = FakeTime(), Peer()
        hb = scheduler(spec(), time, peer)
        hb.start()
        hb.start()  # idempotent
        for _ in range(3):
            time.advance(20)
            await settle()
            assert hb.check_answer("pong") is True
        assert peer.frames == [{"op": "ping"}] * 3
        assert hb.check_answer({"op": "other"}) is False
        assert hb.stats == HeartbeatStats(sent=3, answered=3, missed=0)
        assert peer.missed == 0
        assert hb.running
        assert "every 20.0s running, 3 sent" in repr(hb)
        hb.stop()
        assert not hb.running

    async def test_fixed_schedule_ignores_activity(self) -> None:
        """Traffic does not delay a fixed-schedule heartbeat (Bybit wants it anyway)."""
        time, peer = FakeTime(), Peer()
        hb = scheduler(spec(), time, peer)
        hb.start()
        time.advance(15)
        hb.activity()
        time.advance(5)
        await settle()
        assert len(peer.frames) == 1
        hb.stop()

    async def test_missing_answer_calls_on_missed_once_and_stops(self) -> None:
        """No answer within the timeout: on_missed() once, and no more heartbeats."""
        time, peer = FakeTime(), Peer()
        hb = scheduler(spec(), time, peer)
        hb.start()
        time.advance(29.9)
        await settle()
        assert peer.missed == 0
        time.advance(0.1)
        assert peer.missed == 1
        assert not hb.running
        time.advance(100)
        await settle()
        assert peer.frames == [{"op": "ping"}]
        assert hb.stats.missed == 1

    async def test_one_wait_for_overlapping_heartbeats(self) -> None:
        """With interval < timeout the answer deadline runs from the first unanswered one."""
        time, peer = FakeTime(), Peer()
        hb = scheduler(spec(interval=4.0, timeout=10.0), time, peer)
        hb.start()
        time.advance(13.9)  # pings at 4, 8, 12; deadline 14
        assert peer.missed == 0
        time.advance(0.1)
        assert peer.missed == 1

    async def test_stop_cancels_timers_and_sends(self) -> None:
        """After stop(), nothing fires; a send in flight is cancelled."""
        time, peer = FakeTime(), Peer()
        gate = asyncio.Event()

        async def blocked_send(frame: Any) -> None:
            await gate.wait()

        hb = HeartbeatScheduler(
            spec(), blocked_send, peer.on_missed, clock=time.clock, call_later=time.call_later
        )
        hb.start()
        time.advance(20)
        await settle()
        hb.stop()
        hb.stop()
        await asyncio.wait_for(hb.wait_stopped(), 1)
        time.advance(100)
        assert peer.missed == 0
        await hb.wait_stopped()  # nothing left

    async def test_answer_after_stop_and_missed_after_stop(self) -> None:
        """A deadline that fires after stop() is ignored."""
        time, peer = FakeTime(), Peer()
        hb = scheduler(spec(), time, peer)
        hb.start()
        time.advance(20)
        handle = hb._answer_handle
        assert handle is not None
        hb.stop()
        hb._missed_answer()
        hb._tick()
        assert peer.missed == 0


class TestIdleSchedule:
    async def test_only_when_idle(self) -> None:
        """when_idle: traffic keeps pushing the heartbeat back; silence sends it."""
        time, peer = FakeTime(), Peer()
        hb = scheduler(spec(interval=25.0, frame="ping", when_idle=True, timeout=5.0), time, peer)
        hb.start()
        for _ in range(10):
            time.advance(10)
            hb.activity()
        await settle()
        assert peer.frames == []
        time.advance(25)
        await settle()
        assert peer.frames == ["ping"]
        hb.activity(time.now)
        assert hb.check_answer("pong")
        time.advance(24)
        await settle()
        assert peer.frames == ["ping"]
        time.advance(1)
        await settle()
        assert peer.frames == ["ping", "ping"]
        hb.stop()


class TestErrors:
    async def test_send_error_goes_to_on_error(self) -> None:
        """A failing send is reported to on_error, not raised into the loop."""
        time, peer = FakeTime(), Peer()
        errors: list[Exception] = []

        async def broken(frame: Any) -> None:
            raise ConnectionError("closed")

        hb = HeartbeatScheduler(
            spec(), broken, peer.on_missed,
            clock=time.clock, call_later=time.call_later, on_error=errors.append,
        )
        hb.start()
        time.advance(20)
        await settle()
        assert [str(e) for e in errors] == ["closed"]
        hb.stop()

    async def test_send_error_logged_without_on_error(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without on_error the failure is logged at DEBUG."""
        time, peer = FakeTime(), Peer()

        async def broken(frame: Any) -> None:
            raise ConnectionError("closed")

        hb = scheduler(spec(), time, peer)
        hb._send = broken
        with caplog.at_level(logging.DEBUG, logger="wsevents.heartbeat"):
            hb.start()
            time.advance(20)
            await settle()
        assert "sending a heartbeat failed" in caplog.text
        hb.stop()


class TestRealLoop:
    async def test_defaults_use_the_running_loop(self) -> None:
        """Without injection the loop's clock and call_later run it for real (short interval)."""
        peer = Peer()
        answered = asyncio.Event()

        async def send(frame: Any) -> None:
            peer.frames.append(frame)
            answered.set()

        hb = HeartbeatScheduler(spec(interval=0.01, timeout=1.0), send, peer.on_missed)
        hb.start()
        await asyncio.wait_for(answered.wait(), 5)
        assert hb.check_answer("pong")
        hb.stop()
        await hb.wait_stopped()
        assert peer.missed == 0
