"""The event-emitting WebSocket client connection (layer L3).

:class:`Connection` is a pyee ``EventEmitter`` plus a WebSocket client loop (on
``websockets`` by default, or picows: :mod:`wsevents._transport`) that carries
out the decisions of the lifecycle supervisor (:mod:`wsevents._supervisor`).
Two or three tasks run while it is open:

* the *runner* connects, then reads frames as fast as they come (so that
  the keepalive pings keep working whatever the handlers do), decodes
  and routes them, and puts them on the delivery queue; when the connection
  ends it asks the supervisor what to do and does it (wait, reconnect, pause,
  stop);
* the *dispatcher* (:mod:`wsevents._delivery`) delivers queued events in order;
* the *ticker*, only when policies, ``stale_after`` or a timed resume need
  it, wakes every ``check_interval`` to ask the policies and notice stale
  connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import logging
import os
import ssl as _ssl
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final

import attrs

from . import _config as cfg
from ._delivery import Dispatcher, Signal
from ._fileconfig import load_config, options_from_mapping
from ._stats import Counters, Stats
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
    parse_retry_after,
)
from ._tracking import Overlap, SequenceOption, SequenceTracker, check_sequence_option
from ._transport import (
    HandshakeFailed,
    HandshakeStatus,
    Transport,
    TransportConnection,
    resolve_transport,
)
from .backoff import Backoff, ExponentialBackoff
from .events import (
    CLOSED,
    CONNECT,
    DISCONNECT,
    GAP,
    HANDOVER,
    MESSAGE,
    MESSAGE_PREFIX,
    RECONNECTING,
    Closed,
    DisconnectReason,
    Handover,
    State,
)
from .exceptions import (
    ConfigError,
    ConnectError,
    FrameError,
    HandshakeRejected,
    NotConnected,
    WSEventsError,
)
from .policies._base import PolicyContext, as_disconnect_policy, as_reconnect_policy
from .routing import CONSUMED, Decoder, Frame, JsonProtocol, Protocol, resolve_decoder


__all__ = ["Connection"]

logger = logging.getLogger("wsevents")

_STREAM_END: Final = object()
#: protocols are frozen and stateless: connections share the default one
_DEFAULT_PROTOCOL: Final = JsonProtocol()
#: seconds close() may take beyond close_timeout to report and tear down
_CLOSE_MARGIN: Final = 0.25


class Connection(Dispatcher):
    """A WebSocket client connection that emits named events and reconnects.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        protocol: maps frames to channels and channels to subscribe frames
            (default :class:`~wsevents.JsonProtocol`).
        subscriptions: channels subscribed on every connect.
        headers: extra handshake headers: a mapping, or a callable returning
            one, called before every connect (fresh credentials).
        ssl: an :class:`ssl.SSLContext` for ``wss://`` (certificates are
            verified with the system's store otherwise).
        backoff: delays between attempts (default :class:`ExponentialBackoff`).
        max_reconnect_attempts: consecutive failed attempts before giving up
            (None: never give up).
        stable_after: seconds a connection must stay up for the backoff to
            start over when it is lost.
        server_unavailable_delay: minimum wait after close code 1013.
        reconnect_on_clean_close: reconnect after the server's 1000/1001 close.
        should_disconnect, should_reconnect: policies (see :mod:`wsevents.policies`).
        check_interval: seconds between two policy checks.
        queue_size, overflow: the delivery queue's bound and overflow mode.
        ping_interval, ping_timeout: protocol keepalive (None disables it).
        stale_after: seconds without a data frame before the connection is
            replaced (None: never).
        open_timeout, close_timeout: bounds on the handshake and on closing.
        max_size: largest accepted frame, in bytes.
        decoder: a JSON decoder (callable, or ``"json"``/``"orjson"``/``"msgspec"``).
        should_retry: classifies failed attempts (``Failure -> bool``), to
            override which handshake statuses are retried.
        encoder: serialises dicts and lists given to :meth:`send` (default ``json.dumps``).
        sequence: ``message -> int | None`` (or a mapping channel → such a
            callable): sequence numbers to track; a skipped, repeated or
            out-of-order number emits ``gap`` and a number is never delivered twice.
        dedup_key: ``message -> hashable`` identifying a message, used to drop
            the messages both connections deliver during a handover.
        handover: make planned reconnects (a policy recycle such as
            :class:`~wsevents.policies.MaxConnectionAge`, :meth:`handover`)
            make-before-break: open and subscribe the new connection first.
        handover_timeout: seconds to wait for the new connection's first
            message before switching anyway.
        clock: monotonic clock (seconds); tests may inject one.
        utc_now: wall clock returning an aware UTC datetime, for policies.
        user_agent: the User-Agent header (None: the transport's default).
        transport: the WebSocket client underneath: ``"websockets"`` (None,
            the default) or ``"picows"`` (``pip install 'wsevents[picows]'``),
            about twice as fast per message.  Both give the same events,
            reasons and close codes; the differences:

            * picows' default User-Agent is ``Python/3.x picows-websockets/<v>``;
            * the body of a refused handshake (:class:`HandshakeRejected`) is
              what arrived with the response's headers;
            * picows logs each connection (INFO) and each protocol error it
              detects, an oversized frame say (ERROR), on ``picows.client.<fd>``;
            * picows' read buffer grows during a burst, so one read can bring
              many more frames than asyncio's 256 KiB reads under websockets:
              the delivery queue fills further before the dispatcher runs
              (higher ``stats.queue_peak`` and memory; nothing is dropped for
              it, see ``overflow``).

    Raises:
        ConfigError: a bad option, naming it and its value.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_clock",
        "_close_lock",
        "_close_timeout",
        "_closed_emitted",
        "_closing",
        "_dedup_key",
        "_dispatcher",
        "_done",
        "_encoder",
        "_fatal",
        "_first_connect",
        "_handed_over",
        "_handover_enabled",
        "_handover_ready",
        "_handover_task",
        "_handover_timeout",
        "_headers",
        "_initiated",
        "_masked_url",
        "_max_size",
        "_names",
        "_open_timeout",
        "_overlap",
        "_overlap_recording",
        "_overlap_resolved",
        "_overlap_started",
        "_overlap_timer",
        "_pending",
        "_ping_interval",
        "_ping_timeout",
        "_runner",
        "_seen_received",
        "_sequences",
        "_ssl",
        "_stale_after",
        "_state_changed",
        "_subscriptions",
        "_supervisor",
        "_teardown",
        "_ticker",
        "_tracking",
        "_transport",
        "_user_agent",
        "_utc_now",
        "_wake_runner",
        "_ws",
        "check_interval",
        "protocol",
        "url",
    )

    def __init__(
        self,
        url: str,
        *,
        protocol: Protocol | None = None,
        subscriptions: Iterable[str] = (),
        headers: cfg.HeadersOption = None,
        ssl: _ssl.SSLContext | None = None,
        backoff: Backoff | None = None,
        max_reconnect_attempts: int | None = None,
        stable_after: float = 30.0,
        server_unavailable_delay: float = 30.0,
        reconnect_on_clean_close: bool = True,
        should_disconnect: Any = None,
        should_reconnect: Any = None,
        check_interval: float = 1.0,
        queue_size: int = 10_000,
        overflow: cfg.Overflow = "drop_oldest",
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        stale_after: float | None = None,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        max_size: int = 2**20,
        decoder: Decoder | str | None = None,
        should_retry: Callable[[Failure], bool] | None = None,
        encoder: Callable[[Any], str] | None = None,
        sequence: SequenceOption = None,
        dedup_key: Callable[[Any], Hashable] | None = None,
        handover: bool = True,
        handover_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        utc_now: Callable[[], _dt.datetime] | None = None,
        user_agent: str | None = None,
        transport: str | Transport | None = None,
    ) -> None:
        self.url = cfg.check_url(url)
        self._transport = resolve_transport(transport)
        if protocol is None:
            protocol = _DEFAULT_PROTOCOL
        elif not isinstance(protocol, Protocol):
            raise ConfigError("protocol", protocol, "must be a wsevents.Protocol instance")
        resolved = resolve_decoder(decoder)
        if resolved is not None:
            protocol = protocol.with_decoder(resolved)
        self.protocol = protocol
        self._subscriptions: dict[str, None] = dict.fromkeys(
            cfg.check_channels("subscriptions", subscriptions)
        )
        self._headers = cfg.check_headers(headers)
        self._ssl = cfg.check_ssl(ssl, self.url)
        if backoff is None:
            backoff = ExponentialBackoff()
        elif not callable(getattr(backoff, "delay", None)):
            raise ConfigError("backoff", backoff, "must have a delay(attempt) method")
        self.check_interval = _num(cfg.check_number("check_interval", check_interval, strict=True))
        queue_bound = cfg.check_positive_int("queue_size", queue_size)
        assert queue_bound is not None
        self._ping_interval = cfg.check_number("ping_interval", ping_interval, allow_none=True)
        self._ping_timeout = cfg.check_number("ping_timeout", ping_timeout, allow_none=True)
        self._stale_after = cfg.check_number(
            "stale_after", stale_after, strict=True, allow_none=True
        )
        self._open_timeout = cfg.check_number("open_timeout", open_timeout, strict=True)
        close_bound = cfg.check_number("close_timeout", close_timeout, strict=True)
        assert close_bound is not None
        self._close_timeout = close_bound
        self._max_size = cfg.check_positive_int("max_size", max_size)
        self._encoder = cfg.check_callable("encoder", encoder) or json.dumps
        self._clock = cfg.check_callable("clock", clock, allow_none=False)
        self._utc_now = cfg.check_callable("utc_now", utc_now) or _utc_now
        if user_agent is not None and not isinstance(user_agent, str):
            raise ConfigError("user_agent", user_agent, "must be a string or None")
        self._user_agent = user_agent
        super().__init__(
            queue_size=queue_bound,
            overflow=cfg.check_overflow(overflow),
            counters=Counters(),
        )
        self._supervisor = Supervisor(
            backoff=backoff,
            max_attempts=cfg.check_positive_int(
                "max_reconnect_attempts", max_reconnect_attempts, allow_none=True
            ),
            stable_after=_num(cfg.check_number("stable_after", stable_after)),
            server_unavailable_delay=_num(
                cfg.check_number("server_unavailable_delay", server_unavailable_delay)
            ),
            reconnect_on_clean_close=cfg.check_bool(
                "reconnect_on_clean_close", reconnect_on_clean_close
            ),
            should_retry=cfg.check_callable("should_retry", should_retry),
            should_disconnect=as_disconnect_policy(should_disconnect),
            should_reconnect=as_reconnect_policy(should_reconnect),
        )
        sequence = check_sequence_option(sequence)
        self._sequences = None if sequence is None else SequenceTracker(sequence)
        self._dedup_key = cfg.check_callable("dedup_key", dedup_key)
        self._handover_enabled = cfg.check_bool("handover", handover)
        self._handover_timeout = _num(
            cfg.check_number("handover_timeout", handover_timeout, strict=True)
        )
        #: True when the reader must call _admit (sequences or a handover overlap)
        self._tracking = self._sequences is not None
        self._overlap: Overlap | None = None
        self._overlap_recording = False
        self._overlap_started = 0.0
        self._handover_task: asyncio.Task[None] | None = None
        self._handover_ready: (
            tuple[TransportConnection, asyncio.Task[None], list[Any]] | None
        ) = None
        self._handed_over = Signal()
        self._overlap_resolved = Signal()
        self._overlap_timer: asyncio.TimerHandle | None = None
        self._masked_url = cfg.mask_url(self.url)
        # channel -> event name ("message:<channel>"), memoised for the reader
        self._names: dict[str | None, str] = {None: MESSAGE}
        self._ws: TransportConnection | None = None
        self._initiated: DisconnectReason | None = None
        self._runner: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wake_runner = Signal()
        self._pending: Retry | Pause | None = None
        self._first_connect: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._state_changed = Signal()
        self._fatal: BaseException | None = None
        self._closing = False
        self._seen_received = 0
        self._close_lock: asyncio.Lock | None = None
        self._closed_emitted = False
        self._teardown: asyncio.Task[None] | None = None

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
        return self._counters.snapshot(len(self._queue) - self._lifecycle_queued)

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

        Returns when :meth:`close` was called (or the server closed cleanly with
        ``reconnect_on_clean_close=False``).

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
        """Wait until the connection is closed for good (without raising its error)."""
        if self._done is not None:
            await asyncio.shield(self._done)

    async def close(self) -> None:
        """Close for good: graceful, and bounded by ``close_timeout`` plus a small margin.

        Messages still queued are delivered while the time allows; the rest are
        counted in ``stats.messages_dropped``.  Idempotent.
        """
        if self._close_lock is None:
            self._close_lock = asyncio.Lock()
        async with self._close_lock:
            teardown = self._teardown
            if teardown is not None and teardown is not asyncio.current_task():
                # The connection is already ending by itself: wait for that.
                await asyncio.wait({teardown}, timeout=self._close_timeout + _CLOSE_MARGIN)
            if self._supervisor.state is State.CLOSED:
                return
            deadline = self._clock() + self._close_timeout + _CLOSE_MARGIN
            self._closing = True
            if self._supervisor.state is State.IDLE:
                self._supervisor.closing()
                self._supervisor.closed()
                return
            self._supervisor.closing()
            self._wake_runner.set()
            space = self._space
            if space is not None and not space.done():
                space.set_result(None)  # a reader blocked on a full queue gives up
            ws = self._ws
            runner = self._runner
            if ws is not None:
                self._initiated = DisconnectReason.SHUTDOWN
                await _abort(ws, self._close_timeout)
            elif runner is not None and runner is not asyncio.current_task():
                runner.cancel()  # connecting or waiting: nothing to be graceful about
            if runner is not None and not runner.done() and runner is not asyncio.current_task():
                await _bounded(runner, max(0.0, deadline - self._clock()))
            await self._stop_tasks(deadline)

    async def _stop_tasks(self, deadline: float) -> None:
        await self._cancel_handover()
        ticker, self._ticker = self._ticker, None
        if ticker is not None and ticker is not asyncio.current_task():
            ticker.cancel()
            await _bounded(ticker, 0.5)
        if not self._closed_emitted:
            self._finish(Stop(Closed(reason="close() called")))
        dispatcher = self._dispatcher
        if dispatcher is not None and not dispatcher.done():
            # Deliver what is queued (``closed`` last) while time allows.
            drained = self._put_barrier()
            if dispatcher is asyncio.current_task():
                # close() from a handler: the dispatcher ends at the barrier,
                # after delivering what is queued before it.
                self._finalise(drain=False)
                return
            await asyncio.wait({drained}, timeout=max(0.0, deadline - self._clock()))
            await _bounded(dispatcher, 0.0)
        self._finalise()

    def _finalise(self, *, drain: bool = True) -> None:
        left = self._drain_remaining() if drain else 0
        if left:
            self._counters.messages_dropped += left
            logger.warning(
                "%s closed with %d undelivered messages (close_timeout)", self._masked_url, left
            )
        self._supervisor.closed()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        if self._first_connect is not None and not self._first_connect.done():
            self._first_connect.set_exception(
                self._fatal or WSEventsError("connection closed before it connected")
            )
            self._first_connect.exception()  # mark retrieved: nobody may be waiting
        self._state_changed.set()

    # -- proactive control ----------------------------------------------------------

    async def request_disconnect(
        self, reconnect_after: float | None = None, *, _reason: DisconnectReason | None = None
    ) -> None:
        """Disconnect now, on purpose, and stay PAUSED.

        The connection comes back when ``reconnect_after`` seconds have passed,
        when the ``should_reconnect`` policy says so, or on :meth:`resume`.
        A proactive disconnect never counts as a failure for the backoff.
        """
        after = cfg.check_number("reconnect_after", reconnect_after, allow_none=True)
        reason = _reason or DisconnectReason.USER
        decision = self._supervisor.request_disconnect(
            self._clock(), reconnect_after=after, reason=reason
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
        await _abort(ws, self._close_timeout)

    async def _wait_state_not(self, state: State) -> None:
        while self._supervisor.state is state and not self._closing:
            self._state_changed.clear()
            await self._state_changed.wait()

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
            data = self._encoder(message)
        else:
            raise TypeError(
                f"cannot send {type(message).__name__}: give a dict, list, str or bytes"
            )
        try:
            await ws.send(data)
        except ws.closed_error as exc:
            raise NotConnected(f"connection closed while sending: {exc}") from exc
        self._counters.messages_sent += 1

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
        its own queue of ``maxsize`` (fan-out to every consumer); it follows the
        connection's ``overflow`` mode (``block`` makes the dispatcher wait for
        the consumer, drops are counted and reported by ``queue_full``) and
        ends when the connection is closed, or on ``aclose()``.

        Example::

            async for trade in ws.stream("message:trades"):
                ...
        """
        if not isinstance(event, str) or not event:
            raise ConfigError("event", event, "must be an event name")
        size = cfg.check_positive_int("maxsize", maxsize)
        assert size is not None
        return _Stream(self, event, size)

    # -- the runner --------------------------------------------------------------------

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._first_connect = loop.create_future()
        self._done = loop.create_future()
        self._supervisor.start()
        self._dispatcher = loop.create_task(self._dispatch_forever(), name="wsevents-dispatch")
        self._runner = loop.create_task(self._run_lifecycle(), name="wsevents-runner")
        sup = self._supervisor
        if (
            sup.should_disconnect is not None
            or sup.should_reconnect is not None
            or self._stale_after is not None
        ):
            self._ensure_ticker()

    def _ensure_ticker(self) -> None:
        """Start the ticker, if it is not running: only policies, ``stale_after``
        and timed resumes need it (an idle connection saves a task)."""
        if self._ticker is None and not self._closing and self._runner is not None:
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick_forever(), name="wsevents-ticker"
            )

    def _changed(self) -> None:
        self._state_changed.set()

    async def _run_lifecycle(self) -> None:
        sup = self._supervisor
        try:
            while True:
                if self._closing:
                    break
                self._counters.connect_attempts += 1
                outcome = await self._attempt()
                decision: Retry | Pause | Stop
                if outcome is None or (isinstance(outcome, Failure) and sup.state is State.PAUSED):
                    # request_disconnect() while the attempt was in flight: stay paused.
                    self._pending = None
                    decision = Pause(sup.resume_at)
                elif isinstance(outcome, Failure):
                    self._counters.failed_attempts += 1
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
                        loss = await self._serve(ws)
                        ready = self._handover_ready
                        if loss.reason is DisconnectReason.HANDOVER and ready is not None:
                            ws = await self._switch(ready)
                            continue
                        await self._cancel_handover()
                        break
                    event, decision = sup.lost(self._clock(), loss)
                    self._count_disconnect(event.proactive)
                    self._put_lifecycle(DISCONNECT, event)
                    self._changed()
                    logger.info(
                        "%s: disconnected (%s, code %s) %s",
                        self._masked_url,
                        event.reason.value,
                        event.code,
                        event.reason_text,
                    )
                if not await self._carry_out(decision):
                    break
        except Exception as exc:
            logger.exception("%s: internal error in the connection loop", self._masked_url)
            self._finish(Stop(Closed(reason="internal error", error=exc)))
        finally:
            self._ws = None
            if not self._closing:
                # Ended by itself (fatal error, clean close): tear down the rest.
                self._closing = True
                sup.closing()
                self._teardown = asyncio.get_running_loop().create_task(
                    self._stop_tasks(self._clock() + self._close_timeout),
                    name="wsevents-teardown",
                )
                self._teardown.add_done_callback(_log_task_error)
            self._changed()

    async def _carry_out(self, decision: Retry | Pause | Stop) -> bool:
        """Do what the supervisor decided; False when the connection is over."""
        sup = self._supervisor
        while True:
            if self._closing and not isinstance(decision, Stop):
                decision = Stop(Closed(reason="close() called"))
            if isinstance(decision, Stop):
                self._finish(decision)
                return False
            self._changed()
            if isinstance(decision, Retry):
                self._put_lifecycle(RECONNECTING, decision.event)
                woken = await self._sleep(decision.delay)
            else:
                woken = await self._sleep(None)
            pending, self._pending = self._pending, None
            if self._closing:
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
        self._closed_emitted = True
        event = stop.event
        if event.error is not None:
            self._fatal = event.error
            logger.error("%s: closed: %s", self._masked_url, event.reason)
        self._put_lifecycle(CLOSED, event)
        if self._first_connect is not None and not self._first_connect.done():
            error = event.error or WSEventsError(f"connection closed: {event.reason}")
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
            await _abort(ws, self._close_timeout)
            return None
        # A request_disconnect() then resume() during the handshake left nothing to do.
        self._pending = None
        if not self._closing:
            self._wake_runner.clear()
        self._initiated = None
        self._ws = ws
        self._counters.connects += 1
        if self._supervisor.ever_connected:
            self._counters.reconnects += 1
        now = self._clock()
        self._counters.connected_since = now
        self._counters.last_message_at = now
        self._seen_received = self._counters.messages_received
        event = self._supervisor.connected(now, url=self._masked_url)
        if self._sequences is not None and self._sequences.last:
            event = attrs.evolve(event, last_sequences=dict(self._sequences.last))
        self._put_lifecycle(CONNECT, event)
        logger.info("%s: connected (attempt %d)", self._masked_url, event.attempt)
        if self._first_connect is not None and not self._first_connect.done():
            self._first_connect.set_result(None)
        self._changed()
        return ws

    async def _open(self) -> TransportConnection | Failure:
        """Open a WebSocket connection and send the subscriptions."""
        try:
            ws = await self._transport.open(
                self.url,
                headers=self._resolve_headers(),
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                close_timeout=self._close_timeout,
                max_size=self._max_size,
                ssl=self._ssl,
                user_agent=self._user_agent,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a Failure in one place
            return self._failure(exc)
        try:
            frames = self.protocol.subscribe(list(self._subscriptions))
            for frame in frames:
                await self._send_on(ws, frame)
        except (NotConnected, OSError) as exc:
            close_code = ws.close_rcvd_code()
            await _abort(ws, self._close_timeout)
            return Failure(
                error=ConnectError(f"connection lost while subscribing: {exc}"),
                close_code=close_code,
            )
        except BaseException:
            await _abort(ws, self._close_timeout)
            raise
        return ws

    # -- sequences, de-duplication and make-before-break handover ----------------------

    def _admit(self, channel: str | None, message: Any) -> bool:
        """Whether the reader delivers ``message``: sequence and handover checks.

        Only called when sequences are tracked or a handover overlap is open.
        """
        overlap = self._overlap
        seq: int | None = None
        tracker = self._sequences
        if tracker is not None:
            try:
                seq = tracker.number(channel, message)
            except Exception as exc:  # noqa: BLE001 - user code: report, deliver anyway
                error = FrameError(f"sequence function failed: {exc!r}")
                self._report_error_sync(_chain(error, exc))
        if overlap is not None:
            if self._overlap_recording:
                if seq is None:
                    try:
                        overlap.record(message)
                    except Exception as exc:  # noqa: BLE001 - user code
                        self._report_error_sync(exc)
            elif not overlap.switched:
                if seq is not None and tracker is not None:
                    duplicate = tracker.is_old(channel, seq)
                    if duplicate:
                        overlap.duplicates += 1
                    else:
                        overlap.switched = True
                else:
                    try:
                        duplicate = overlap.is_duplicate(message)
                    except Exception as exc:  # noqa: BLE001 - user code
                        self._report_error_sync(exc)
                        duplicate = False
                        overlap.switched = True
                if duplicate:
                    self._counters.duplicates_dropped += 1
                    return False
                self._handover_done(overlap)
        if seq is not None and tracker is not None:
            deliver, gap = tracker.check(channel, seq)
            if gap is not None:
                self._counters.gaps += 1
                self._put_lifecycle(GAP, gap)
            if not deliver:
                self._counters.duplicates_dropped += 1
                return False
        return True

    def _handover_done(self, overlap: Overlap) -> None:
        """The overlap is resolved: the new connection delivered its first new message."""
        if self._overlap_timer is not None:
            self._overlap_timer.cancel()
            self._overlap_timer = None
        self._overlap = None
        self._tracking = self._sequences is not None
        self._put_lifecycle(
            HANDOVER,
            Handover(
                overlap=max(0.0, self._clock() - self._overlap_started),
                duplicates_dropped=overlap.duplicates,
            ),
        )
        self._overlap_resolved.set()

    def _overlap_expired(self) -> None:
        """Nothing new arrived within handover_timeout of the switch: stop de-duplicating."""
        self._overlap_timer = None
        overlap = self._overlap
        if overlap is not None and not self._overlap_recording:
            overlap.switched = True
            self._handover_done(overlap)

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
        self._handed_over.clear()
        self._start_handover()
        await self._handed_over.wait()

    def _start_handover(self) -> None:
        if self._handover_task is None or self._handover_task.done():
            self._handover_task = asyncio.get_running_loop().create_task(
                self._handover_loop(), name="wsevents-handover"
            )

    async def _handover_loop(self) -> None:
        if self._overlap is not None:
            # The previous handover is still de-duplicating: let it finish first.
            await self._overlap_resolved.wait()
        failures = 0
        while self._supervisor.state is State.CONNECTED and not self._closing:
            # Record what the old connection delivers from before the new one
            # exists: the server may send to both before our handshake returns.
            self._overlap_resolved.clear()
            self._overlap = Overlap(self._dedup_key)
            self._overlap_recording = True
            self._overlap_started = self._clock()
            self._tracking = True
            outcome = await self._open()
            if isinstance(outcome, Failure):
                self._stop_recording()
                failures += 1
                logger.warning(
                    "%s: handover: new connection failed (%s); keeping the old one",
                    self._masked_url,
                    outcome.error,
                )
                self._report_error_sync(_as_exception(outcome.error))
                if not self._supervisor.should_retry(outcome):
                    return
                await asyncio.sleep(self._supervisor.backoff.delay(failures + 1))
                continue
            new = outcome
            buffer: list[Any] = []
            first = asyncio.Event()
            collector = asyncio.get_running_loop().create_task(
                self._collect(new, buffer, first), name="wsevents-handover-collect"
            )
            waiter = asyncio.ensure_future(first.wait())
            try:
                await asyncio.wait(
                    {collector, waiter},
                    timeout=self._handover_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            except asyncio.CancelledError:
                collector.cancel()
                await asyncio.wait({collector})
                await _abort(new, self._close_timeout)
                raise
            finally:
                waiter.cancel()
            if collector.done():  # the new connection died before it delivered
                failures += 1
                self._stop_recording()
                await _abort(new, self._close_timeout)
                continue
            self._handover_ready = (new, collector, buffer)
            await self._disconnect(DisconnectReason.HANDOVER)
            return

    def _stop_recording(self) -> None:
        """A handover attempt failed: the old connection stops recording."""
        self._overlap = None
        self._overlap_recording = False
        self._tracking = self._sequences is not None
        self._overlap_resolved.set()

    async def _collect(
        self, ws: TransportConnection, buffer: list[Any], first: asyncio.Event
    ) -> None:
        """Read the new connection into ``buffer`` until the switch."""
        decode = self.protocol.decode
        with contextlib.suppress(ws.closed_error):
            while True:
                frame = await ws.recv()
                self._counters.messages_received += 1
                try:
                    channel, message = decode(frame)
                except Exception as exc:  # noqa: BLE001 - a bad frame is an error event
                    self._bad_frame(exc, frame)
                    continue
                if channel == CONSUMED:
                    await self._reply(ws, message)
                    continue
                buffer.append((channel, message))
                first.set()

    async def _switch(
        self, ready: tuple[TransportConnection, asyncio.Task[None], list[Any]]
    ) -> TransportConnection:
        """The old connection is closed: deliver from the new one from now on."""
        new, collector, buffer = ready
        self._handover_ready = None
        collector.cancel()
        await asyncio.wait({collector})
        now = self._clock()
        connected, disconnected = self._supervisor.handed_over(now, url=self._masked_url)
        counters = self._counters
        counters.disconnects += 1
        counters.proactive_disconnects += 1
        counters.connects += 1
        counters.reconnects += 1
        counters.connected_since = now
        self._put_lifecycle(CONNECT, connected)
        self._put_lifecycle(DISCONNECT, disconnected)
        logger.info("%s: handed over to a new connection", self._masked_url)
        self._ws = new
        self._overlap_recording = False
        overlap = self._overlap
        for channel, message in buffer:
            if not self._tracking or self._admit(channel, message):
                name = self._names.get(channel) or self._name_for(channel)
                assert name is not None
                self._put_message(name, message)
        if self._overlap is overlap and overlap is not None:
            if buffer:
                self._overlap_timer = asyncio.get_running_loop().call_later(
                    self._handover_timeout, self._overlap_expired
                )
            else:
                # Nothing arrived on the new connection: nothing to de-duplicate.
                overlap.switched = True
                self._handover_done(overlap)
        self._handed_over.set()
        self._changed()
        return new

    def _put_message(self, name: str, message: Any) -> None:
        """Queue one message outside the reader's loop (handover replay)."""
        if len(self._queue) - self._lifecycle_queued < self._queue_size:
            self._queue.append((name, message))
            self._wake()
        else:
            # Replaying a handover buffer: never block here, the reader resumes next.
            overflow = self._overflow
            if overflow == "block":
                self._queue.append((name, message))
                self._wake()
            else:
                self._put_message_slow(name, message)

    async def _cancel_handover(self) -> None:
        """The connection ended otherwise: forget a handover in progress."""
        task, self._handover_task = self._handover_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})
        ready, self._handover_ready = self._handover_ready, None
        if ready is not None:
            new, collector, _ = ready
            collector.cancel()
            await asyncio.wait({collector})
            await _abort(new, self._close_timeout)
        if self._overlap_timer is not None:
            self._overlap_timer.cancel()
            self._overlap_timer = None
        self._overlap = None
        self._overlap_recording = False
        self._tracking = self._sequences is not None
        self._overlap_resolved.set()
        self._handed_over.set()

    def _resolve_headers(self) -> Mapping[str, str] | None:
        headers = self._headers
        if headers is None or not callable(headers):
            return headers
        try:
            value = headers()
        except Exception as exc:
            raise ConnectError(f"the headers callable raised {exc!r}") from exc
        return cfg.validate_header_mapping(value, name="headers()")

    def _failure(self, exc: Exception) -> Failure:
        """Map what the transport's ``open()`` raised to a :class:`Failure` (one place)."""
        if isinstance(exc, HandshakeStatus):
            rejected = HandshakeRejected(exc.status, exc.headers, exc.body)
            rejected.__cause__ = exc.__cause__ or exc
            return Failure(
                error=rejected,
                kind="status",
                status=exc.status,
                retry_after=parse_retry_after(exc.retry_after, now_epoch=time.time()),
            )
        if isinstance(exc, _ssl.SSLError):
            return Failure(error=_chain(ConnectError(f"TLS failure: {exc}"), exc), kind="tls")
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return Failure(
                error=_chain(ConnectError(f"opening handshake timed out: {exc}"), exc),
                kind="timeout",
            )
        if isinstance(exc, OSError):
            return Failure(error=_chain(ConnectError(f"cannot connect: {exc}"), exc))
        if isinstance(exc, HandshakeFailed):
            cause = exc.__cause__ or exc
            if not exc.invalid:
                return Failure(error=_chain(ConnectError(f"invalid handshake: {exc}"), cause))
            return Failure(
                error=_chain(ConnectError(f"handshake failed: {exc}"), cause), kind="invalid"
            )
        if isinstance(exc, (ConnectError, ConfigError)):
            return Failure(error=exc, kind="invalid" if isinstance(exc, ConfigError) else "network")
        return Failure(error=_chain(ConnectError(f"cannot connect: {exc!r}"), exc), kind="invalid")

    async def _serve(self, ws: TransportConnection) -> Loss:
        """The reader: read, decode, route and queue frames until the connection ends."""
        recv = ws.recv
        closed_error = ws.closed_error
        decode = self.protocol.decode
        names = self._names
        queue = self._queue
        append = queue.append
        bound = self._queue_size
        counters = self._counters
        set_receiver = getattr(ws, "set_receiver", None)
        if set_receiver is not None:
            set_receiver(self._receiver())
        try:
            while True:
                frame = await recv()
                counters.messages_received += 1
                try:
                    channel, message = decode(frame)
                except Exception as exc:  # noqa: BLE001 - a bad frame is an error event
                    self._bad_frame(exc, frame)
                    continue
                name = names.get(channel)
                if name is None:
                    name = self._name_for(channel)
                    if name is None:
                        await self._reply(ws, message)
                        continue
                if self._tracking and not self._admit(channel, message):
                    continue
                if len(queue) - self._lifecycle_queued < bound:
                    append((name, message))
                    if self._idle is not None:
                        self._wake()
                else:
                    if self._overflow != "block" and self._yielded_at != self._idle_turns:
                        # Full, but the dispatcher has not run since it last went
                        # idle (one read brought many frames): let it deliver
                        # before anything is dropped, once per busy period.
                        self._yielded_at = self._idle_turns
                        await asyncio.sleep(0)
                        if len(queue) - self._lifecycle_queued < bound:
                            append((name, message))
                            self._wake()
                            continue
                    wait = self._put_message_slow(name, message)
                    while wait is not None:
                        await wait
                        if self._closing:
                            return Loss(reason=DisconnectReason.SHUTDOWN)
                        if len(queue) - self._lifecycle_queued < bound:
                            append((name, message))
                            self._wake()
                            break
                        wait = self._put_message_slow(name, message)
        except closed_error as exc:
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
            if set_receiver is not None:
                set_receiver(None)
            self._ws = None
            self._counters.connected_since = None
            await _abort(ws, self._close_timeout)

    def _receiver(self) -> Callable[[str], bool]:
        """The reader for frames the transport hands over from its own callback.

        What ``_serve`` does with a frame, without a coroutine step: decode,
        route, track, then deliver at once (``_deliver_now``) or queue.  A frame
        it cannot finish here goes back to the transport's ``recv()`` and
        ``_serve``: protocol traffic (its reply is sent from there), and any
        frame that finds the queue full (the overflow mode is applied there).
        """
        decode = self.protocol.decode
        names = self._names
        queue = self._queue
        append = queue.append
        bound = self._queue_size
        counters = self._counters
        deliver_now = self._deliver_now
        block = self._overflow == "block"

        def receive(frame: str) -> bool:
            if len(queue) - self._lifecycle_queued >= bound:
                if block:
                    self._full_ahead(frame)
                return False
            try:
                channel, message = decode(frame)
            except Exception as exc:  # noqa: BLE001 - a bad frame is an error event
                counters.messages_received += 1
                self._bad_frame(exc, frame)
                return True
            name = names.get(channel)
            if name is None:
                if channel == CONSUMED:
                    return False
                name = self._name_for(channel)
                assert name is not None
            counters.messages_received += 1
            if self._tracking and not self._admit(channel, message):
                return True
            if self._idle is None or not deliver_now(name, message):
                append((name, message))
                if self._idle is not None:
                    self._wake()
            return True

        return receive

    def _full_ahead(self, frame: str) -> None:
        """Block mode, a frame ``_serve`` will wait with: report the full queue now,
        as ``_serve`` reports it when it meets the bound within one read."""
        try:
            channel, _ = self.protocol.decode(frame)
        except Exception:  # noqa: BLE001 - _serve reports the bad frame
            return
        if channel != CONSUMED:
            self._last_dropped_channel = channel
            self._schedule_report(dropped=False)

    def _name_for(self, channel: str | None) -> str | None:
        """The event name of a channel (memoised), or None for a consumed frame."""
        if channel == CONSUMED:
            return None
        assert channel is not None
        name = self._names[channel] = MESSAGE_PREFIX + channel
        return name

    async def _reply(self, ws: TransportConnection, message: Any) -> None:
        answer = self.protocol.reply(message)
        if answer is not None:
            with contextlib.suppress(NotConnected):
                await self._send_on(ws, answer)

    def _bad_frame(self, exc: Exception, frame: str | bytes) -> None:
        self._counters.decode_errors += 1
        if not isinstance(exc, FrameError):
            exc = _chain(FrameError(f"the protocol could not decode a frame ({exc!r})", frame), exc)
        self._report_error_sync(exc)

    def _count_disconnect(self, proactive: bool) -> None:
        counters = self._counters
        counters.disconnects += 1
        if proactive:
            counters.proactive_disconnects += 1
        else:
            counters.reactive_disconnects += 1

    # -- the ticker ----------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        sup = self._supervisor
        while True:
            now = self._clock()
            await asyncio.sleep(max(0.0, sup.wake_at(now, self.check_interval) - now))
            now = self._clock()
            counters = self._counters
            if counters.messages_received != self._seen_received:
                self._seen_received = counters.messages_received
                counters.last_message_at = now
            if sup.state is State.CONNECTED and self._stale_after is not None:
                last = counters.last_message_at
                if last is not None and now - last >= self._stale_after:
                    logger.warning(
                        "%s: no data for %.1f s: replacing the connection",
                        self._masked_url,
                        now - last,
                    )
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
                if self._handover_enabled and sup.paused_since is None and sup.resume_at is None:
                    # A recycle (MaxConnectionAge & co): make before break.
                    logger.info("%s: planned reconnect: handover", self._masked_url)
                    self._start_handover()
                    continue
                logger.info("%s: disconnecting: policy", self._masked_url)
                await self._disconnect(decision.reason)
            elif isinstance(decision, Retry):
                self._pending = decision
                self._wake_runner.set()
            elif isinstance(decision, PolicyFailed):
                self._report_error_sync(decision.error)

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


class _Stream:
    """The iterator behind :meth:`Connection.stream`: listens from creation."""

    def __init__(self, ws: Connection, event: str, maxsize: int) -> None:
        self._ws = ws
        self._event = event
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self._finished = False
        ws.on(event, self._put)
        if event != CLOSED:
            ws.on(CLOSED, self._end)
        if ws.state is State.CLOSED:
            self._finish()

    async def _put(self, payload: Any) -> None:
        ws, queue = self._ws, self._queue
        if ws._overflow == "block":
            await queue.put(payload)
        elif not queue.full():
            queue.put_nowait(payload)
        else:
            if ws._overflow == "drop_oldest":
                queue.get_nowait()
                queue.put_nowait(payload)
            ws._count_drop(self._event)
        if self._event == CLOSED:
            self._end(payload)

    def _end(self, _payload: Any) -> None:
        self._unlisten()
        queue = self._queue
        if queue.full():
            queue.get_nowait()  # make room for the end marker: the stream is over
        queue.put_nowait(_STREAM_END)

    def _unlisten(self) -> None:
        self._ws.remove_listener(self._event, self._put)
        self._ws.remove_listener(CLOSED, self._end)

    def _finish(self) -> None:
        self._finished = True
        self._unlisten()

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> Any:
        if self._finished:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _STREAM_END:
            self._finish()
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Stop listening."""
        self._finish()


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


def _as_exception(error: BaseException) -> Exception:
    if isinstance(error, Exception):
        return error
    return ConnectError(repr(error))  # pragma: no cover - Failure errors are Exceptions


def _num(value: float | None) -> float:
    assert value is not None
    return value


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _chain(error: Exception, cause: BaseException) -> Any:
    error.__cause__ = cause
    return error


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

