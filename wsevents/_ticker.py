"""The ticker: asks the policies and notices a stale feed, every ``check_interval`` (L3).

A connection runs a :class:`Ticker` task only when something needs the time
to pass: ``should_disconnect`` / ``should_reconnect`` policies, ``stale_after``,
or a timed resume.  It decides nothing itself: the supervisor's
:meth:`~wsevents._supervisor.Supervisor.tick`, ``is_stale`` and ``is_recycle``
do, and the ticker hands their answers to the runner.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from collections.abc import Awaitable, Callable

from ._options import Options
from ._stats import Counters, Stats
from ._supervisor import Disconnect, PolicyFailed, Retry, Supervisor
from .events import DisconnectReason
from .exceptions import PolicyError
from .policies._base import PolicyContext


__all__ = ["Ticker"]

logger = logging.getLogger("wsevents")


class Ticker:
    """The periodic checks of one connection.

    Args:
        masked_url: the URL to log.
        options: ``check_interval``, ``stale_after``, ``handover``.
        supervisor: decides.
        counters: when data last flowed (``last_message_at`` is kept here at
            ``check_interval`` resolution: no clock read per message).
        clock, utc_now: the monotonic and wall clocks.
        stats: a snapshot of the stats, for the policies.
        disconnect: close the connection with a reason.
        recycle: start a make-before-break handover.
        retry: carry out a reconnect decision now.
        busy: True while a handover runs (the policies wait for it).
        report_error: where a failing policy is reported.
    """

    __slots__ = (
        "_busy",
        "_clock",
        "_counters",
        "_disconnect",
        "_masked_url",
        "_options",
        "_recycle",
        "_report_error",
        "_retry",
        "_seen",
        "_stats",
        "_supervisor",
        "_utc_now",
    )

    def __init__(
        self,
        *,
        masked_url: str,
        options: Options,
        supervisor: Supervisor,
        counters: Counters,
        clock: Callable[[], float],
        utc_now: Callable[[], _dt.datetime],
        stats: Callable[[], Stats],
        disconnect: Callable[[DisconnectReason], Awaitable[None]],
        recycle: Callable[[], None],
        retry: Callable[[Retry], None],
        busy: Callable[[], bool],
        report_error: Callable[[Exception], None],
    ) -> None:
        self._masked_url = masked_url
        self._options = options
        self._supervisor = supervisor
        self._counters = counters
        self._clock = clock
        self._utc_now = utc_now
        self._stats = stats
        self._disconnect = disconnect
        self._recycle = recycle
        self._retry = retry
        self._busy = busy
        self._report_error = report_error
        #: messages_received at the last tick (or connect)
        self._seen = counters.messages_received

    async def run(self) -> None:
        """Tick until cancelled."""
        sup = self._supervisor
        opts = self._options
        while True:
            now = self._clock()
            await asyncio.sleep(max(0.0, sup.wake_at(now, opts.check_interval) - now))
            await self.tick(self._clock())

    async def tick(self, now: float) -> None:
        """One round of checks at monotonic time ``now``."""
        sup = self._supervisor
        counters = self._counters
        if counters.messages_received != self._seen:
            self._seen = counters.messages_received
            counters.last_message_at = now
        if sup.is_stale(now, counters.last_message_at, self._options.stale_after):
            silent = now - (counters.last_message_at or now)
            logger.warning("%s: no data for %.1f s: replacing the connection",
                           self._masked_url, silent)
            await self._disconnect(DisconnectReason.STALE)
            return
        if sup.should_disconnect is None and sup.should_reconnect is None and (
            sup.resume_at is None
        ):
            return
        if self._busy():
            return  # a handover is under way: the policies wait for it
        try:
            context = self._context(now)
        except Exception as exc:  # noqa: BLE001 - a broken utc_now must not stop the ticker
            error = PolicyError(f"the policy context could not be built: {exc!r}")
            error.__cause__ = exc
            self._report_error(error)
            return
        decision = sup.tick(context)
        if isinstance(decision, Disconnect):
            if sup.is_recycle(decision, handover=self._options.handover):
                logger.info("%s: planned reconnect: handover", self._masked_url)
                self._recycle()
                return
            logger.info("%s: disconnecting: policy", self._masked_url)
            await self._disconnect(decision.reason)
        elif isinstance(decision, Retry):
            self._retry(decision)
        elif isinstance(decision, PolicyFailed):
            self._report_error(decision.error)

    def _context(self, now: float) -> PolicyContext:
        sup = self._supervisor
        counters = self._counters
        since = counters.connected_since
        return PolicyContext(
            now=self._utc_now(),
            monotonic=now,
            state=sup.state,
            connected_since=since,
            uptime=None if since is None else now - since,
            last_message_at=counters.last_message_at,
            paused_since=sup.paused_since,
            stats=self._stats(),
        )
