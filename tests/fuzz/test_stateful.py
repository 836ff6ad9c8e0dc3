"""A stateful fuzz test: random subscribe / unsubscribe / send / publish / server
faults / pause / resume / close sequences against one live connection.

Each hypothesis example runs one :class:`wsevents.Connection` and one
:class:`FakeServer` on an event loop of its own (created in ``__init__``,
closed in ``teardown``); every rule runs to completion on that loop, with
bounded waits, and the invariants are checked after every step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import wsevents
from tests.fuzz._harness import WAIT, fuzz_settings
from wsevents import ConfigError, NotConnected, State
from wsevents.testing import FakeClient, FakeServer


T = TypeVar("T")

channels = st.sampled_from(["a", "b", "c", "é", "x\x00y", "a.b", " "]) | st.text(max_size=6)
payloads = (
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)
    | st.lists(st.integers(), max_size=3)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
#: close codes a server sends, by what the client must do: every one reconnects
#: (``reconnect_on_clean_close`` is on; 1013's delay is 0 here)
server_codes = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1011, 1012, 1013, 4000])


def as_received(message: object) -> object:
    """How FakeServer records a frame the client sent (see ``wsevents.testing``)."""
    if isinstance(message, (dict, list)):
        return json.loads(json.dumps(message))
    if isinstance(message, str):
        try:
            return json.loads(message)
        except ValueError:
            return message
    return message


class ConnectionMachine(RuleBasedStateMachine):
    """One connection, a model of what it must have done, and the server's view."""

    transport = "websockets"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.server = FakeServer(compression=None if self.transport == "picows" else "deflate")
        self.ws: wsevents.Connection | None = None
        self.subscriptions: set[str] = set()
        self.closed = False
        self.paused = False
        self.published = 0
        self.delivered: list[int] = []
        self.errors: list[BaseException] = []
        self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 3 * WAIT))

    async def _start(self) -> None:
        await self.server.start()
        ws = wsevents.Connection(
            self.server.url,
            transport=self.transport,
            backoff=wsevents.Immediate(),
            server_unavailable_delay=0.0,
            close_timeout=1.0,
            check_interval=0.05,
        )
        ws.on("error", self.errors.append)
        ws.on("message:seq", lambda message: self.delivered.append(message["n"]))
        self.ws = ws
        await ws.connect()
        await self.server.wait_for_client(timeout=WAIT)

    def teardown(self) -> None:
        try:
            if self.ws is not None:
                self.run(self.ws.close())
            self.run(self.server.stop())
        finally:
            self.loop.close()

    @property
    def connection(self) -> wsevents.Connection:
        assert self.ws is not None
        return self.ws

    def current(self) -> FakeClient:
        return self.server.all_clients[-1]

    async def _settled(self) -> None:
        """Wait until the connection is up and the server saw its subscriptions."""
        ws = self.connection
        while ws.state is not State.CONNECTED or self.current().closed:
            await asyncio.sleep(0.001)
        wanted = set(self.subscriptions)
        client = self.current()
        await client.wait_received(lambda _: client.subscriptions == wanted, timeout=WAIT)

    # -- rules ------------------------------------------------------------------------

    @rule(names=st.lists(channels, min_size=1, max_size=3))
    def subscribe(self, names: list[str]) -> None:
        try:
            self.run(self.connection.subscribe(*names))
        except ConfigError:
            assert "" in names, f"ConfigError for {names!r}"
        else:
            assert "" not in names
            self.subscriptions.update(names)
        assert set(self.connection.subscriptions) == self.subscriptions

    @rule(names=st.lists(channels, min_size=1, max_size=3))
    def unsubscribe(self, names: list[str]) -> None:
        try:
            self.run(self.connection.unsubscribe(*names))
        except ConfigError:
            assert "" in names, f"ConfigError for {names!r}"
        else:
            self.subscriptions.difference_update(names)
        assert set(self.connection.subscriptions) == self.subscriptions

    @rule(message=payloads)
    def send(self, message: object) -> None:
        if self.closed or self.paused:
            try:
                self.run(self.connection.send(message))  # type: ignore[arg-type]
            except NotConnected:
                return
            raise AssertionError("send() while not connected did not raise NotConnected")
        client = self.current()
        count = len(client.received)
        self.run(self.connection.send(message))  # type: ignore[arg-type]
        received = self.run(client.wait_received(count=count + 1, timeout=WAIT))
        assert received[count] == as_received(message)

    @precondition(lambda self: not self.closed and not self.paused)
    @rule()
    def publish(self) -> None:
        self.published += 1
        n = self.published
        self.run(self.current().publish("seq", {"n": n}))

        async def delivered() -> None:
            while n not in self.delivered:
                await asyncio.sleep(0.001)

        self.run(delivered())

    @precondition(lambda self: not self.closed and not self.paused)
    @rule(code=server_codes, drop=st.booleans())
    def server_fault(self, code: int, drop: bool) -> None:
        client = self.current()
        self.run(client.drop() if drop else client.close(code, "fuzz"))
        self.run(self._settled())

    @precondition(lambda self: not self.closed and not self.paused)
    @rule()
    def pause(self) -> None:
        self.run(self.connection.request_disconnect())
        assert self.connection.state is State.PAUSED
        self.paused = True

    @precondition(lambda self: self.paused and not self.closed)
    @rule()
    def resume(self) -> None:
        self.run(self.connection.resume())
        self.paused = False
        self.run(self._settled())

    @precondition(lambda self: not self.closed)
    @rule()
    def close(self) -> None:
        self.run(self.connection.close())
        self.closed = True

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def state_matches_the_model(self) -> None:
        state = self.connection.state
        if self.closed:
            assert state is State.CLOSED
        elif self.paused:
            assert state is State.PAUSED
        else:
            self.run(self._settled())

    @invariant()
    def messages_delivered_once_in_order(self) -> None:
        assert self.delivered == list(range(1, self.published + 1))

    @invariant()
    def no_errors(self) -> None:
        assert not self.errors, self.errors


class WebsocketsMachine(ConnectionMachine):
    transport = "websockets"


class PicowsMachine(ConnectionMachine):
    transport = "picows"


TestStatefulWebsockets = WebsocketsMachine.TestCase
TestStatefulWebsockets.settings = fuzz_settings(150, stateful_step_count=12)
TestStatefulPicows = PicowsMachine.TestCase
TestStatefulPicows.settings = fuzz_settings(150, stateful_step_count=12)
