"""Shared fixtures: a real FakeServer on loopback, and a factory of connections
that are always closed (and checked for leftover tasks) at the end of a test."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import wsevents
import wsevents._transport
from wsevents.testing import FakeServer


#: The transport the suite runs on: ``.ci/run`` runs tests/integration once more
#: with ``WSEVENTS_TEST_TRANSPORT=picows`` (needs ``pip install -e '.[picows]'``).
TRANSPORT = os.environ.get("WSEVENTS_TEST_TRANSPORT", "websockets")
#: ``WSEVENTS_TEST_COMPRESSION=none`` makes FakeServer refuse permessage-deflate:
#: ``.ci/run`` runs tests/integration on picows both ways, since picows hands
#: uncompressed text frames to the connection straight from its frame callback.
COMPRESSION = os.environ.get("WSEVENTS_TEST_COMPRESSION", "deflate")


def pytest_configure(config: pytest.Config) -> None:
    """Python 3.10's asyncio leaves the transport of a failed TLS handshake to the
    garbage collector (fixed by the new SSL implementation of 3.11): ignore that
    one warning there, and only there."""
    if sys.version_info < (3, 11):
        config.addinivalue_line(
            "filterwarnings",
            "ignore:Exception ignored in.*_SSLProtocolTransport"
            ":pytest.PytestUnraisableExceptionWarning",
        )
    try:
        wsevents._transport.resolve_transport(TRANSPORT)
    except wsevents.ConfigError as exc:  # picows missing, or a bad name
        raise pytest.UsageError(f"WSEVENTS_TEST_TRANSPORT: {exc}") from exc
    if COMPRESSION not in ("deflate", "none"):
        raise pytest.UsageError(f"WSEVENTS_TEST_COMPRESSION: {COMPRESSION!r} (deflate or none)")


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"wsevents transport: {TRANSPORT} (WSEVENTS_TEST_TRANSPORT), "
        f"FakeServer compression: {COMPRESSION} (WSEVENTS_TEST_COMPRESSION)"
    )


@pytest.fixture(autouse=True)
def _transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections built without ``transport=`` (``sync``, ``compat``, ...) use the
    suite's transport too, and FakeServers the suite's compression by default."""
    monkeypatch.setattr(wsevents._transport, "DEFAULT_TRANSPORT", TRANSPORT)
    if COMPRESSION == "none":
        defaults = FakeServer.__init__.__kwdefaults__
        assert defaults is not None
        assert "compression" in defaults
        monkeypatch.setitem(defaults, "compression", None)


#: One "millisecond" of test time; raise WSEVENTS_TEST_TIMEOUT_FACTOR on slow machines.
MS = 0.001 * float(os.environ.get("WSEVENTS_TEST_TIMEOUT_FACTOR", "1"))


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    """A FakeServer on 127.0.0.1, port 0."""
    async with FakeServer() as fake:
        yield fake


@pytest.fixture
async def make_connection() -> AsyncIterator[Callable[..., wsevents.Connection]]:
    """Build connections with test-friendly defaults; close them all afterwards and
    assert they left no task behind."""
    made: list[wsevents.Connection] = []

    def make(url: str, **options: Any) -> wsevents.Connection:
        options.setdefault("backoff", wsevents.FixedDelay(delay=20 * MS))
        options.setdefault("check_interval", 20 * MS)
        options.setdefault("close_timeout", 1.0)
        options.setdefault("transport", TRANSPORT)
        ws = wsevents.Connection(url, **options)
        made.append(ws)
        return ws

    before = asyncio.all_tasks()
    yield make
    for ws in made:
        await asyncio.wait_for(ws.close(), 5)
    leftovers = [
        t for t in asyncio.all_tasks() - before
        if not t.done() and (t.get_name().startswith("wsevents") or "Connection" in repr(t))
    ]
    assert not leftovers, f"tasks left behind: {leftovers}"


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, checking every millisecond, at most ``timeout``.

    For conditions nothing signals (counters in ``ws.stats``); events are
    awaited through :class:`Recorder` instead.
    """

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(MS)

    await asyncio.wait_for(poll(), timeout)


class Recorder:
    """Records (event, payload) pairs and lets a test wait for a condition on them."""

    def __init__(self, ws: wsevents.Connection, *events: str) -> None:
        self.items: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        for event in events:
            ws.on(event, self._handler(event))

    def _handler(self, event: str) -> Callable[[Any], None]:
        def record(payload: Any) -> None:
            self.items.append((event, payload))
            self._changed.set()

        return record

    def of(self, event: str) -> list[Any]:
        """The payloads recorded for ``event``."""
        return [p for e, p in self.items if e == event]

    def names(self) -> list[str]:
        """The event names, in order."""
        return [e for e, _ in self.items]

    async def wait(self, predicate: Callable[[Recorder], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate(self)`` holds (bounded)."""

        async def until() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def wait_count(self, event: str, n: int, timeout: float = 5.0) -> None:
        """Wait until ``event`` was recorded ``n`` times."""
        await self.wait(lambda r: len(r.of(event)) >= n, timeout)
