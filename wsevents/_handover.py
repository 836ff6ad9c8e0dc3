"""One make-before-break handover, alive only while it runs (L3).

A :class:`Handover` is created when a connection is to be replaced without a
gap (``Connection.handover()``, a policy recycle) and dropped when it is over,
so an idle connection pays nothing for the feature.  Its life:

1. *recording*: the old connection keeps delivering; what it delivers is
   recorded (:class:`~wsevents._tracking.Overlap`) while :meth:`Handover.prepare`
   opens and subscribes the new connection and collects what that one receives;
2. the connection closes the old one and *switches*: :meth:`Handover.take`
   gives it the new connection and the collected messages, which go through the
   reader like any other;
3. *de-duplicating*: the new connection's messages that the old one already
   delivered are dropped (:meth:`Handover.admit`, by sequence number, dedup key
   or equality) until the first new one, or ``handover_timeout`` after the
   switch; then the handover *resolves* (the ``handover`` event).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from ._signal import Signal
from ._supervisor import Failure
from ._tracking import Overlap, SequenceTracker
from ._transport import TransportConnection
from .exceptions import ConnectError


__all__ = ["Handover"]

#: ``(channel, event name, message)``; the name None for protocol traffic
Decoded = tuple["str | None", "str | None", Any]


class Handover:
    """The state of one handover.

    Args:
        dedup_key: ``message -> hashable`` identifying a message, or None
            (whole decoded messages are compared).
        started: when it began (monotonic seconds).
        report: where the errors of the user's ``dedup_key`` go.
        on_resolved: called once the overlap is resolved.
    """

    __slots__ = (
        "_collector",
        "_on_resolved",
        "_report",
        "_timer",
        "buffer",
        "overlap",
        "recording",
        "resolved",
        "started",
        "ws",
    )

    def __init__(
        self,
        *,
        dedup_key: Callable[[Any], Hashable] | None,
        started: float,
        report: Callable[[Exception], None],
        on_resolved: Callable[[Handover], None],
    ) -> None:
        self.overlap = Overlap(dedup_key)
        self.started = started
        self._report = report
        self._on_resolved = on_resolved
        #: True until the switch: the old connection's messages are recorded
        self.recording = True
        self.resolved = False
        #: the new connection, once open and delivering
        self.ws: TransportConnection | None = None
        #: what the new connection received before the switch
        self.buffer: list[Decoded] = []
        self._collector: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- de-duplication ----------------------------------------------------------------

    def admit(
        self, channel: str | None, message: Any, seq: int | None, tracker: SequenceTracker | None
    ) -> bool:
        """Whether a message is new (False: a duplicate of the old connection's)."""
        overlap = self.overlap
        if self.recording:
            if seq is None:
                try:
                    overlap.record(message)
                except Exception as exc:  # noqa: BLE001 - the user's dedup_key
                    self._report(exc)
            return True
        if self.resolved:
            return True
        if seq is not None and tracker is not None:
            if tracker.is_old(channel, seq):
                overlap.duplicates += 1
                return False
        else:
            try:
                if overlap.is_duplicate(message):
                    return False
            except Exception as exc:  # noqa: BLE001 - the user's dedup_key
                self._report(exc)
        self.resolve()
        return True

    def resolve(self) -> None:
        """The overlap is over (the first new message, a timeout, nothing to compare)."""
        if self.resolved:
            return
        self.resolved = True
        self.overlap.switched = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._on_resolved(self)

    # -- the new connection --------------------------------------------------------------

    async def prepare(
        self,
        open_connection: Callable[[], Awaitable[TransportConnection | Failure]],
        decode: Callable[[str | bytes], Decoded | None],
        reply: Callable[[TransportConnection, Any], Awaitable[None]],
        abort: Callable[[TransportConnection], Awaitable[None]],
        timeout: float,
    ) -> Failure | None:
        """Open the new connection and wait for its first message (or ``timeout``).

        Returns:
            None when it is ready to take over; the :class:`Failure` otherwise
            (the old connection stays in use).
        """
        outcome = await open_connection()
        if isinstance(outcome, Failure):
            return outcome
        new = outcome
        first = Signal()
        collector = asyncio.get_running_loop().create_task(
            self._collect(new, decode, reply, first), name="wsevents-handover-collect"
        )
        waiter = asyncio.ensure_future(first.wait())
        try:
            await asyncio.wait(
                {collector, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            collector.cancel()
            await asyncio.wait({collector})
            await abort(new)
            raise
        finally:
            waiter.cancel()
        if collector.done():
            await abort(new)
            return Failure(error=ConnectError("handover: the new connection closed at once"))
        self.ws = new
        self._collector = collector
        return None

    async def _collect(
        self,
        ws: TransportConnection,
        decode: Callable[[str | bytes], Decoded | None],
        reply: Callable[[TransportConnection, Any], Awaitable[None]],
        first: Signal,
    ) -> None:
        """Read the new connection into :attr:`buffer` until the switch."""
        with contextlib.suppress(ws.closed_error):
            while True:
                decoded = decode(await ws.recv())
                if decoded is None:
                    continue
                if decoded[1] is None:
                    await reply(ws, decoded[2])
                    continue
                self.buffer.append(decoded)
                first.set()

    async def take(self) -> tuple[TransportConnection, list[Decoded]]:
        """The switch: stop collecting; the new connection and what it collected."""
        collector, self._collector = self._collector, None
        if collector is not None:
            collector.cancel()
            await asyncio.wait({collector})
        self.recording = False
        ws, self.ws = self.ws, None
        assert ws is not None
        buffer, self.buffer = self.buffer, []
        return ws, buffer

    def expire_after(self, delay: float) -> None:
        """Resolve ``delay`` seconds from now if no new message came first."""
        if not self.resolved:
            self._timer = asyncio.get_running_loop().call_later(delay, self.resolve)

    async def cancel(self, abort: Callable[[TransportConnection], Awaitable[None]]) -> None:
        """Forget this handover: stop collecting, close the new connection if it was
        not taken over."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        collector, self._collector = self._collector, None
        if collector is not None:
            collector.cancel()
            await asyncio.wait({collector})
        ws, self.ws = self.ws, None
        if ws is not None:
            await abort(ws)
