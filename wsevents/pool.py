"""Many connections as one emitter: :class:`Pool` (L3).

Venues cap the channels of one connection (Binance 1024 streams, KuCoin 300
topics), the frames a connection may send (Binance 5 per second, pings and
pongs counted) and the connection attempts of an IP (Binance 300 per 5
minutes).  A :class:`Pool` spreads channels over as many connections
(*shards*) as those caps need, paces every connection attempt of every shard
through one ``connect_limit``, and delivers the messages of every shard
through one dispatcher: the events, payloads and handler rules of a
:class:`~wsevents.Connection`, lifecycle payloads saying which shard.

The parts: :mod:`wsevents._shard` (one connection of the pool),
:mod:`wsevents._lane` (a shard's way into the pool's dispatcher),
:mod:`wsevents._move` (``rebalance()``'s make-before-break moves).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final

import attrs

from . import _config as cfg
from ._delivery import Dispatcher
from ._face import Face
from ._link import venue_limit
from ._move import Move
from ._options import Observe
from ._shard import Shard
from ._stats import COUNTERS, Counters, ReceiveTime, Stats
from ._stream import Stream
from ._tracking import SequenceTracker
from ._transport import Transport
from .events import CLOSED, Closed, CloseReason, State
from .exceptions import NotConnected, PoolFull, WSEventsError
from .ratelimit import RateLimit
from .routing import Frame


__all__ = ["Pool", "PoolStats"]

logger = logging.getLogger("wsevents")

#: seconds close() may take beyond close_timeout to report and tear down
_CLOSE_MARGIN: Final = 0.25
#: the counters the pool's dispatcher keeps (the rest are the shards')
_DELIVERY: Final = (
    "messages_delivered",
    "messages_dropped",
    "queue_full_events",
    "queue_peak",
    "handler_errors",
)
#: the counters summed over the shards (and the shards gone)
_SUMMED: Final = tuple(name for name in COUNTERS if name not in _DELIVERY)


@attrs.frozen(kw_only=True)
class PoolStats(Stats):
    """``pool.stats``: the shards' counters summed (closed shards included), the
    pool's delivery counters, and each open shard's own :class:`Stats`.

    ``connected_since`` is the earliest among the connected shards.
    """

    #: shard id -> that shard's counters (what it received and sent, its lifecycle)
    shards: Mapping[int, Stats] = attrs.field(factory=dict)


def _one_recorder(observe: Observe | None) -> Observe | None:
    """``record=`` a path: one recorder for every shard (not one file each)."""
    if observe is None or observe.record is None:
        return observe
    recorder = observe.record
    if not callable(getattr(recorder, "frame", None)):
        from .record import Recorder

        recorder = Recorder(recorder, close_with_connection=True)
    return attrs.evolve(observe, record=recorder)


class _RecycleGate:
    """One handover at a time in a pool, ``spacing`` seconds apart: recycles
    (``BINANCE_MAX_AGE`` on every shard) are staggered, never simultaneous."""

    __slots__ = ("_clock", "_last", "_lock", "spacing")

    def __init__(self, spacing: float, clock: Callable[[], float]) -> None:
        self.spacing = spacing
        self._clock = clock
        self._last = -spacing
        self._lock: asyncio.Lock | None = None

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            wait = self._last + self.spacing - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last = self._clock()


class Pool(Face):
    """Channels spread over as many connections as the venue's caps need.

    An event emitter with the events, payloads and handler rules of
    :class:`~wsevents.Connection`: messages of one channel arrive in order,
    handlers run one at a time, a raising handler goes to ``error``.
    Lifecycle payloads carry the shard (``Connected.shard``).

    Args:
        url: the venue's ``ws://`` or ``wss://`` URL (every shard connects to it).
        transport: as for ``Connection`` (one for every shard).
        max_channels: channels per connection (default: ``protocol.max_channels``;
            None there too: one connection carries everything).
        max_connections: the most shards (None: no limit); past it
            :meth:`subscribe` raises :class:`~wsevents.PoolFull`.
        recycle_spacing: seconds between two shards' handovers (policy
            recycles, ``serverShutdown``): one at a time, never two at once.
        options: every ``Connection`` option, applied to each shard.
            ``subscriptions`` are placed over the shards;
            ``connect_limit`` (default: the protocol's venue limit) is shared by
            every attempt of every shard; a ``send_limit`` given as a
            :class:`~wsevents.RateLimit` is copied for each shard (it is per
            connection); ``queue_size`` and ``overflow`` are the pool's one queue.

    Raises:
        ConfigError: a bad option, naming it.
        PoolFull: ``subscriptions`` need more than ``max_connections`` shards.

    .. versionadded:: 0.2
    """

    __slots__ = (
        "_closer",
        "_connect_limit",
        "_counters",
        "_done",
        "_fatal",
        "_final",
        "_gate",
        "_masked_url",
        "_max_channels",
        "_max_connections",
        "_moved",
        "_next_id",
        "_placement",
        "_retired",
        "_retiring",
        "_shard_options",
        "_shards",
        "_shards_closed",
        "_state",
        "_tracker",
    )

    def __init__(
        self,
        url: str,
        *,
        transport: str | Transport | None = None,
        max_channels: int | None = None,
        max_connections: int | None = None,
        recycle_spacing: float = 5.0,
        **options: Any,
    ) -> None:
        opts = self._begin(url, transport, options)
        self._max_channels = cfg.check_positive_int(
            "max_channels",
            opts.protocol.max_channels if max_channels is None else max_channels,
            allow_none=True,
        )
        self._max_connections = cfg.check_positive_int(
            "max_connections", max_connections, allow_none=True
        )
        spacing = cfg.check_number("recycle_spacing", recycle_spacing)
        assert spacing is not None
        self._masked_url = cfg.mask_url(self.url)
        #: the delivery counters (one queue for every shard)
        self._counters = Counters()
        #: the counters of the shards retired so far (counters only grow)
        self._retired = Counters()
        self._delivery = Dispatcher(
            self, queue_size=opts.queue_size, overflow=opts.overflow, counters=self._counters
        )
        self._connect_limit: RateLimit | None = venue_limit(
            opts.connect_limit, opts.protocol.connect_limit
        )
        self._shard_options = attrs.evolve(
            opts,
            subscriptions=(),
            connect_limit=self._connect_limit,
            observe=_one_recorder(opts.observe),
        )
        self._gate = _RecycleGate(spacing, opts.clock or time.monotonic)
        #: one numbering per channel for the whole pool: a channel moved, or dropped
        #: and placed again elsewhere, goes on from its last number
        self._tracker = None if opts.sequence is None else SequenceTracker(opts.sequence)
        self._shards: dict[int, Shard] = {}
        self._placement: dict[str, Shard] = {}
        self._next_id = 0
        self._retiring: set[int] = set()
        #: moves over, whose gates still drop the source's late copies for a while
        self._moved: dict[Move, asyncio.TimerHandle] = {}
        self._state = State.IDLE
        self._closer: asyncio.Task[None] | None = None
        self._shards_closed: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._final: Closed | None = None
        self._fatal: BaseException | None = None
        self._streams: set[Stream] | None = None
        self._place(list(opts.subscriptions))

    # -- introspection -------------------------------------------------------------

    @property
    def state(self) -> State:
        """``IDLE`` before the start, ``CONNECTED`` while every shard is,
        ``PAUSED`` while every shard is (``request_disconnect()``),
        ``CONNECTING``/``RECONNECTING`` while one is not, ``CLOSING``, ``CLOSED``."""
        if self._state is not State.CONNECTING:
            return self._state
        states = [shard.state for shard in self._shards.values()]
        if all(state is State.CONNECTED for state in states):
            return State.CONNECTED
        if all(state is State.PAUSED for state in states):
            return State.PAUSED
        if any(state in (State.RECONNECTING, State.PAUSED) for state in states):
            return State.RECONNECTING
        return State.CONNECTING

    @property
    def shards(self) -> tuple[Shard, ...]:
        """The open shards, oldest first (read-only: ``id``, ``state``,
        ``subscriptions``, ``stats``, ``connected``)."""
        return tuple(self._shards.values())

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """Every channel of the pool."""
        return tuple(self._placement)

    @property
    def connected(self) -> bool:
        """True while every shard is connected (and there is at least one)."""
        return bool(self._shards) and all(s.connected for s in self._shards.values())

    @property
    def stats(self) -> PoolStats:
        """The counters of every shard summed, the delivery counters, and each shard's."""
        shards = list(self._shards.values())
        totals: dict[str, Any] = {name: getattr(self._retired, name) for name in _SUMMED}
        for shard in shards:
            counters = shard.counters
            for name in _SUMMED:
                totals[name] += getattr(counters, name)
        for name in _DELIVERY:
            totals[name] = getattr(self._counters, name)
        seen = [s.counters.last_message_at for s in shards] + [self._counters.last_message_at]
        since = [s.counters.connected_since for s in shards if s.connected]
        return PoolStats(
            **totals,
            queue_depth=self._delivery.depth,
            last_message_at=max((t for t in seen if t is not None), default=None),
            connected_since=min((t for t in since if t is not None), default=None),
            shards={shard.id: shard.stats for shard in shards},
        )

    def receive_time(self, message: Any) -> ReceiveTime | None:
        """When ``message`` was received (``timestamps=True``), while its handlers run:
        see ``Connection.receive_time``."""
        for shard in self._shards.values():
            found = shard.receive_time(message)
            if found is not None:
                return found
        return None

    def shard_of(self, channel: str) -> Shard:
        """The shard carrying ``channel``.

        Raises:
            KeyError: the pool does not carry it.
        """
        return self._placement[channel]

    def __repr__(self) -> str:
        return (
            f"<wsevents.Pool {self._masked_url} {self.state.name}: {len(self._shards)} shards, "
            f"{len(self._placement)} channels>"
        )

    # -- placement -------------------------------------------------------------------------

    def _new_shard(self) -> Shard:
        shard_id = self._next_id
        self._next_id += 1
        options = self._shard_options
        if isinstance(options.send_limit, RateLimit):
            options = attrs.evolve(options, send_limit=options.send_limit.copy())
        shard = Shard(
            shard_id,
            url=self.url,
            masked_url=self._masked_url,
            options=options,
            transport=self._transport,
            dispatcher=self._delivery,
            on_closed=self._shard_closed,
            gate=self._gate,
            emitter=self,
            tracker=self._tracker,
        )
        self._shards[shard_id] = shard
        return shard

    def _place(self, channels: list[str]) -> dict[Shard, list[str]]:
        """Put new channels on shards (the least-loaded with room first, new shards
        when all are full); nothing changes when they do not fit."""
        new = [channel for channel in dict.fromkeys(channels) if channel not in self._placement]
        if not new:
            return {}
        cap = self._max_channels
        shards = list(self._shards.values())
        if cap is None:
            need = 0 if shards else 1
        else:
            room = sum(max(0, cap - shard.load) for shard in shards)
            need = -(-(len(new) - room) // cap) if len(new) > room else 0
        most = self._max_connections
        if most is not None and len(shards) + need > most:
            raise PoolFull(
                "max_connections",
                most,
                f"{len(new)} more channel(s) need {len(shards) + need} connections "
                f"of at most {cap} channels each",
            )
        shards.extend(self._new_shard() for _ in range(need))
        heap = [(s.load, s.id, s) for s in shards if cap is None or s.load < cap]
        heapq.heapify(heap)
        plan: dict[Shard, list[str]] = {}
        for channel in new:
            load, shard_id, shard = heapq.heappop(heap)
            plan.setdefault(shard, []).append(channel)
            self._placement[channel] = shard
            if cap is None or load + 1 < cap:
                heapq.heappush(heap, (load + 1, shard_id, shard))
        for shard, placed in plan.items():
            shard.add(placed)
        return plan

    async def subscribe(self, *channels: str) -> None:
        """Add channels: each goes to the least-loaded shard with room (a new shard
        when every shard is full), subscribed now if that shard is connected.

        Raises:
            PoolFull: they need more than ``max_connections`` shards (nothing is
                subscribed then).
        """
        plan = self._place(list(cfg.check_channels("channels", channels)))
        if self._state is State.IDLE or self._closer is not None:
            return
        sends = []
        for shard, placed in plan.items():
            if shard.state is State.IDLE:
                shard.start()
            else:
                sends.append(shard.subscribe(placed))
        await asyncio.gather(*sends)

    async def unsubscribe(self, *channels: str) -> None:
        """Remove channels; a shard left without channels is closed."""
        plan: dict[Shard, list[str]] = {}
        for channel in cfg.check_channels("channels", channels):
            shard = self._placement.pop(channel, None)
            if shard is not None:
                plan.setdefault(shard, []).append(channel)
        await asyncio.gather(*(shard.unsubscribe(gone) for shard, gone in plan.items()))
        for shard in plan:
            if shard.load == 0 and shard.id in self._shards:
                await self._retire(shard)

    async def _retire(self, shard: Shard) -> None:
        """Close a shard the pool no longer needs (its ``disconnect`` says
        ``SHUTDOWN``; its ``closed`` stays inside the pool)."""
        del self._shards[shard.id]
        self._retiring.add(shard.id)
        await shard.close()
        counters = shard.counters
        for name in _SUMMED:
            setattr(self._retired, name, getattr(self._retired, name) + getattr(counters, name))

    async def rebalance(self) -> int:
        """Even out the shards' loads, moving channels make-before-break.

        Each moved channel is subscribed on its new shard before it leaves the
        old one; messages both shards received are delivered once (by sequence
        number with ``sequence=``, else by ``dedup_key``, else by equality), with
        no gap.  A channel switches at the first overlap of the two copies of
        its stream; a channel quiet on both shards switches after
        ``handover_timeout``.  Returns once every move switched.

        Returns:
            The number of channels moved.
        """
        shards = sorted(self._shards.values(), key=lambda s: s.id)
        if len(shards) < 2 or self._closer is not None:
            return 0
        total = sum(s.load for s in shards)
        low, extra = divmod(total, len(shards))
        # The shards keeping the most channels keep the extra ones.
        ranked = sorted(shards, key=lambda s: -s.load)
        want = {s.id: low + (1 if i < extra else 0) for i, s in enumerate(ranked)}
        room = {s.id: want[s.id] - s.load for s in shards if s.load < want[s.id]}
        moves: list[tuple[Shard, Shard, list[str]]] = []
        for source in shards:
            surplus = source.load - want[source.id]
            channels = list(source.subscriptions)[-surplus:] if surplus > 0 else []
            for target in shards:
                free = room.get(target.id, 0)
                if channels and free > 0:
                    batch, channels = channels[:free], channels[free:]
                    room[target.id] = free - len(batch)
                    moves.append((source, target, batch))
        results = await asyncio.gather(*(self._move(*move) for move in moves))
        return sum(results)

    async def _move(self, source: Shard, target: Shard, channels: list[str]) -> int:
        opts = self._options
        move = Move(
            channels,
            source=source.reader,
            target=target.reader,
            source_counters=source.counters,
            target_counters=target.counters,
            dedup_key=opts.dedup_key,
            report=self._delivery.report_error,
        )
        clock = opts.clock or time.monotonic
        try:
            switched = await move.run(target.subscribe, opts.handover_timeout, clock)
        except BaseException:
            move.close()
            raise
        # A channel unsubscribed while it moved leaves the target too.
        gone = [channel for channel in switched if self._placement.get(channel) is not source]
        for channel in switched:
            self._placement[channel] = target
        for channel in gone:
            del self._placement[channel]
        await source.unsubscribe(switched)
        await target.unsubscribe(gone)
        # The source's messages sent before its unsubscribe took effect are still
        # dropped for a while; then the gates go.
        self._moved[move] = asyncio.get_running_loop().call_later(
            opts.handover_timeout, self._forget_move, move
        )
        logger.info(
            "%s: moved %d channel(s) from shard %d to shard %d (%d duplicates dropped)",
            self._masked_url,
            len(switched) - len(gone),
            source.id,
            target.id,
            move.duplicates,
        )
        return len(switched)

    def _forget_move(self, move: Move) -> None:
        self._moved.pop(move, None)
        move.close()

    # -- lifecycle ---------------------------------------------------------------------

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._state = State.CONNECTING
        self._done = loop.create_future()
        self._delivery.start()
        for shard in list(self._shards.values()):
            shard.start()

    async def connect(self) -> None:
        """Start every shard; return once each one connected.

        Raises:
            ConnectError: a shard could not connect for good (the pool is closed).
            WSEventsError: the pool was closed.
        """
        if self._state is State.IDLE:
            self._start()
        if self._closer is not None:
            raise WSEventsError("pool is closed")
        firsts = [s.runner.first_connect for s in self._shards.values()]
        await asyncio.shield(asyncio.gather(*(f for f in firsts if f is not None)))

    async def run(self) -> None:
        """Start if needed, then serve until the pool is closed.

        Raises:
            ConnectError: a shard failed for good (a refused handshake, attempts
                exhausted): the pool closed with it.
        """
        if self._state is State.IDLE:
            self._start()
        await self._serve(self._done, "pool")
        if self._fatal is not None:
            raise self._fatal

    async def wait_closed(self) -> None:
        """Wait until the pool is closed for good and ``closed`` was delivered."""
        if self._done is not None:
            await asyncio.shield(self._done)

    async def close(self) -> None:
        """Close every shard and the pool, within ``close_timeout`` plus a small margin.

        Idempotent; safe from a handler (it returns once the shards are closed;
        ``closed`` is delivered after the handler).
        """
        if self._state is State.IDLE:
            self._state = State.CLOSED
            for shard in self._shards.values():
                await shard.close()
            self._end_streams()
            return
        if self._closer is None:
            self._begin_close()
        closer = self._closer
        assert closer is not None
        assert self._shards_closed is not None
        if asyncio.current_task() is self._delivery.task:
            await asyncio.shield(self._shards_closed)
        else:
            await asyncio.shield(closer)

    def _shard_closed(self, shard_id: int, event: Closed) -> None:
        """A shard's ``closed``: retired, or closed with the pool (nothing to say), or
        it ended by itself (refused, exhausted, closed by the server): the pool ends."""
        if shard_id in self._retiring:
            self._retiring.discard(shard_id)
            return
        if self._closer is not None:
            return
        self._final = attrs.evolve(event, shard=shard_id)
        self._fatal = event.error
        logger.error(
            "%s: shard %d closed (%s): closing the pool",
            self._masked_url,
            shard_id,
            event.detail or event.reason.value,
        )
        self._begin_close()

    def _begin_close(self) -> None:
        loop = asyncio.get_running_loop()
        self._state = State.CLOSING
        self._shards_closed = loop.create_future()
        self._delivery.release()
        self._closer = loop.create_task(self._teardown(), name="wsevents-pool-close")

    async def _teardown(self) -> None:
        clock = self._options.clock or time.monotonic
        deadline = clock() + self._options.transport.close_timeout + _CLOSE_MARGIN
        shards = list(self._shards.values())
        await asyncio.gather(*(shard.close() for shard in shards), return_exceptions=True)
        for move, timer in list(self._moved.items()):
            timer.cancel()
            self._forget_move(move)
        assert self._shards_closed is not None
        self._shards_closed.set_result(None)
        final = self._final or Closed(reason=CloseReason.USER, detail="close() called")
        self._delivery.offer_call(self._set_closed)
        self._delivery.offer_lifecycle(CLOSED, final)
        left = await self._delivery.finish(max(0.0, deadline - clock()), _CLOSE_MARGIN)
        if left:
            logger.warning(
                "%s: pool closed with %d undelivered messages (close_timeout)",
                self._masked_url,
                left,
            )
        self._state = State.CLOSED
        self._end_streams()
        assert self._done is not None
        self._done.set_result(None)

    def _set_closed(self) -> None:
        """The state reads CLOSED for the ``closed`` handlers."""
        self._state = State.CLOSED

    # -- sending -----------------------------------------------------------------------------

    def _shard_for(self, shard: int | None) -> Shard:
        if shard is not None:
            found = self._shards.get(shard)
            if found is None:
                raise NotConnected(f"no shard {shard} in the pool")
            return found
        connected = [s for s in self._shards.values() if s.connected]
        if not connected:
            raise NotConnected(f"no shard is connected (state {self.state.name})")
        return min(connected, key=lambda s: s.load)

    async def send(self, message: Frame, *, shard: int | None = None) -> None:
        """Send on one shard's connection (default: the least-loaded connected one).

        Raises:
            NotConnected: that shard (or every shard) is not connected.
        """
        await self._shard_for(shard).send(message)

    async def request(
        self, frame: Frame, timeout: float = 10.0, *, shard: int | None = None
    ) -> Any:
        """A request on one shard's connection (see ``Connection.request``).

        Raises:
            NotConnected: that shard (or every shard) is not connected.
        """
        return await self._shard_for(shard).request(frame, timeout)

    async def request_disconnect(self, reconnect_after: float | None = None) -> None:
        """Disconnect every shard on purpose and stay PAUSED (see ``Connection``)."""
        cfg.check_number("reconnect_after", reconnect_after, allow_none=True)
        await asyncio.gather(
            *(s.runner.request_disconnect(reconnect_after) for s in self._shards.values())
        )

    async def resume(self) -> None:
        """Reconnect every paused shard now."""
        await asyncio.gather(*(s.runner.resume() for s in self._shards.values()))

    async def handover(self) -> None:
        """Replace every connected shard's connection, make-before-break, one at a time."""
        await asyncio.gather(*(s.handover() for s in self._shards.values() if s.connected))
