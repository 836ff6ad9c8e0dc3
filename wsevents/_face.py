"""What ``Connection`` and ``Pool`` share as emitters users hold (L3).

:class:`Face` is the base of both: an :class:`~wsevents._emitter.Emitter` with
one dispatcher, its streams (``stream()``), ``async with``, and the wait of
``run()`` once started.  Each subclass says how it connects, closes and
reports its state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, TypeVar

from . import _config as cfg
from ._delivery import Dispatcher
from ._emitter import Emitter
from ._options import Options, connection_options
from ._stream import Stream
from ._transport import Transport, resolve_transport
from .events import MESSAGE, State
from .exceptions import ConfigError, WSEventsError
from .routing import Protocol


__all__ = ["Face"]

_F = TypeVar("_F", bound="Face")


class Face(Emitter):
    """An emitter users connect, stream from and close (``Connection``, ``Pool``)."""

    __slots__ = ("_delivery", "_options", "_streams", "_transport", "protocol", "url")

    _delivery: Dispatcher
    _options: Options
    _streams: set[Stream] | None
    _transport: Transport
    #: maps frames to channels and channels to subscribe frames (the ``protocol`` option)
    protocol: Protocol
    #: the ``ws://`` or ``wss://`` URL
    url: str

    def _begin(self, url: str, transport: str | Transport | None, options: Any) -> Options:
        """Validate the URL, the transport and the options (:class:`ConfigError` naming
        a bad one), then become an emitter; the options, frozen."""
        self.url = cfg.check_url(url)
        self._transport = resolve_transport(transport)
        try:
            opts = connection_options(self.url, **options)
        except TypeError as exc:
            raise ConfigError("options", sorted(options), f"unknown option ({exc})") from exc
        Emitter.__init__(self)
        self._options = opts
        self.protocol = opts.protocol
        return opts

    @property
    def overflow(self) -> str:
        """The delivery queue's overflow mode (the ``overflow`` option)."""
        return self._options.overflow

    @property
    def check_interval(self) -> float:
        """Seconds between two policy checks (the ``check_interval`` option)."""
        return self._options.check_interval

    @property
    def state(self) -> State:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    async def connect(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    async def __aenter__(self: _F) -> _F:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, done: asyncio.Future[None] | None, what: str) -> None:
        """``run()`` once started: wait until closed (closing on cancellation)."""
        if done is None:
            raise WSEventsError(f"{what} is closed")
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            await self.close()
            raise

    def stream(self, event: str = MESSAGE, *, maxsize: int = 1000) -> AsyncIterator[Any]:
        """An async iterator over one event's payloads.

        It listens from the moment ``stream()`` is called (nothing emitted
        after that is missed, even before the first ``anext``).  Each call gets
        its own buffer of ``maxsize`` (fan-out to every consumer); it follows
        the ``overflow`` mode (``block`` makes the dispatcher wait for the
        consumer, drops are counted and reported by ``queue_full``) and ends
        when the emitter is closed (whether the consumer is iterating, waiting
        or gone), or on ``aclose()``.

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
        if self.state is State.CLOSED:
            stream.end()
        return stream

    def _end_streams(self) -> None:
        for stream in list(self._streams or ()):
            stream.end()
