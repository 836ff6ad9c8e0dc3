"""``wsevents demo``'s last act (layer L5): many connections as one ``Pool``.

A second embedded :class:`~wsevents.testing.FakeServer` plays a venue with
limits: 1,024 channels per connection, 200 per subscribe frame, at most 5
client frames in any second (over it: close 1008).  A :class:`wsevents.Pool`
spreads 2,500 channels over 3 shards, paced by one connect budget; the server
then drops every connection at once (a blip) and the shards come back through
that budget, one slot at a time.  The act reports whether every shard came
back and no limit was broken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import attrs

import wsevents
from wsevents.events import Connected, Disconnected
from wsevents.testing import FakeServer


__all__ = ["CHANNELS", "PoolAct", "Venue"]

#: the channels of the act
CHANNELS: Final = 2500


@attrs.frozen
class Venue(wsevents.JsonProtocol):
    """The demo venue's limits."""

    max_channels = 1024
    max_channels_per_frame = 200
    send_limit = (5, 1.0)


class PoolAct:
    """One run of the pool act.

    Args:
        line: prints a labelled line (``line(label, text, *styles)``).
        unit: the demo's pacing unit (seconds per scenario step).
    """

    def __init__(self, line: Callable[..., None], unit: float) -> None:
        self._line = line
        self._unit = unit
        self.server = FakeServer(max_channels=1024, client_rate_limit=(5, 1.0))
        #: connects per shard, and when the last ones happened (loop time)
        self.connects = 0
        self.reconnects: list[float] = []
        self.shards = 0
        self.violations = 0
        self.back = False
        self._changed = asyncio.Event()

    @property
    def ok(self) -> bool:
        """Every shard came back after the blip, and no venue limit was broken."""
        return self.back and self.violations == 0

    def on_connect(self, event: Connected) -> None:
        self.connects += 1
        if event.is_reconnect:
            self.reconnects.append(asyncio.get_running_loop().time())
            self._line(
                "pool", f"shard {event.shard} reconnected (attempt {event.attempt})", "green"
            )
        else:
            self._line("pool", f"shard {event.shard} connected", "green")
        self._changed.set()

    def on_disconnect(self, event: Disconnected) -> None:
        if event.reason is not wsevents.DisconnectReason.SHUTDOWN:
            self._line("pool", f"shard {event.shard} lost ({event.reason.value})", "yellow")

    async def _until(self, connects: int, timeout: float) -> None:
        async def wait() -> None:
            while self.connects < connects:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    async def run(self) -> None:
        """The act: place, blip, paced return, close."""
        budget = wsevents.RateLimit(1, per=0.4 * self._unit)
        async with self.server:
            pool = wsevents.Pool(
                self.server.url,
                protocol=Venue(),
                subscriptions=[f"sym{i}@trade" for i in range(CHANNELS)],
                connect_limit=budget,
                backoff=wsevents.FixedDelay(0.05),
                close_timeout=1.0,
            )
            pool.on("connect", self.on_connect)
            pool.on("disconnect", self.on_disconnect)
            try:
                await pool.connect()
                self.shards = len(pool.shards)
                sizes = ", ".join(str(len(s.subscriptions)) for s in pool.shards)
                self._line(
                    "pool",
                    f"{CHANNELS:,} channels over {self.shards} shards ({sizes}); "
                    "subscribe frames of 200, 5 frames a second per connection",
                    "bold",
                )
                await self._until(self.shards, 10)
                self._line("pool", "blip: the server drops every connection at once", "bold")
                await self.server.drop()
                await self._until(2 * self.shards, 15)
                spread = self.reconnects[-1] - self.reconnects[0] if self.reconnects else 0.0
                self.back = len(self.reconnects) == self.shards
                self._line(
                    "pool",
                    f"all {self.shards} back, paced by the connect budget over {spread:.1f} s",
                    "bold",
                )
            finally:
                await pool.close()
                self.violations = len(self.server.violations)

    def summary(self) -> str:
        """One line for the demo's summary."""
        return (
            f"{CHANNELS:,} channels on {self.shards} shards, "
            f"{len(self.reconnects)} paced reconnects after the blip, "
            f"{self.violations} venue limits broken"
        )
