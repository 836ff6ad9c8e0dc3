"""The event-emitting WebSocket client connection (layer L3).

:class:`Connection` is a pyee ``EventEmitter`` (:class:`~wsevents._emitter.Emitter`)
and a thin facade over parts that each own their state:

* the *options* (:mod:`wsevents._options`), validated once;
* the *supervisor* (:mod:`wsevents._supervisor`), a pure state machine that
  decides when to connect, wait, pause, recycle or stop;
* the *transport* (:mod:`wsevents._transport`, :mod:`wsevents._picows`),
  which opens connections and raises wsevents' own errors;
* the *reader* (:mod:`wsevents._reader`): every frame goes through its one
  step (decode, route, track, count, offer);
* the *dispatcher* (:mod:`wsevents._delivery`): the bounded queue, the overflow
  modes and ordered delivery;
* a *handover* (:mod:`wsevents._handover`), only while one runs;
* streams (:mod:`wsevents._stream`).

Tasks while open: the *runner* (connects, runs the reader, carries out the
supervisor's decisions), the *dispatcher*, and the *ticker* only when
policies, ``stale_after`` or a timed resume need it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Final

import attrs

from . import _config as cfg
from ._delivery import Dispatcher
from ._emitter import Emitter
from ._fileconfig import load_config, options_from_mapping
from ._handover import Handover
from ._options import Options, connection_options
from ._reader import Reader
from ._signal import Signal
from ._stats import Counters, Stats
from ._stream import Stream
from ._supervisor import (
    Disconnect,
    Failure,
    Loss,
    Pause,
    PolicyFailed,
    Retry,
    Stop,
    Supervisor,
    classify_close,
    classify_failure,
)
from ._tracking import SequenceTracker
from ._transport import Transport, TransportConnection, connect_error, resolve_transport
from .events import (
    CLOSED,
    CONNECT,
    DISCONNECT,
    HANDOVER,
    MESSAGE,
    RECONNECTING,
    Closed,
    CloseReason,
    DisconnectReason,
    Handover as HandoverEvent,
    State,
)
from .exceptions import ConfigError, ConnectError, NotConnected, WSEventsError
from .policies._base import PolicyContext
from .routing import Frame, JsonProtocol, Protocol


__all__ = ["Connection"]

logger = logging.getLogger("wsevents")

#: seconds close() may take beyond close_timeout to report and tear down
_CLOSE_MARGIN: Final = 0.25


class Connection(Emitter):
    """A WebSocket client connection that emits named events and reconnects.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        transport: the WebSocket client underneath: ``"websockets"`` (None,
            the default) or ``"picows"`` (``pip install 'wsevents[picows]'``),
            about twice as fast per message, or a :class:`Transport` instance.
            Both give the same events, reasons and close codes.
        options: keyword options, validated at once (a bad one raises
            :class:`~wsevents.ConfigError` naming it):

            * ``protocol``: maps frames to channels and channels to subscribe
              frames (default :class:`~wsevents.JsonProtocol`);
            * ``subscriptions``: channels subscribed on every connect;
            * ``headers``: extra handshake headers: a mapping, or a callable
              returning one, called before every connect (fresh credentials);
            * ``ssl``: an :class:`ssl.SSLContext` for ``wss://``;
            * ``backoff``: delays between attempts (:class:`ExponentialBackoff`);
            * ``max_reconnect_attempts``: consecutive failed attempts before
              giving up (None: never give up; 0: never reconnect, ``closed``
              follows the first ``disconnect``);
            * ``stable_after``: seconds a connection must stay up for the
              backoff to start over;
            * ``server_unavailable_delay``: minimum wait after close code 1013;
            * ``reconnect_on_clean_close``: reconnect after a server's 1000/1001;
            * ``should_disconnect``, ``should_reconnect``: policies
              (:mod:`wsevents.policies`), asked every ``check_interval`` seconds;
            * ``queue_size``, ``overflow``: the delivery queue's bound and mode;
            * ``ping_interval``, ``ping_timeout``: protocol keepalive (None: off);
            * ``stale_after``: seconds without a data frame before the
              connection is replaced (None: never);
            * ``open_timeout``, ``close_timeout``: bounds on the handshake and
              on closing;
            * ``max_size``: largest accepted message, bytes (None: unlimited);
            * ``decoder``: a JSON decoder (callable, or ``"json"``/``"orjson"``/
              ``"msgspec"``);
            * ``should_retry``: classifies failed attempts (``Failure -> bool``);
            * ``encoder``: serialises dicts and lists given to :meth:`send`;
            * ``sequence``: ``message -> int | None`` (or a mapping channel →
              such a callable): a skipped, repeated or out-of-order number
              emits ``gap``, and a number is never delivered twice;
            * ``dedup_key``: ``message -> hashable``, to drop the messages both
              connections deliver during a handover;
            * ``handover``, ``handover_timeout``: planned reconnects (a policy
              recycle, :meth:`handover`) are make-before-break;
            * ``clock``, ``utc_now``: the monotonic and wall clocks (tests);
            * ``user_agent``: the User-Agent header.

    Raises:
        ConfigError: a bad option, naming it and its value.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_clock",
        "_closer",
        "_counters",
        "_delivery",
        "_done",
        "_fatal",
        "_first_connect",
        "_handed_over",
        "_handover",
        "_handover_ready",
        "_handover_task",
        "_initiated",
        "_masked_url",
        "_options",
        "_pending",
        "_reader",
        "_runner",
        "_seen_received",
        "_socket_closed",
        "_state_changed",
        "_stop_queued",
        "_streams",
        "_subscriptions",
        "_supervisor",
        "_ticker",
        "_transport",
        "_utc_now",
        "_wake_runner",
        "_ws",
        "protocol",
        "url",
    )

    def __init__(self, url: str, *, transport: str | Transport | None = None, **options: Any):
        self.url = cfg.check_url(url)
        self._transport = resolve_transport(transport)
        try:
            opts = connection_options(self.url, **options)
        except TypeError as exc:
            raise ConfigError("options", sorted(options), f"unknown option ({exc})") from exc
        super().__init__()
        self._options: Options = opts
        self.protocol: Protocol = opts.protocol
        self._subscriptions: dict[str, None] = dict.fromkeys(opts.subscriptions)
        self._clock = opts.clock or time.monotonic
        self._utc_now = opts.utc_now or _utc_now
        self._masked_url = cfg.mask_url(self.url)
        self._counters = counters = Counters()
        self._delivery = Dispatcher(
            self, queue_size=opts.queue_size, overflow=opts.overflow, counters=counters
        )
        self._supervisor = Supervisor(
            backoff=opts.backoff,
            max_attempts=opts.max_reconnect_attempts,
            stable_after=opts.stable_after,
            server_unavailable_delay=opts.server_unavailable_delay,
            reconnect_on_clean_close=opts.reconnect_on_clean_close,
            should_retry=opts.should_retry,
            should_disconnect=opts.should_disconnect,
            should_reconnect=opts.should_reconnect,
        )
        self._reader = Reader(
            opts.protocol,
            self._delivery,
            counters,
            tracker=None if opts.sequence is None else SequenceTracker(opts.sequence),
            reply=self._reply,
        )
        self._ws: TransportConnection | None = None
        self._initiated: DisconnectReason | None = None
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
        self._seen_received = 0
        self._streams: set[Stream] | None = None
        # A handover costs nothing until one runs.
        self._handover: Handover | None = None
        self._handover_task: asyncio.Task[None] | None = None
        self._handover_ready: Handover | None = None
        self._handed_over: Signal | None = None

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any] | str | os.PathLike[str], **overrides: Any
    ) -> Connection:
        """Build a connection from a configuration table or a TOML file.

        Example (TOML)::

            [wsevents]
            url = "wss://stream.example.com/ws"
            subscriptions = ["trades"]
            protocol = { kind = "json", channel_key = "channel" }
            backoff = { kind = "exponential", initial = 0.5, maximum = 30 }
            should_disconnect = { policy = "candle", interval = "4h" }

        Args:
            config: a mapping, or the path of a TOML file (its ``[wsevents]``
                table, or the whole file).
            overrides: keyword options that win over the configuration
                (objects that a file cannot hold: ``ssl``, ``headers`` callables).

        Raises:
            ConfigError: a bad value, naming its key path (``should_disconnect.interval``).
        """
        if isinstance(config, (str, os.PathLike)):
            config = load_config(config)
        url, options = options_from_mapping(config, build_protocol=_protocol_from_config)
        options.update(overrides)
        return cls(url, **options)

    # -- introspection -------------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the connection is in its lifecycle."""
        return self._supervisor.state

    @property
    def stats(self) -> Stats:
        """A frozen snapshot of the counters."""
        return self._counters.snapshot(self._delivery.depth)

    @property
    def check_interval(self) -> float:
        """Seconds between two policy checks (the ``check_interval`` option)."""
        return self._options.check_interval

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The channels subscribed on every connect."""
        return tuple(self._subscriptions)

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._supervisor.state is State.CONNECTED and self._ws is not None

    def __repr__(self) -> str:
        return f"<wsevents.Connection {self._masked_url} {self.state.name}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (retrying through the backoff) and return once connected.

        Raises:
            ConnectError: it could not connect: :class:`HandshakeRejected` for a
                fatal HTTP status, :class:`ReconnectExhausted` when
                ``max_reconnect_attempts`` attempts failed.
            WSEventsError: the connection was closed meanwhile.
        """
        if self._supervisor.state is State.IDLE:
            self._start()
        if self._first_connect is None:
            raise WSEventsError("connection is closed")
        await asyncio.shield(self._first_connect)

    async def run(self) -> None:
        """Connect if needed, then serve until the connection is closed.

        Returns when :meth:`close` was called (or the connection ended by
        itself without an error: a clean close with
        ``reconnect_on_clean_close=False``, a loss with ``max_reconnect_attempts=0``).

        Raises:
            ConnectError: a fatal failure (refused handshake, attempts exhausted).
        """
        if self._supervisor.state is State.IDLE:
            self._start()
        if self._done is None:
            raise WSEventsError("connection is closed")
        try:
            await asyncio.shield(self._done)
        except asyncio.CancelledError:
            await self.close()
            raise
        if self._fatal is not None:
            raise self._fatal

    async def __aenter__(self) -> Connection:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed for good and ``closed`` was delivered
        (without raising its error)."""
        if self._done is not None:
            await asyncio.shield(self._done)

    async def close(self) -> None:
        """Close for good: graceful, and bounded by ``close_timeout`` plus a small margin.

        Messages still queued are delivered while the time allows; the rest are
        counted in ``stats.messages_dropped``.  Idempotent, and safe from
        anywhere: a handler (it returns once the socket is closed; ``closed``
        is delivered after the handler), a task a handler returned, or another
        thread through :mod:`wsevents.sync`.
        """
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
        ws = self._ws
        if ws is not None:
            self._initiated = DisconnectReason.SHUTDOWN
            await _abort(ws, timeout)
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
        for stream in list(self._streams or ()):
            stream.end()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        if self._first_connect is not None and not self._first_connect.done():
            self._first_connect.set_exception(
                self._fatal or WSEventsError("connection closed before it connected")
            )
            self._first_connect.exception()  # mark retrieved: nobody may be waiting
        self._state_changed.set()

    # -- proactive control ----------------------------------------------------------

    async def request_disconnect(self, reconnect_after: float | None = None) -> None:
        """Disconnect now, on purpose, and stay PAUSED.

        The connection comes back when ``reconnect_after`` seconds have passed,
        when the ``should_reconnect`` policy says so, or on :meth:`resume`.
        A proactive disconnect never counts as a failure for the backoff.
        """
        after = cfg.check_number("reconnect_after", reconnect_after, allow_none=True)
        decision = self._supervisor.request_disconnect(
            self._clock(), reconnect_after=after, reason=DisconnectReason.USER
        )
        if after is not None:
            self._ensure_ticker()  # the ticker brings it back after the delay
        if isinstance(decision, Disconnect):
            await self._disconnect(decision.reason)
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

    async def _disconnect(self, reason: DisconnectReason) -> None:
        ws = self._ws
        if ws is None:
            return
        self._initiated = reason
        await _abort(ws, self._options.transport.close_timeout)

    async def _wait_state_not(self, state: State) -> None:
        while self._supervisor.state is state and self._closer is None:
            self._state_changed.clear()
            await self._state_changed.wait()

    def _changed(self) -> None:
        self._state_changed.set()

    # -- sending ---------------------------------------------------------------------

    async def send(self, message: Frame) -> None:
        """Send a message now: dict/list → JSON text, str → text, bytes → binary.

        Raises:
            NotConnected: there is no open connection.
            TypeError: ``message`` is of another type.
        """
        ws = self._ws
        if ws is None or self._supervisor.state is not State.CONNECTED:
            raise NotConnected(f"not connected (state {self.state.name}): message not sent")
        await self._send_on(ws, message)

    async def _send_on(self, ws: TransportConnection, message: Frame) -> None:
        if isinstance(message, (str, bytes)):
            data: str | bytes = message
        elif isinstance(message, (Mapping, list, tuple)):
            data = self._options.encoder(message)
        else:
            raise TypeError(
                f"cannot send {type(message).__name__}: give a dict, list, str or bytes"
            )
        try:
            await ws.send(data)
        except ws.closed_error as exc:
            raise NotConnected(f"connection closed while sending: {exc}") from exc
        self._counters.messages_sent += 1

    async def _reply(self, ws: TransportConnection, message: Any) -> None:
        """Answer protocol traffic (an application pong), if the protocol says so."""
        answer = self.protocol.reply(message)
        if answer is not None:
            with contextlib.suppress(NotConnected):
                await self._send_on(ws, answer)

    async def subscribe(self, *channels: str) -> None:
        """Add channels to the subscription set; subscribe now if connected.

        The set is restored on every reconnect.
        """
        new = [c for c in cfg.check_channels("channels", channels) if c not in self._subscriptions]
        self._subscriptions.update(dict.fromkeys(new))
        ws = self._ws
        if new and ws is not None and self._supervisor.state is State.CONNECTED:
            for frame in self.protocol.subscribe(new):
                await self._send_on(ws, frame)

    async def unsubscribe(self, *channels: str) -> None:
        """Remove channels from the subscription set; unsubscribe now if connected."""
        gone = [c for c in cfg.check_channels("channels", channels) if c in self._subscriptions]
        for channel in gone:
            del self._subscriptions[channel]
        ws = self._ws
        if gone and ws is not None and self._supervisor.state is State.CONNECTED:
            for frame in self.protocol.unsubscribe(gone):
                await self._send_on(ws, frame)

    # -- streams -------------------------------------------------------------------------

    def stream(self, event: str = MESSAGE, *, maxsize: int = 1000) -> AsyncIterator[Any]:
        """An async iterator over one event's payloads.

        It listens from the moment ``stream()`` is called (nothing emitted
        after that is missed, even before the first ``anext``).  Each call gets
        its own buffer of ``maxsize`` (fan-out to every consumer); it follows
        the connection's ``overflow`` mode (``block`` makes the dispatcher wait
        for the consumer, drops are counted and reported by ``queue_full``) and
        ends when the connection is closed (whether the consumer is iterating,
        waiting or gone), or on ``aclose()``.

        Example::

            async for trade in ws.stream("message:trades"):
                ...
        """
        if not isinstance(event, str) or not event:
            raise ConfigError("event", event, "must be an event name")
        size = cfg.check_positive_int("maxsize", maxsize)
        assert size is not None
        if self._streams is None:
            self._streams = set()
        stream = Stream(self, self._delivery, event, size, self._streams.discard)
        self._streams.add(stream)
        if self._supervisor.state is State.CLOSED:
            stream.end()
        return stream

    # -- the runner --------------------------------------------------------------------

    def _start(self) -> None:
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
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick_forever(), name="wsevents-ticker"
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
                    decision = await self._serve(outcome)
                if not await self._carry_out(decision):
                    break
        except Exception as exc:
            logger.exception("%s: internal error in the connection loop", self._masked_url)
            detail = f"internal error: {exc!r}"
            self._finish(Stop(Closed(reason=CloseReason.INTERNAL_ERROR, error=exc, detail=detail)))
        finally:
            self._ws = None
            if self._closer is None:
                # Ended by itself (fatal error, clean close): tear down the rest.
                self._begin_close()
            self._changed()

    async def _serve(self, ws: TransportConnection) -> Retry | Pause | Stop:
        """Serve one connection (and those that handovers switch to) until it is lost."""
        sup = self._supervisor
        while True:
            loss = await self._read(ws)
            ready = self._handover_ready
            if loss.reason is not DisconnectReason.HANDOVER or ready is None:
                break
            ws = await self._switch(ready)
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

    async def _read(self, ws: TransportConnection) -> Loss:
        """Run the reader on ``ws`` until the connection ends; how it ended."""
        try:
            await self._reader.run(ws)
        except ws.closed_error as exc:
            info = ws.close_info(exc)
            initiated, self._initiated = self._initiated, None
            return classify_close(
                rcvd_code=info.rcvd_code,
                rcvd_reason=info.rcvd_reason,
                sent_code=info.sent_code,
                sent_reason=info.sent_reason,
                rcvd_then_sent=info.rcvd_then_sent,
                initiated=initiated,
            )
        finally:
            self._ws = None
            self._counters.connected_since = None
            await _abort(ws, self._options.transport.close_timeout)
        raise AssertionError("the reader returned without the connection closing")

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
        if self._stop_queued:
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
        outcome = await self._open()
        if isinstance(outcome, Failure):
            return outcome
        ws = outcome
        if self._supervisor.state is State.PAUSED:
            # request_disconnect() during the handshake: do not keep this connection.
            await _abort(ws, self._options.transport.close_timeout)
            return None
        # A request_disconnect() then resume() during the handshake left nothing to do.
        self._pending = None
        if self._closer is None:
            self._wake_runner.clear()
        self._initiated = None
        self._ws = ws
        counters = self._counters
        counters.connects += 1
        if self._supervisor.ever_connected:
            counters.reconnects += 1
        now = self._clock()
        counters.connected_since = now
        counters.last_message_at = now
        self._seen_received = counters.messages_received
        event = self._supervisor.connected(now, url=self._masked_url)
        last = self._reader.last_sequences
        if last:
            event = attrs.evolve(event, last_sequences=last)
        self._delivery.offer_lifecycle(CONNECT, event)
        logger.info("%s: connected (attempt %d)", self._masked_url, event.attempt)
        if self._first_connect is not None and not self._first_connect.done():
            self._first_connect.set_result(None)
        self._changed()
        return ws

    async def _open(self) -> TransportConnection | Failure:
        """Open a WebSocket connection and send the subscriptions."""
        close_timeout = self._options.transport.close_timeout
        try:
            ws = await self._transport.open(
                self.url, self._options.transport, self._resolve_headers()
            )
        except ConnectError as exc:
            return classify_failure(exc, now_epoch=time.time())
        except Exception as exc:  # noqa: BLE001 - a custom transport broke the contract
            return classify_failure(connect_error(exc), now_epoch=time.time())
        try:
            for frame in self.protocol.subscribe(list(self._subscriptions)):
                await self._send_on(ws, frame)
        except (NotConnected, OSError) as exc:
            close_code = ws.close_rcvd_code()
            await _abort(ws, close_timeout)
            error = ConnectError(f"connection lost while subscribing: {exc}")
            error.__cause__ = exc
            return classify_failure(error, now_epoch=time.time(), close_code=close_code)
        except BaseException:
            await _abort(ws, close_timeout)
            raise
        return ws

    def _resolve_headers(self) -> Mapping[str, str] | None:
        headers = self._options.headers
        if headers is None or not callable(headers):
            return headers
        try:
            value = headers()
        except Exception as exc:
            raise ConnectError(f"the headers callable raised {exc!r}") from exc
        return cfg.validate_header_mapping(value, name="headers()")

    # -- make-before-break handover ----------------------------------------------------

    async def handover(self) -> None:
        """Replace the connection make-before-break, now; return once switched.

        A new connection is opened and subscribed first; once it delivers (or
        after ``handover_timeout``), delivery switches to it and the old one is
        closed (``disconnect`` with reason ``HANDOVER``).  The messages both
        delivered are dropped from the new one (by ``dedup_key``, by sequence
        number, or by equality) until its first new message, when the
        ``handover`` event reports the overlap.  If the new connection cannot be
        opened, the old one stays in use and the attempt is retried with the
        backoff.

        Raises:
            NotConnected: there is no connection to hand over.
        """
        if self._supervisor.state is not State.CONNECTED:
            raise NotConnected(f"nothing to hand over (state {self.state.name})")
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
            self._reader.begin_handover(handover)
            failure = await handover.prepare(
                self._open,
                self._reader.decode,
                self._reply,
                self._abort,
                opts.handover_timeout,
            )
            if failure is None:
                self._handover_ready = handover
                await self._disconnect(DisconnectReason.HANDOVER)
                return
            self._reader.end_handover(handover)
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
        self._ws = new
        for channel, name, message in buffer:
            assert name is not None
            await self._reader.feed(channel, name, message)
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
        self._reader.end_handover(handover)
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
            self._reader.end_handover(handover)
            await handover.cancel(self._abort)
        if self._handed_over is not None:
            self._handed_over.set()

    async def _abort(self, ws: TransportConnection) -> None:
        await _abort(ws, self._options.transport.close_timeout)

    # -- the ticker ----------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        sup = self._supervisor
        opts = self._options
        counters = self._counters
        while True:
            now = self._clock()
            await asyncio.sleep(max(0.0, sup.wake_at(now, opts.check_interval) - now))
            now = self._clock()
            if counters.messages_received != self._seen_received:
                self._seen_received = counters.messages_received
                counters.last_message_at = now
            if sup.is_stale(now, counters.last_message_at, opts.stale_after):
                logger.warning("%s: no data for %.1f s: replacing the connection",
                               self._masked_url, now - (counters.last_message_at or now))
                await self._disconnect(DisconnectReason.STALE)
                continue
            if sup.should_disconnect is None and sup.should_reconnect is None and (
                sup.resume_at is None
            ):
                continue
            if self._handover_task is not None and not self._handover_task.done():
                continue  # a handover is under way: the policies wait for it
            decision = sup.tick(self._context(now))
            if isinstance(decision, Disconnect):
                if sup.is_recycle(decision, handover=opts.handover):
                    logger.info("%s: planned reconnect: handover", self._masked_url)
                    self._start_handover()
                    continue
                logger.info("%s: disconnecting: policy", self._masked_url)
                await self._disconnect(decision.reason)
            elif isinstance(decision, Retry):
                self._pending = decision
                self._wake_runner.set()
            elif isinstance(decision, PolicyFailed):
                self._delivery.report_error(decision.error)

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
            stats=self.stats,
        )


def _protocol_from_config(table: dict[str, Any]) -> Protocol:
    """``{kind = "json", ...}`` or ``{kind = "binance", ...}`` to a protocol."""
    options = dict(table)
    kind = options.pop("kind", "json")
    if kind == "json":
        try:
            return JsonProtocol(**options)
        except TypeError as exc:
            raise ConfigError("protocol", table, f"bad JsonProtocol options ({exc})") from exc
    if kind == "binance":
        from .binance import BinanceProtocol

        try:
            return BinanceProtocol(**options)
        except TypeError as exc:
            raise ConfigError("protocol", table, f"bad BinanceProtocol options ({exc})") from exc
    raise ConfigError("protocol.kind", kind, "must be 'json' or 'binance'")


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


async def _abort(ws: TransportConnection, timeout: float) -> None:
    """Close ``ws`` within ``timeout``, aborting the TCP connection if needed.

    Also called on a connection that is already closed (it returns at once),
    so that the transport can finish its own bookkeeping.
    """
    with contextlib.suppress(TimeoutError, asyncio.TimeoutError, OSError, ws.closed_error):
        await asyncio.wait_for(ws.close(), timeout)
    if not ws.closed:
        ws.abort()


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
    if not task.cancelled() and task.exception() is not None:
        logger.error("wsevents teardown failed", exc_info=task.exception())
