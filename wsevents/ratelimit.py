"""A strict rolling-window rate limit that asyncio code waits on.

Venues limit what a client may do per time window: Binance closes a
connection (code 1008) that sends more than 5 frames in a second, and bans
the IP that opens more than 300 connections in 5 minutes.
:class:`RateLimit` keeps a client under such a limit: ``await
limit.acquire()`` before each frame or connection attempt::

    limit = wsevents.RateLimit(5, per=1.0)
    for frame in frames:
        await limit.acquire()        # never a 6th frame in any 1-second window
        await ws.send(frame)

The window is strict: never more than ``n`` events in *any* window of ``per``
seconds, with no burst allowance on top (a token bucket that refills while
full lets up to ``2 n`` through a window straddling the refill).  One limit can
be shared by many connections of one event loop: waiters are served in order
of arrival.  :func:`chunks` splits a long channel list into the frames a venue
accepts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar, final

from . import _config as cfg
from ._window import Window, check_limit
from .exceptions import ConfigError


__all__ = ["RateLimit", "chunks"]

_T = TypeVar("_T")


@final
class RateLimit:
    """At most ``n`` events in any window of ``per`` seconds.

    Take a slot with :meth:`acquire` (waits its turn) or :meth:`try_acquire`
    (never waits) before each event.  A slot is used once taken: there is
    nothing to release.

    Args:
        n: events allowed in any window of ``per`` seconds.
        per: the window's length, in seconds.
        jitter: spreads the events of a crowd: once a slot is free, each
            :meth:`acquire` waits a random extra delay in
            ``[0, jitter * per / n]`` before taking it (0: no extra delay).
            After a network blip, connections that all retry at once then
            come back spread out, not in a burst of ``n``.
        clock: monotonic clock in seconds (default :func:`time.monotonic`,
            the clock of asyncio's event loop); tests inject one.
        rng: the random number generator of ``jitter`` (inject a seeded one
            in tests); None uses the :mod:`random` module's shared generator.

    Raises:
        ConfigError: a bad option, naming it and its value.

    .. versionadded:: 0.2
    """

    __slots__ = ("_clock", "_jitter", "_turns", "_uniform", "_window")

    def __init__(
        self,
        n: int,
        *,
        per: float = 1.0,
        jitter: float = 0.0,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        n, per = check_limit("RateLimit", n, per)
        spread = cfg.check_number("RateLimit.jitter", jitter)
        assert spread is not None
        if clock is not None and not callable(clock):
            raise ConfigError("RateLimit.clock", clock, "must be a callable returning seconds")
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError("RateLimit.rng", rng, "must be a random.Random or None")
        self._window = Window(n, per)
        self._jitter = spread
        self._clock: Callable[[], float] = time.monotonic if clock is None else clock
        self._uniform: Callable[[float, float], float] = (
            random.uniform if rng is None else rng.uniform
        )
        # One future per waiting acquire(), in order of arrival; the head's
        # owner is the only one that may take a slot.
        self._turns: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        used = self._window.in_window(self._clock())
        return (
            f"<RateLimit {self.n} per {self.per:g} s, jitter={self._jitter:g}: "
            f"{used} in the window, {len(self._turns)} waiting>"
        )

    @property
    def n(self) -> int:
        """Events allowed in any window of :attr:`per` seconds."""
        return self._window.n

    @property
    def per(self) -> float:
        """The window's length, in seconds."""
        return self._window.per

    @property
    def jitter(self) -> float:
        """The spreading factor (see the class docstring)."""
        return self._jitter

    def copy(self) -> RateLimit:
        """A new limit with the same settings (clock and generator included) and an
        empty window: a pool gives each connection its own ``send_limit`` this way."""
        twin = RateLimit(self.n, per=self.per, jitter=self._jitter, clock=self._clock)
        twin._uniform = self._uniform
        return twin

    @property
    def waiting(self) -> int:
        """Number of :meth:`acquire` calls waiting for their turn."""
        return len(self._turns)

    def delay(self) -> float:
        """Seconds until the window has room for one more event (0.0: now).

        Calls of :meth:`acquire` already waiting come first, and ``jitter``
        is not included.
        """
        return self._window.delay(self._clock())

    def try_acquire(self) -> bool:
        """Take a slot if one is free now and nobody is waiting; whether it did.

        Never waits, so ``jitter`` does not apply.
        """
        if self._turns:
            return False
        return self._window.try_grant(self._clock())

    async def acquire(self) -> None:
        """Wait until a slot is free and take it.

        Waiters are served in order of arrival (FIFO).  Cancelling a waiting
        call gives its place in the queue back: it takes no slot and the next
        waiter moves up.  When ``acquire()`` returns, the slot is taken.

        Raises:
            RuntimeError: the limit is already waited on in another event loop.
        """
        window = self._window
        if not self._turns and not self._jitter and window.try_grant(self._clock()):
            return
        loop = asyncio.get_running_loop()
        turns = self._turns
        if turns and turns[0].get_loop() is not loop:
            msg = "RateLimit is shared by one event loop: it has waiters in another one"
            raise RuntimeError(msg)
        turn: asyncio.Future[None] = loop.create_future()
        turns.append(turn)
        try:
            if turns[0] is not turn:
                await turn  # set when the waiter ahead leaves the queue
            await self._until_free()
            if self._jitter:
                await asyncio.sleep(self._uniform(0.0, self._jitter * window.per / window.n))
                await self._until_free()
            # No await between this check and returning: a cancelled waiter
            # never holds a slot.
            window.grant(self._clock())
        finally:
            self._leave(turn)

    async def _until_free(self) -> None:
        # A timer may fire a hair early (asyncio's clock resolution): check again.
        wait = self._window.delay(self._clock())
        while wait > 0:
            await asyncio.sleep(wait)
            wait = self._window.delay(self._clock())

    def _leave(self, turn: asyncio.Future[None]) -> None:
        turns = self._turns
        was_head = turns[0] is turn
        turns.remove(turn)
        if was_head and turns and not turns[0].done():
            turns[0].set_result(None)


def chunks(items: Iterable[_T], n: int) -> Iterator[list[_T]]:
    """Split ``items`` into lists of at most ``n``, in order.

    For venues that cap the channels of one subscribe request (Bybit 10,
    Binance 1024 streams per connection)::

        for group in wsevents.ratelimit.chunks(channels, 200):
            await limit.acquire()
            await ws.subscribe(*group)

    Args:
        items: any iterable (not a single string).
        n: the largest list, >= 1.

    Returns:
        An iterator of non-empty lists; none when ``items`` is empty.

    Raises:
        ConfigError: ``n`` is not an int >= 1, or ``items`` is a string.
    """
    size = cfg.check_positive_int("n", n)
    assert size is not None
    if isinstance(items, (str, bytes)):
        raise ConfigError("items", items, "must be an iterable of items, not one string")
    return _chunks(iter(items), size)


def _chunks(items: Iterator[_T], n: int) -> Iterator[list[_T]]:
    while True:
        group = list(islice(items, n))
        if not group:
            return
        yield group
