"""Socket reads bounded for picows (layer L3).

picows doubles its read buffer whenever a read fills it and never shrinks it,
so in a burst one frame callback would soon carry tens of thousands of frames:
more than the dispatcher delivers inline before it yields (``YIELD_INTERVAL``),
and the rest would wait in its queue, decoded, for the rest of the burst (the
garbage collector then takes about a fifth of the CPU, and the memory doubles:
``bench/book_bench.py`` prints the collections).  :func:`bound_reads` puts a
:class:`BoundedReads` between the socket's transport and picows' protocol once
connected, which hands picows at most :data:`MAX_READ` bytes a read.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final


__all__ = ["MAX_READ", "BoundedReads", "bound_reads"]

#: The most one socket read brings to picows (bytes): what asyncio reads at once
#: for a protocol of its own.
MAX_READ: Final = 256 * 1024


class BoundedReads(asyncio.BufferedProtocol):
    """picows' protocol, with each read bounded to :data:`MAX_READ` bytes."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer: memoryview = self.inner.get_buffer(sizehint)
        return buffer if len(buffer) <= MAX_READ else buffer[:MAX_READ]

    def buffer_updated(self, nbytes: int) -> None:
        self.inner.buffer_updated(nbytes)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)  # pragma: no cover - put in once connected

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def bound_reads(wire: Any) -> None:
    """Bound the reads of picows transport ``wire`` (once connected)."""
    transport = getattr(wire, "underlying_transport", None)
    if transport is None:  # pragma: no cover - picows 2.x always has it
        return
    protocol = transport.get_protocol()
    if not isinstance(protocol, BoundedReads):
        transport.set_protocol(BoundedReads(protocol))
