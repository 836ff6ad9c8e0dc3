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
* the *runner* (:mod:`wsevents._runner`): the live side (the transport
  connection, the tasks, the teardown), carrying out the supervisor's decisions;
* a *handover* (:mod:`wsevents._handover`), only while one runs;
* streams (:mod:`wsevents._stream`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from . import _config as cfg
from ._delivery import Dispatcher
from ._face import Face
from ._fileconfig import load_config, options_from_mapping
from ._link import subscribe_frames, unsubscribe_frames
from ._runner import build
from ._stats import Counters, ReceiveTime, Stats
from ._stream import Stream
from ._transport import Transport
from .events import State
from .exceptions import ConfigError, NotConnected, WSEventsError
from .routing import Frame, JsonProtocol, Protocol


__all__ = ["Connection"]


class Connection(Face):
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
            * ``user_agent``: the User-Agent header;
            * ``send_limit``: a :class:`~wsevents.RateLimit` every frame the client
              sends waits on, in order (subscriptions, ``send()``, requests,
              heartbeats); default: the protocol's venue limit, if any;
            * ``connect_limit``: a :class:`~wsevents.RateLimit` every connection
              attempt takes a slot of (share one between connections of one
              venue); default: the protocol's venue limit, if any.  Subscribe
              lists are split into frames of at most
              ``protocol.max_channels_per_frame`` channels;
            * ``timestamps``: stamp every frame when read (off by default: the
              per-frame step is then unchanged); a handler reads its message's
              receive time with :meth:`receive_time`;
            * ``event_time``: where a message's event time is (a key path such
              as ``"E"``, or ``message -> epoch milliseconds``; default with
              ``timestamps``: the protocol's, Binance ``E``, Bybit and OKX
              ``ts``; False: none): ``stats.latency`` per channel and
              ``stats.clock_offset``;
            * ``record``: a file path (``.gz``: compressed) or a
              :class:`wsevents.record.Recorder`: every frame with its receive
              time, and every lifecycle event, as JSON lines.

    Raises:
        ConfigError: a bad option, naming it and its value.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_counters",
        "_masked_url",
        "_runner",
        "_subscriptions",
        "_supervisor",
    )

    def __init__(self, url: str, *, transport: str | Transport | None = None, **options: Any):
        opts = self._begin(url, transport, options)
        self._subscriptions: dict[str, None] = dict.fromkeys(opts.subscriptions)
        self._masked_url = cfg.mask_url(self.url)
        self._counters = counters = Counters()
        self._delivery = Dispatcher(
            self, queue_size=opts.queue_size, overflow=opts.overflow, counters=counters
        )
        self._streams: set[Stream] | None = None
        self._supervisor, self._runner = build(
            url=self.url,
            masked_url=self._masked_url,
            options=opts,
            transport=self._transport,
            delivery=self._delivery,
            counters=counters,
            subscriptions=self._subscriptions,
            on_closed=self._end_streams,
        )
        self._runner.link.reader.observe(opts.observe, self)

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

    def receive_time(self, message: Any) -> ReceiveTime | None:
        """When the frame of ``message`` was read: call it in a handler with the
        message it was given (``timestamps=True``; None otherwise).  Stamps are
        kept while a message waits in the queue and in its handlers; one kept
        for later (in a list, a stream's buffer) may be forgotten.

        Example::

            @ws.on("message:trades")
            def on_trade(trade):
                delay = ws.receive_time(trade).wall - trade["E"] / 1000
        """
        return self._runner.link.reader.receive_time(message)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The channels subscribed on every connect."""
        return tuple(self._subscriptions)

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._runner.open_ws() is not None

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
            self._runner.start()
        first = self._runner.first_connect
        if first is None:
            raise WSEventsError("connection is closed")
        await asyncio.shield(first)

    async def run(self) -> None:
        """Connect if needed, then serve until the connection is closed.

        Returns when :meth:`close` was called, or when the connection ended by
        itself without an error (a clean close with
        ``reconnect_on_clean_close=False``, a loss with ``max_reconnect_attempts=0``).

        Raises:
            ConnectError: a fatal failure (refused handshake, attempts exhausted).
        """
        if self._supervisor.state is State.IDLE:
            self._runner.start()
        await self._serve(self._runner.done, "connection")
        fatal = self._runner.fatal
        if fatal is not None:
            raise fatal

    async def wait_closed(self) -> None:
        """Wait until the connection is closed for good and ``closed`` was delivered
        (without raising its error)."""
        done = self._runner.done
        if done is not None:
            await asyncio.shield(done)

    async def close(self) -> None:
        """Close for good: graceful, and bounded by ``close_timeout`` plus a small margin.

        Messages still queued are delivered while the time allows; the rest are
        counted in ``stats.messages_dropped``.  Idempotent, and safe from
        anywhere: a handler (it returns once the socket is closed; ``closed``
        is delivered after the handler), a task a handler returned, or another
        thread through :mod:`wsevents.sync`.
        """
        await self._runner.close()
        if self._supervisor.state is State.CLOSED:
            self._end_streams()

    # -- proactive control ----------------------------------------------------------

    async def request_disconnect(self, reconnect_after: float | None = None) -> None:
        """Disconnect now, on purpose, and stay PAUSED.

        The connection comes back when ``reconnect_after`` seconds have passed,
        when the ``should_reconnect`` policy says so, or on :meth:`resume`.
        A proactive disconnect never counts as a failure for the backoff.
        """
        await self._runner.request_disconnect(reconnect_after)

    async def resume(self) -> None:
        """Reconnect now from PAUSED (or cut a pending backoff wait short)."""
        await self._runner.resume()

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
        await self._runner.handover()

    # -- sending ---------------------------------------------------------------------

    async def send(self, message: Frame) -> None:
        """Send a message now: dict/list → JSON text, str → text, bytes → binary.

        Raises:
            NotConnected: there is no open connection.
            TypeError: ``message`` is of another type.
        """
        ws = self._runner.open_ws()
        if ws is None:
            raise NotConnected(f"not connected (state {self.state.name}): message not sent")
        await self._runner.link.send_on(ws, message)

    async def request(self, frame: Frame, timeout: float = 10.0) -> Any:
        """Send ``frame`` as a request and return its reply.

        The protocol stamps an id into the frame
        (:meth:`~wsevents.Protocol.prepare_request`) and recognises the reply
        (:meth:`~wsevents.Protocol.reply_id`), which goes to this caller, not to
        the handlers; replies may come in any order.

        Raises:
            NotConnected: there is no open connection.
            RequestError: the venue answered with an error reply (its code and message).
            TimeoutError: no reply within ``timeout`` seconds (a late reply is
                counted and dropped).
            ConnectionLost: the connection dropped first; the request is never
                sent again on the next connection.
            ConfigError: the protocol has no requests.
        """
        ws = self._runner.open_ws()
        if ws is None:
            raise NotConnected(f"not connected (state {self.state.name}): request not sent")
        return await self._runner.link.request(ws, frame, timeout)

    async def subscribe(self, *channels: str) -> None:
        """Add channels to the subscription set; subscribe now if connected.

        The set is restored on every reconnect.
        """
        new = [c for c in cfg.check_channels("channels", channels) if c not in self._subscriptions]
        self._subscriptions.update(dict.fromkeys(new))
        ws = self._runner.open_ws()
        if new and ws is not None:
            for frame in subscribe_frames(self.protocol, new):
                await self._runner.link.send_on(ws, frame)

    async def unsubscribe(self, *channels: str) -> None:
        """Remove channels from the subscription set; unsubscribe now if connected."""
        gone = [c for c in cfg.check_channels("channels", channels) if c in self._subscriptions]
        for channel in gone:
            del self._subscriptions[channel]
        ws = self._runner.open_ws()
        if gone and ws is not None:
            for frame in unsubscribe_frames(self.protocol, gone):
                await self._runner.link.send_on(ws, frame)

    # -- streams -------------------------------------------------------------------------


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
