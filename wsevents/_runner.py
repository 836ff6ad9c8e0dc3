"""The runner: carries out the supervisor's decisions for one connection (L3).

A :class:`Runner` owns the live side of a ``Connection``: the current
transport connection, the tasks (the *runner* task that connects, runs the
reader and waits; the *ticker*, only when policies, ``stale_after`` or a timed
resume need it; a handover's, only while one runs), the teardown, and the
futures that ``connect()``, ``run()`` and ``wait_closed()`` wait on.  Every
decision — retry or not, how long to wait, when a policy fires, whether a
recycle is a handover — comes from the pure
:class:`~wsevents._supervisor.Supervisor`; the runner only carries it out.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Final, TypeAlias

import attrs

from . import _config as cfg
from ._delivery import Dispatcher
from ._handover import Handover
from ._lane import Lane
from ._link import Link
from ._options import Options
from ._signal import Signal
from ._stats import Counters, Stats
from ._supervisor import (
    Disconnect,
    Failure,
    Loss,
    Pause,
    Retry,
    Stop,
    Supervisor,
)
from ._ticker import Ticker
from ._tracking import SequenceTracker
from ._transport import Transport, TransportConnection
from .events import (
    CLOSED,
    CONNECT,
    DISCONNECT,
    HANDOVER,
    RECONNECTING,
    Closed,
    CloseReason,
    DisconnectReason,
    Handover as HandoverEvent,
    State,
)
from .exceptions import ConnectError, NotConnected, WSEventsError


__all__ = ["Runner", "build"]

#: what a handover waits on before it opens its new connection (a pool staggers
#: its shards' recycles with one)
Gate: TypeAlias = Callable[[], AbstractAsyncContextManager[object]]

logger = logging.getLogger("wsevents")

#: seconds close() may take beyond close_timeout to report and tear down
_CLOSE_MARGIN: Final = 0.25


class Runner:
    """The live side of one connection.

    Args:
        url: the URL to connect to; ``masked_url`` is the one to log.
        options: the connection's validated options.
        transport: opens connections.
        supervisor: decides.
        tracker: the sequence numbers to follow (the reader keeps them across
            connections), or None.
        delivery: where lifecycle events go.
        counters: the connection's counters.
        subscriptions: the live subscription set (sent on every connect).
        on_closed: called once everything is torn down (ends the streams).
        gate: entered around each handover's new connection (a pool's one at a time).
    """

    __slots__ = (
        "_clock",
        "_closer",
        "_counters",
        "_delivery",
        "_done",
        "_fatal",
        "_first_connect",
        "_gate",
        "_handed_over",
        "_handover",
        "_handover_ready",
        "_handover_task",
        "_masked_url",
        "_on_closed",
        "_options",
        "_pending",
        "_runner",
        "_socket_closed",
        "_state_changed",
        "_stop_queued",
        "_supervisor",
        "_ticker",
        "_utc_now",
        "_wake_runner",
        "link",
    )

    def __init__(
        self,
        *,
        url: str,
        masked_url: str,
        options: Options,
        transport: Transport,
        supervisor: Supervisor,
        tracker: SequenceTracker | None,
        delivery: Dispatcher | Lane,
        counters: Counters,
        subscriptions: Mapping[str, None],
        on_closed: Callable[[], None],
        gate: Gate | None = None,
    ) -> None:
        self._masked_url = masked_url
        self._gate: Gate = gate or nullcontext
        self._options = options
        self._supervisor = supervisor
        self.link = link = Link(
            url=url,
            options=options,
            transport=transport,
            delivery=delivery,
            counters=counters,
            subscriptions=subscriptions,
            tracker=tracker,
        )
        link.on_handover_wanted = link.reader.on_handover_wanted = self._handover_wanted
        self._delivery = delivery
        self._counters = counters
        self._on_closed = on_closed
        self._clock = options.clock or time.monotonic
        self._utc_now = options.utc_now or _utc_now
        self._runner: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._wake_runner = Signal()
        self._state_changed = Signal()
        self._pending: Retry | Pause | None = None
        self._first_connect: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        #: set once the socket side of close() is done (close() from a handler waits for it)
        self._socket_closed: asyncio.Future[None] | None = None
        self._fatal: BaseException | None = None
        #: the terminal event is queued (once)
        self._stop_queued = False
        # A handover costs nothing until one runs.
        self._handover: Handover | None = None
        self._handover_task: asyncio.Task[None] | None = None
        self._handover_ready: Handover | None = None
        self._handed_over: Signal | None = None

    # -- what the connection asks ---------------------------------------------------------

    @property
    def first_connect(self) -> asyncio.Future[None] | None:
        """Done at the first successful connect (or failed with the fatal error)."""
        return self._first_connect

    @property
    def done(self) -> asyncio.Future[None] | None:
        """Done once closed for good and ``closed`` was delivered."""
        return self._done

    @property
    def fatal(self) -> BaseException | None:
        """The error that closed the connection, if any."""
        return self._fatal

    def open_ws(self) -> TransportConnection | None:
        """The transport connection, while connected."""
        return self.link.ws if self._supervisor.state is State.CONNECTED else None

    async def close(self) -> None:
        """``Connection.close()``: start the teardown (once) and wait for it (a handler waits
        only for the socket side: ``closed`` is delivered after it returns)."""
        sup = self._supervisor
        if sup.state is State.IDLE:
            sup.closing()
            sup.closed()
            return
        if self._closer is None:
            self._begin_close()
        closer = self._closer
        assert closer is not None
        assert self._socket_closed is not None
        if asyncio.current_task() is self._delivery.task:
            # From a handler: the rest is delivered once the handler returns.
            await asyncio.shield(self._socket_closed)
        else:
            await asyncio.shield(closer)

    def _begin_close(self) -> None:
        """Start the teardown (once): ``close()``, or the connection ending by itself."""
        loop = asyncio.get_running_loop()
        self._socket_closed = loop.create_future()
        self._supervisor.closing()
        self._wake_runner.set()
        # Producers waiting for room, and delivery waiting for a task a handler
        # returned, stop waiting: the end is delivered in time.
        self._delivery.release()
        self._closer = loop.create_task(self._teardown(), name="wsevents-close")
        self._closer.add_done_callback(_log_task_error)

    async def _teardown(self) -> None:
        timeout = self._options.transport.close_timeout
        deadline = self._clock() + timeout + _CLOSE_MARGIN
        runner = self._runner
        if self.link.ws is not None:
            await self.link.disconnect(DisconnectReason.SHUTDOWN)
        elif runner is not None and not runner.done():
            runner.cancel()  # connecting or waiting: nothing to be graceful about
        if runner is not None and not runner.done():
            await _bounded(runner, max(0.0, deadline - self._clock()))
        await self._cancel_handover()
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            await _bounded(ticker, 0.5)
        if self._socket_closed is not None and not self._socket_closed.done():
            self._socket_closed.set_result(None)
        if not self._stop_queued:
            self._finish(Stop(Closed(reason=CloseReason.USER, detail="close() called")))
        left = await self._delivery.finish(max(0.0, deadline - self._clock()), _CLOSE_MARGIN)
        if left:
            logger.warning(
                "%s closed with %d undelivered messages (close_timeout)", self._masked_url, left
            )
        self._supervisor.closed()
        self._on_closed()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        # (first_connect was settled by _finish, which always ran above)
        self._state_changed.set()

    # -- proactive control ----------------------------------------------------------

    async def request_disconnect(self, reconnect_after: float | None = None) -> None:
        """``Connection.request_disconnect()``: disconnect on purpose and stay PAUSED."""
        after = cfg.check_number("reconnect_after", reconnect_after, allow_none=True)
        decision = self._supervisor.request_disconnect(
            self._clock(), reconnect_after=after, reason=DisconnectReason.USER
        )
        if after is not None:
            self._ensure_ticker()  # the ticker brings it back after the delay
        if isinstance(decision, Disconnect):
            await self.link.disconnect(decision.reason)
            await self._wait_state_not(State.CONNECTED)
        elif isinstance(decision, Pause):
            self._pending = decision
            self._wake_runner.set()

    async def resume(self) -> None:
        """Reconnect now from PAUSED (or cut a pending backoff wait short)."""
        decision = self._supervisor.resume(self._clock())
        if decision is not None:
            self._pending = decision
            self._wake_runner.set()

    async def _wait_state_not(self, state: State) -> None:
        while self._supervisor.state is state and self._closer is None:
            self._state_changed.clear()
            await self._state_changed.wait()

    def _changed(self) -> None:
        self._state_changed.set()

    # -- sending ---------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._first_connect = loop.create_future()
        self._done = loop.create_future()
        self._supervisor.start()
        self._delivery.start()
        self._runner = loop.create_task(self._run_lifecycle(), name="wsevents-runner")
        sup = self._supervisor
        if (
            sup.should_disconnect is not None
            or sup.should_reconnect is not None
            or self._options.stale_after is not None
        ):
            self._ensure_ticker()

    def _ensure_ticker(self) -> None:
        """Start the ticker, if it is not running: only policies, ``stale_after``
        and timed resumes need it (an idle connection saves a task)."""
        if self._ticker is None and self._closer is None and self._runner is not None:
            ticker = Ticker(
                masked_url=self._masked_url,
                options=self._options,
                supervisor=self._supervisor,
                counters=self._counters,
                clock=self._clock,
                utc_now=self._utc_now,
                stats=self._stats,
                disconnect=self.link.disconnect,
                recycle=self._start_handover,
                retry=self._retry_now,
                busy=self._handover_running,
                report_error=self._delivery.report_error,
            )
            self._ticker = asyncio.get_running_loop().create_task(
                ticker.run(), name="wsevents-ticker"
            )

    async def _run_lifecycle(self) -> None:
        sup = self._supervisor
        counters = self._counters
        try:
            while self._closer is None:
                counters.connect_attempts += 1
                outcome = await self._attempt()
                decision: Retry | Pause | Stop
                if outcome is None or (isinstance(outcome, Failure) and sup.state is State.PAUSED):
                    # request_disconnect() while the attempt was in flight: stay paused.
                    self._pending = None
                    decision = Pause(sup.resume_at)
                elif isinstance(outcome, Failure):
                    counters.failed_attempts += 1
                    decision = sup.connect_failed(self._clock(), outcome)
                    logger.info(
                        "%s: connection attempt %d failed: %s",
                        self._masked_url,
                        sup.attempt,
                        outcome.error,
                    )
                else:
                    ws = outcome
                    while True:
                        # The reader runs in this task: no coroutine frame per layer
                        # for an idle connection to keep.
                        try:
                            closed = await self.link.reader.run(ws)
                        except BaseException:
                            await self.link.ended(ws, None)
                            raise
                        loss = await self.link.ended(ws, closed)
                        ready = self._handover_ready
                        if loss.reason is not DisconnectReason.HANDOVER or ready is None:
                            break
                        ws = await self._switch(ready)
                    decision = await self._lost(loss)
                if not await self._carry_out(decision):
                    break
        except Exception as exc:
            logger.exception("%s: internal error in the connection loop", self._masked_url)
            detail = f"internal error: {exc!r}"
            self._finish(Stop(Closed(reason=CloseReason.INTERNAL_ERROR, error=exc, detail=detail)))
        finally:
            if self._closer is None:
                # Ended by itself (fatal error, clean close): tear down the rest.
                self._begin_close()
            self._changed()

    async def _lost(self, loss: Loss) -> Retry | Pause | Stop:
        """The connection (and those that handovers switched to) is lost: what next."""
        sup = self._supervisor
        await self._cancel_handover()
        event, decision = sup.lost(self._clock(), loss)
        counters = self._counters
        counters.disconnects += 1
        if event.proactive:
            counters.proactive_disconnects += 1
        else:
            counters.reactive_disconnects += 1
        self._delivery.offer_lifecycle(DISCONNECT, event)
        self._changed()
        logger.info(
            "%s: disconnected (%s, code %s) %s",
            self._masked_url,
            event.reason.value,
            event.code,
            event.reason_text,
        )
        return decision

    async def _carry_out(self, decision: Retry | Pause | Stop) -> bool:
        """Do what the supervisor decided; False when the connection is over."""
        sup = self._supervisor
        while True:
            if self._closer is not None and not isinstance(decision, Stop):
                decision = Stop(Closed(reason=CloseReason.USER, detail="close() called"))
            if isinstance(decision, Stop):
                self._finish(decision)
                return False
            self._changed()
            if isinstance(decision, Retry):
                self._delivery.offer_lifecycle(RECONNECTING, decision.event)
                woken = await self._sleep(decision.delay)
            else:
                woken = await self._sleep(None)
            pending, self._pending = self._pending, None
            if self._closer is not None:
                continue
            if woken and pending is not None:
                decision = pending
                continue
            if isinstance(decision, Pause):
                continue  # spurious wake-up: keep waiting
            sup.attempting()
            self._changed()
            return True

    def _finish(self, stop: Stop) -> None:
        """Queue the terminal event (once): the state reads CLOSED for its handlers."""
        if self._stop_queued:  # pragma: no cover - an internal error after a Stop
            return
        self._stop_queued = True
        event = stop.event
        if event.error is not None:
            self._fatal = event.error
            logger.error("%s: closed: %s", self._masked_url, event.detail or event.reason.value)
        self._delivery.offer_call(self._supervisor.closed)
        self._delivery.offer_lifecycle(CLOSED, event)
        if self._first_connect is not None and not self._first_connect.done():
            error = event.error or WSEventsError(f"connection closed: {event.reason.value}")
            self._first_connect.set_exception(error)
            self._first_connect.exception()

    async def _sleep(self, delay: float | None) -> bool:
        """Wait ``delay`` seconds (None: until woken); True when woken early."""
        wake = self._wake_runner
        if wake.is_set():
            wake.clear()
            return True
        if delay is not None and delay <= 0:
            return False
        try:
            if delay is None:
                await wake.wait()
            else:
                await asyncio.wait_for(wake.wait(), delay)
        except (TimeoutError, asyncio.TimeoutError):
            return False
        wake.clear()
        return True

    async def _attempt(self) -> TransportConnection | Failure | None:
        """One connection attempt, subscriptions included; None when paused meanwhile."""
        outcome = await self.link.open()
        if isinstance(outcome, Failure):
            return outcome
        ws = outcome
        if self._supervisor.state is State.PAUSED or self._closer is not None:
            # request_disconnect() or close() during the handshake (a cancellation the
            # handshake swallowed as it completed, on 3.11): do not keep this connection.
            await self.link.abort(ws)
            return None
        # A request_disconnect() then resume() during the handshake left nothing to do.
        self._pending = None
        if self._closer is None:
            self._wake_runner.clear()
        self.link.adopt(ws)
        counters = self._counters
        counters.connects += 1
        if self._supervisor.ever_connected:
            counters.reconnects += 1
        now = self._clock()
        counters.connected_since = now
        counters.last_message_at = now
        event = self._supervisor.connected(now, url=self._masked_url)
        last = self.link.reader.last_sequences
        if last:
            event = attrs.evolve(event, last_sequences=last)
        self._delivery.offer_lifecycle(CONNECT, event)
        early, self.link.early = self.link.early, []
        for channel, name, message in early:  # what arrived during the login
            assert name is not None
            await self.link.reader.feed(channel, name, message)
        logger.info("%s: connected (attempt %d)", self._masked_url, event.attempt)
        if self._first_connect is not None and not self._first_connect.done():
            self._first_connect.set_result(None)
        self._changed()
        return ws

    async def handover(self) -> None:
        """``Connection.handover()``: start a make-before-break handover, wait for the switch."""
        if self._supervisor.state is not State.CONNECTED:
            raise NotConnected(f"nothing to hand over (state {self._supervisor.state.name})")
        if self._handed_over is None:
            self._handed_over = Signal()
        self._handed_over.clear()
        self._start_handover()
        await self._handed_over.wait()

    def _start_handover(self) -> None:
        if self._handover_task is None or self._handover_task.done():
            self._handover_task = asyncio.get_running_loop().create_task(
                self._handover_loop(), name="wsevents-handover"
            )

    async def _handover_loop(self) -> None:
        previous = self._handover
        while previous is not None and not previous.resolved:
            # The previous handover is still de-duplicating: let it finish first.
            self._state_changed.clear()
            await self._state_changed.wait()
        try:
            await self._hand_over()
        finally:
            if self._handover_ready is None and self._handed_over is not None:
                self._handed_over.set()  # gave up (or closed): handover() returns

    async def _hand_over(self) -> None:
        opts = self._options
        failures = 0
        while self._supervisor.state is State.CONNECTED and self._closer is None:
            handover = Handover(
                dedup_key=opts.dedup_key,
                started=self._clock(),
                report=self._delivery.report_error,
                on_resolved=self._handover_resolved,
            )
            self._handover = handover
            self.link.reader.begin_handover(handover)
            async with self._gate():
                failure = await handover.prepare(
                    self.link.open,
                    self.link.reader.decode,
                    self.link.reply,
                    self.link.abort,
                    opts.handover_timeout,
                )
                if failure is None:
                    self._handover_ready = handover
                    await self.link.disconnect(DisconnectReason.HANDOVER)
                    return
            self.link.reader.end_handover(handover)
            self._handover = None
            failures += 1
            logger.warning(
                "%s: handover: new connection failed (%s); keeping the old one",
                self._masked_url,
                failure.error,
            )
            error = failure.error
            self._delivery.report_error(
                error if isinstance(error, Exception) else ConnectError(repr(error))
            )
            if not self._supervisor.should_retry(failure):
                return
            await asyncio.sleep(self._supervisor.backoff.delay(failures + 1))

    async def _switch(self, handover: Handover) -> TransportConnection:
        """The old connection is closed: deliver from the new one from now on."""
        self._handover_ready = None
        new, buffer = await handover.take()
        now = self._clock()
        connected, disconnected = self._supervisor.handed_over(now, url=self._masked_url)
        counters = self._counters
        counters.disconnects += 1
        counters.proactive_disconnects += 1
        counters.connects += 1
        counters.reconnects += 1
        counters.connected_since = now
        self._delivery.offer_lifecycle(CONNECT, connected)
        self._delivery.offer_lifecycle(DISCONNECT, disconnected)
        logger.info("%s: handed over to a new connection", self._masked_url)
        self.link.adopt(new)
        for channel, name, message in buffer:
            assert name is not None
            await self.link.reader.feed(channel, name, message)
        if not buffer:
            handover.resolve()  # nothing arrived on the new connection: nothing to compare
        else:
            handover.expire_after(self._options.handover_timeout)
        if self._handed_over is not None:
            self._handed_over.set()
        self._changed()
        return new

    def _handover_resolved(self, handover: Handover) -> None:
        """The overlap is over: the ``handover`` event."""
        self.link.reader.end_handover(handover)
        if self._handover is handover:
            self._handover = None
        self._delivery.offer_lifecycle(
            HANDOVER,
            HandoverEvent(
                overlap=max(0.0, self._clock() - handover.started),
                duplicates_dropped=handover.overlap.duplicates,
            ),
        )
        self._changed()

    async def _cancel_handover(self) -> None:
        """The connection ended otherwise: forget a handover in progress."""
        task, self._handover_task = self._handover_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})
        handover, self._handover = self._handover, None
        self._handover_ready = None
        if handover is not None:
            self.link.reader.end_handover(handover)
            await handover.cancel(self.link.abort)
        if self._handed_over is not None:
            self._handed_over.set()

    def _handover_wanted(self) -> None:
        """The venue asks for a new connection (Binance's ``serverShutdown``)."""
        if self._supervisor.state is State.CONNECTED and self._closer is None:
            logger.info("%s: the server asks for a new connection: handover", self._masked_url)
            self._start_handover()

    def _handover_running(self) -> bool:
        return self._handover_task is not None and not self._handover_task.done()

    def _stats(self) -> Stats:
        return self._counters.snapshot(self._delivery.depth)

    def _retry_now(self, decision: Retry) -> None:
        self._pending = decision
        self._wake_runner.set()


def build(
    *,
    url: str,
    masked_url: str,
    options: Options,
    transport: Transport,
    delivery: Dispatcher | Lane,
    counters: Counters,
    subscriptions: Mapping[str, None],
    on_closed: Callable[[], None],
    gate: Gate | None = None,
    tracker: SequenceTracker | None = None,
) -> tuple[Supervisor, Runner]:
    """The supervisor and the runner of one connection (a ``Connection``, a pool's shard).

    ``tracker``: the sequence numbers to follow (a pool's shards share the pool's:
    a channel keeps its numbering wherever it lives); default: the connection's own
    when ``options.sequence`` is set.
    """
    supervisor = Supervisor(
        backoff=options.backoff,
        max_attempts=options.max_reconnect_attempts,
        stable_after=options.stable_after,
        server_unavailable_delay=options.server_unavailable_delay,
        reconnect_on_clean_close=options.reconnect_on_clean_close,
        should_retry=options.should_retry,
        should_disconnect=options.should_disconnect,
        should_reconnect=options.should_reconnect,
    )
    runner = Runner(
        url=url,
        masked_url=masked_url,
        options=options,
        transport=transport,
        supervisor=supervisor,
        tracker=tracker
        if tracker is not None or options.sequence is None
        else SequenceTracker(options.sequence),
        delivery=delivery,
        counters=counters,
        subscriptions=subscriptions,
        on_closed=on_closed,
        gate=gate,
    )
    return supervisor, runner


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


async def _bounded(task: asyncio.Task[Any], timeout: float) -> None:
    """Wait for ``task`` at most ``timeout`` seconds, then cancel it and wait for that."""
    if task.done():
        return
    if timeout > 0:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if done:
            return
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:  # pragma: no cover - a bug
        logger.error("wsevents teardown failed", exc_info=task.exception())
