"""The fuzz harness: one live connection per test, an oracle, and the sentinel check.

Every fuzz test drives one :class:`wsevents.Connection` against a real
:class:`~wsevents.testing.FakeServer` on loopback.  After each generated input
the harness sends a *sentinel*, a valid message, and waits (bounded) until it
is delivered: on the same connection when the input must leave it up, on the
replacement connection when the input must end it.  So no input may hang the
client, kill its reader, lose a later valid message, or surface as anything
but the events the oracle expects.

Examples are derandomized (the same inputs on every run) and bounded; set
``WSEVENTS_FUZZ_EXAMPLES=2000`` for long local runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from websockets.exceptions import ConnectionClosed

import wsevents
from tests.conftest import MS
from wsevents import DisconnectReason, FrameError
from wsevents.testing import FakeClient, FakeServer


__all__ = [
    "WAIT",
    "Expect",
    "Keep",
    "Live",
    "Replace",
    "expected_event",
    "fuzz_settings",
    "open_live",
]

#: ``WSEVENTS_FUZZ_EXAMPLES``: examples per fuzz test (default: each test's own bound).
EXAMPLES = int(os.environ.get("WSEVENTS_FUZZ_EXAMPLES", "0"))
#: The bound on every wait of the harness (seconds).
WAIT = 5000 * MS


def fuzz_settings(default: int, **overrides: Any) -> settings:
    """Derandomized settings with ``default`` examples (or ``WSEVENTS_FUZZ_EXAMPLES``).

    The fixture's server and connection are shared by the examples of one test
    on purpose (a long-lived connection fed garbage), hence the suppressed
    ``function_scoped_fixture`` check; each example checks its own outcome.
    """
    return settings(
        max_examples=EXAMPLES or default,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
        **overrides,
    )


# -- the oracle -------------------------------------------------------------------------


@attrs.frozen
class Keep:
    """The input must leave the connection up and deliver exactly ``events``.

    ``events`` are ``(event name, payload)``; an ``error`` payload is the frame
    the ``FrameError`` must carry.
    """

    events: tuple[tuple[str, Any], ...] = ()


@attrs.frozen
class Replace:
    """The input must end the connection with this reason and code, then a reconnect.

    ``reason_text`` is checked when not None; ``before`` are the events that
    must be delivered before the ``disconnect``.
    """

    reason: DisconnectReason
    code: int
    reason_text: str | None = None
    before: tuple[tuple[str, Any], ...] = ()
    #: other ``(reason, code)`` pairs that are right too
    also: frozenset[tuple[DisconnectReason, int]] = frozenset()


Expect = Keep | Replace


def expected_event(frame: str | bytes) -> tuple[str, Any]:
    """What the default ``JsonProtocol()`` must make of one complete data frame.

    Written from the documented behaviour, not from the protocol's code: not
    JSON → an ``error`` event with a ``FrameError`` carrying the frame; a
    ``channel`` key that is not null → ``message:<channel>`` (a non-string
    channel is named by ``str()``); anything else → ``message``.
    """
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return ("error", frame)
    if isinstance(message, dict) and message.get("channel") is not None:
        channel = message["channel"]
        return (f"message:{channel if isinstance(channel, str) else str(channel)}", message)
    return ("message", message)


def same(a: Any, b: Any) -> bool:
    """Structural equality that also holds for NaN (json decodes ``NaN``), iterative
    so that deeply nested documents compare too."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, float) and math.isnan(x):
            if not math.isnan(y):
                return False
        elif x != y:
            return False
    return True


def matches(seen: list[tuple[str, Any]], wanted: tuple[tuple[str, Any], ...]) -> bool:
    if [name for name, _ in seen] != [name for name, _ in wanted]:
        return False
    for (name, got), (_, want) in zip(seen, wanted, strict=True):
        if name == "error":
            if not (isinstance(got, FrameError) and got.frame == want):
                return False
        elif not same(got, want):
            return False
    return True


def _short(items: list[tuple[str, Any]] | tuple[tuple[str, Any], ...]) -> str:
    def show(payload: Any) -> str:
        try:
            return repr(payload)[:200]
        except RecursionError:
            return f"<{type(payload).__name__} nested too deep to show>"

    return repr([(name, show(payload)) for name, payload in items])[:2000]


# -- the live connection ----------------------------------------------------------------


class Live:
    """A connection and its server; records every delivered event (an observer).

    Examples share the connection while they pass; after an example that did
    not finish (a failure, while hypothesis shrinks), the next one starts on a
    fresh connection, so a failing input replays the same way.
    """

    def __init__(self, server: FakeServer, transport: str, options: dict[str, Any]) -> None:
        self.server = server
        self.transport = transport
        self.options = options
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self._sentinels = 0
        self._clean = False
        self.ws = self._new()

    def _new(self) -> wsevents.Connection:
        ws = wsevents.Connection(self.server.url, transport=self.transport, **self.options)
        ws.add_observer(self._observe)
        return ws

    async def start(self) -> None:
        """Connect (a fresh connection when the last example did not finish)."""
        if self._clean:
            return
        if self.ws.state is not wsevents.State.IDLE:
            await asyncio.wait_for(self.ws.close(), WAIT)
            await self.server.drop(timeout=WAIT)
            self.ws = self._new()
        self.events.clear()
        accepted = self.server.connections
        await asyncio.wait_for(self.ws.connect(), WAIT)
        await self.server.wait_for_client(accepted + 1, timeout=WAIT)
        self._clean = True

    def _observe(self, name: str, payload: Any) -> None:
        self.events.append((name, payload))
        self._changed.set()

    @property
    def client(self) -> FakeClient:
        """The server side of the connection's current connection."""
        return self.server.all_clients[-1]

    async def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait until ``predicate()`` holds, at most :data:`WAIT` seconds."""

        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), WAIT)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"hang: no {what} within {WAIT}s; state {self.ws.state.name}, "
                f"events {_short(self.events[-8:])}"
            ) from None

    async def sentinel(self, client: FakeClient, start: int) -> int:
        """Publish a sentinel on ``client``; wait for it; return its index in events."""
        self._sentinels += 1
        n = self._sentinels
        try:
            await client.publish("sentinel", {"n": n})
        except ConnectionClosed:
            raise AssertionError(
                f"the connection ended; events {_short(self.events[start:])}"
            ) from None
        wanted = ("message:sentinel", {"channel": "sentinel", "n": n})

        def index() -> int | None:
            for i in range(start, len(self.events)):
                if self.events[i] == wanted:
                    return i
            return None

        await self.wait_for(lambda: index() is not None, f"sentinel {n}")
        found = index()
        assert found is not None
        return found

    async def check(self, send: Callable[[FakeClient], Any], expect: Expect) -> None:
        """Apply one input to the current connection and check its outcome."""
        await self.start()
        self._clean = False
        client = self.client
        accepted = self.server.connections
        start = len(self.events)
        result = send(client)
        if asyncio.iscoroutine(result):
            await result
        if isinstance(expect, Keep):
            at = await self.sentinel(client, start)
            seen = self.events[start:at]
            assert matches(seen, expect.events), (
                f"expected {_short(expect.events)}, delivered {_short(seen)}"
            )
            assert client in self.server.clients, "the connection was replaced"
            self._clean = True
            return

        def disconnected() -> int | None:
            for i in range(start, len(self.events)):
                if self.events[i][0] == "disconnect":
                    return i
            return None

        await self.wait_for(lambda: disconnected() is not None, "disconnect")
        at = disconnected()
        assert at is not None
        event = self.events[at][1]
        got = (event.reason, event.code)
        assert got == (expect.reason, expect.code) or got in expect.also, (
            f"expected {(expect.reason, expect.code)}, got {got} ({event.reason_text!r}); "
            f"events {_short(self.events[start:at + 1])}"
        )
        if expect.reason_text is not None and got == (expect.reason, expect.code):
            assert event.reason_text == expect.reason_text, (
                f"reason {event.reason_text!r}, expected {expect.reason_text!r}"
            )
        seen = self.events[start:at]
        assert matches(seen, expect.before), (
            f"before the disconnect: expected {_short(expect.before)}, got {_short(seen)}"
        )
        await self.wait_for(
            lambda: any(name == "connect" for name, _ in self.events[at:]), "reconnect"
        )
        replacement = await self.server.wait_for_client(accepted + 1, timeout=WAIT)
        await self.sentinel(replacement, at)
        self._clean = True


async def open_live(
    transport: str, compression: str | None, **options: Any
) -> AsyncIterator[Live]:
    """A :class:`Live` on a new server (an async generator for a fixture)."""
    async with FakeServer(compression=compression) as server:
        options.setdefault("backoff", wsevents.Immediate())
        options.setdefault("server_unavailable_delay", 0.0)
        options.setdefault("close_timeout", 1.0)
        options.setdefault("check_interval", 0.05)
        live = Live(server, transport, options)
        try:
            yield live
        finally:
            await asyncio.wait_for(live.ws.close(), WAIT)
