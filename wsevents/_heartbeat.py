"""Client-sent application heartbeats (layer L3).

Some venues close a connection whose client does not ping them itself: OKX
after 30 s without a text ``ping`` (close 4004), Bybit wants ``{"op": "ping"}``
every 20 s.  A protocol asks for them with a
:class:`~wsevents.routing.HeartbeatSpec`; :class:`HeartbeatScheduler` carries
it out for one connection:

* on a fixed schedule (``when_idle=False``): a heartbeat every ``interval``;
* or only when idle (``when_idle=True``): a heartbeat when nothing was received
  for ``interval`` seconds (the connection reports every received frame with
  :meth:`HeartbeatScheduler.activity`);
* every consumed message goes through :meth:`HeartbeatScheduler.check_answer`;
  when no answer came ``timeout`` seconds after a heartbeat, ``on_missed()`` is
  called once (the connection then disconnects as ``STALE``) and the scheduler
  stops.

Timers are ``loop.call_later`` handles (one for the schedule, one for the
awaited answer); the clock and ``call_later`` can be injected for tests.  Each
heartbeat is sent by a short task (one every ``interval`` seconds, not one per
message), kept and cancelled by :meth:`HeartbeatScheduler.stop`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs

from .routing import Frame, HeartbeatSpec


__all__ = [
    "HeartbeatScheduler",
    "HeartbeatStats",
]

_logger = logging.getLogger("wsevents.heartbeat")


class _Handle(Protocol):
    def cancel(self) -> None: ...


#: ``loop.call_later``'s signature: (delay, callback, *args) -> a cancellable handle
CallLater = Callable[..., _Handle]


@attrs.frozen(kw_only=True)
class HeartbeatStats:
    """Counters of one :class:`HeartbeatScheduler` (a snapshot).

    Args:
        sent: heartbeats handed to ``send``.
        answered: answers recognised by ``is_answer``.
        missed: heartbeats left unanswered past ``timeout`` (0 or 1: the
            scheduler stops at the first).
    """

    sent: int = 0
    answered: int = 0
    missed: int = 0


class HeartbeatScheduler:
    """Sends a protocol's heartbeats on one connection and watches for the answers.

    Args:
        spec: what to send, how often, and how to recognise the answer.
        send: sends one frame (the connection's ``send``, through its send limit).
        on_missed: called once when an answer is ``timeout`` seconds late.
        clock: monotonic seconds (default: the running loop's ``time``).
        call_later: schedules a callback (default: the running loop's ``call_later``).
        on_error: called with the exception when sending a heartbeat fails
            (default: logged at DEBUG; the connection's own failure handling
            sees the broken socket anyway).

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        spec: HeartbeatSpec,
        send: Callable[[Frame], Awaitable[object]],
        on_missed: Callable[[], object],
        *,
        clock: Callable[[], float] | None = None,
        call_later: CallLater | None = None,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self._spec = spec
        self._send = send
        self._on_missed = on_missed
        self._clock = clock
        self._call_later = call_later
        self._on_error = on_error
        self._last = 0.0
        self._tick_handle: _Handle | None = None
        self._answer_handle: _Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._sent = 0
        self._answered = 0
        self._missed = 0

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<HeartbeatScheduler every {self._spec.interval}s {state}, {self._sent} sent>"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (or a missed answer)."""
        return self._running

    @property
    def stats(self) -> HeartbeatStats:
        """A frozen snapshot of the counters."""
        return HeartbeatStats(sent=self._sent, answered=self._answered, missed=self._missed)

    def start(self) -> None:
        """Start the schedule (call once the connection is open)."""
        if self._running:
            return
        if self._clock is None or self._call_later is None:
            loop = asyncio.get_running_loop()
            self._clock = self._clock or loop.time
            self._call_later = self._call_later or loop.call_later
        self._running = True
        self._last = self._now()
        self._arm(self._spec.interval)

    def stop(self) -> None:
        """Stop: cancel the timers and any heartbeat being sent.  Idempotent."""
        self._running = False
        for handle in (self._tick_handle, self._answer_handle):
            if handle is not None:
                handle.cancel()
        self._tick_handle = self._answer_handle = None
        for task in self._tasks:
            task.cancel()

    async def wait_stopped(self) -> None:
        """Wait until the heartbeats being sent when :meth:`stop` was called are done."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    def activity(self, now: float | None = None) -> None:
        """Record that a frame was received (``now``: its time on the same clock)."""
        self._last = self._now() if now is None else now

    def check_answer(self, message: Any) -> bool:
        """True when ``message`` answers a heartbeat (and then clears the wait for it)."""
        if not self._spec.is_answer(message):
            return False
        self._answered += 1
        if self._answer_handle is not None:
            self._answer_handle.cancel()
            self._answer_handle = None
        return True

    # -- timers --------------------------------------------------------------------------

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock()

    def _arm(self, delay: float) -> None:
        assert self._call_later is not None
        self._tick_handle = self._call_later(delay, self._tick)

    def _tick(self) -> None:
        self._tick_handle = None
        if not self._running:
            return
        interval = self._spec.interval
        if self._spec.when_idle:
            idle = self._now() - self._last
            if idle < interval:
                self._arm(interval - idle)
                return
        self._beat()
        self._arm(interval)

    def _beat(self) -> None:
        frame = self._spec.make_frame()
        self._sent += 1
        task = asyncio.get_running_loop().create_task(
            self._send_one(frame), name="wsevents-heartbeat"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._answer_handle is None:
            assert self._call_later is not None
            self._answer_handle = self._call_later(self._spec.timeout, self._missed_answer)

    async def _send_one(self, frame: Frame) -> None:
        try:
            await self._send(frame)
        except Exception as exc:  # noqa: BLE001 - a task boundary: reported, not raised
            if self._on_error is not None:
                self._on_error(exc)
            else:
                _logger.debug("sending a heartbeat failed: %r", exc)

    def _missed_answer(self) -> None:
        self._answer_handle = None
        if not self._running:
            return
        self._missed += 1
        self.stop()
        self._on_missed()
