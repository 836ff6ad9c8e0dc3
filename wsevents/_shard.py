"""One connection of a pool: a shard (L3).

A :class:`Shard` is what a :class:`~wsevents.Pool` keeps per connection: its
channels, its counters, and the supervisor and runner that keep it
connected — the same parts as a ``Connection``'s, delivering through a
:class:`~wsevents._lane.Lane` into the pool's one dispatcher.  It has no
emitter and no dispatcher of its own: an idle shard costs less than an idle
``Connection``.

Users read shards (``pool.shards``: :attr:`Shard.id`, :attr:`Shard.state`,
:attr:`Shard.subscriptions`, :attr:`Shard.stats`); the pool drives them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._delivery import Dispatcher
from ._emitter import Emitter
from ._lane import Lane
from ._link import subscribe_frames, unsubscribe_frames
from ._options import Options
from ._reader import Reader
from ._runner import Gate, Runner, build
from ._stats import Counters, ReceiveTime, Stats
from ._tracking import SequenceTracker
from ._transport import Transport
from .events import Closed, State
from .exceptions import NotConnected
from .routing import Frame


__all__ = ["Shard"]


def _nothing() -> None:
    """A shard has no streams of its own to end."""


class Shard:
    """One connection of a pool (read-only for users).

    Args:
        shard_id: the id stamped on its events (``Connected.shard``).
        url, masked_url: where it connects (the masked one is logged).
        options: its options (the pool's, with its own ``send_limit``).
        transport: opens its connections.
        dispatcher: the pool's dispatcher.
        on_closed: the pool's, called with the shard's id and ``Closed`` payload.
        gate: the pool's recycle gate (one handover at a time).
        emitter: the pool (a recorder follows its events).
        tracker: the pool's sequence numbers (``sequence=``), shared by its shards.
    """

    __slots__ = ("_counters", "_protocol", "_runner", "_subscriptions", "_supervisor", "id")

    def __init__(
        self,
        shard_id: int,
        *,
        url: str,
        masked_url: str,
        options: Options,
        transport: Transport,
        dispatcher: Dispatcher,
        on_closed: Callable[[int, Closed], None],
        gate: Gate,
        emitter: Emitter,
        tracker: SequenceTracker | None,
    ) -> None:
        self.id = shard_id
        self._subscriptions: dict[str, None] = {}
        self._counters = Counters()
        self._protocol = options.protocol
        self._supervisor, self._runner = build(
            url=url,
            masked_url=masked_url,
            options=options,
            transport=transport,
            delivery=Lane(dispatcher, shard_id, on_closed),
            counters=self._counters,
            subscriptions=self._subscriptions,
            on_closed=_nothing,
            gate=gate,
            tracker=tracker,
        )
        # Timestamps, latency and recording (one recorder for the pool's shards).
        self._runner.link.reader.observe(options.observe, emitter)

    def __repr__(self) -> str:
        return f"<wsevents.Shard {self.id} {self.state.name}, {len(self._subscriptions)} channels>"

    # -- what users read -----------------------------------------------------------------

    @property
    def state(self) -> State:
        """Where this shard's connection is in its lifecycle."""
        return self._supervisor.state

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The channels this shard carries."""
        return tuple(self._subscriptions)

    @property
    def load(self) -> int:
        """How many channels this shard carries."""
        return len(self._subscriptions)

    @property
    def stats(self) -> Stats:
        """This shard's counters: what it received and sent, its connection's lifecycle.

        Delivery (``messages_delivered``, drops, the queue) is the pool's: one
        queue serves every shard (``pool.stats``).
        """
        return self._counters.snapshot(0)

    @property
    def connected(self) -> bool:
        """True while its connection is open."""
        return self._runner.open_ws() is not None

    # -- what the pool does ----------------------------------------------------------------

    @property
    def counters(self) -> Counters:
        """The live counters (the pool sums them)."""
        return self._counters

    @property
    def reader(self) -> Reader:
        """The shard's reader (a move sets gates on it)."""
        return self._runner.link.reader

    @property
    def runner(self) -> Runner:
        """The shard's runner (its futures: first connect, done)."""
        return self._runner

    def start(self) -> None:
        """Connect (in the background) and keep connected (once, from IDLE)."""
        self._runner.start()

    async def close(self) -> None:
        """Close for good (its ``disconnect`` is delivered; its ``closed`` goes to the pool)."""
        await self._runner.close()

    def add(self, channels: list[str]) -> None:
        """Carry ``channels`` from the next connect on (see :meth:`subscribe`)."""
        self._subscriptions.update(dict.fromkeys(channels))

    async def subscribe(self, channels: list[str]) -> None:
        """Carry ``channels``, subscribing now if connected."""
        self.add(channels)
        await self._send_frames(subscribe_frames(self._protocol, channels))

    async def unsubscribe(self, channels: list[str]) -> None:
        """Stop carrying ``channels``, unsubscribing now if connected."""
        for channel in channels:
            self._subscriptions.pop(channel, None)
        await self._send_frames(unsubscribe_frames(self._protocol, channels))

    async def _send_frames(self, frames: list[Frame]) -> None:
        ws = self._runner.open_ws()
        if ws is None:
            return
        try:
            for frame in frames:
                await self._runner.link.send_on(ws, frame)
        except NotConnected:  # pragma: no cover - lost between two frames
            pass  # the next connect sends the whole set

    async def send(self, message: Frame) -> None:
        """Send on this shard's connection.

        Raises:
            NotConnected: it is not connected.
        """
        ws = self._runner.open_ws()
        if ws is None:
            raise NotConnected(f"shard {self.id} is not connected (state {self.state.name})")
        await self._runner.link.send_on(ws, message)

    async def request(self, frame: Frame, timeout: float) -> Any:
        """A request on this shard's connection (see ``Connection.request``)."""
        ws = self._runner.open_ws()
        if ws is None:
            raise NotConnected(f"shard {self.id} is not connected (state {self.state.name})")
        return await self._runner.link.request(ws, frame, timeout)

    def receive_time(self, message: Any) -> ReceiveTime | None:
        """When this shard received ``message`` (``timestamps=True``), or None."""
        return self._runner.link.reader.receive_time(message)

    async def handover(self) -> None:
        """Replace this shard's connection make-before-break."""
        await self._runner.handover()
