"""wsevents.sync.Connection edges against a real FakeServer on its own loop thread:
introspection, bad registrations, calls in the wrong state or from the wrong
thread, handlers that return awaitables, fatal errors seen by wait_connected()."""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from typing import Any

import pytest

import wsevents
import wsevents.sync
from tests.conftest import MS
from tests.integration.test_sync import Make, ServerThread, wsevents_threads


@pytest.fixture
def served() -> Iterator[ServerThread]:
    """A FakeServer on a loop thread of its own."""
    server = ServerThread()
    yield server
    server.close()


@pytest.fixture
def make_sync(served: ServerThread) -> Iterator[Make]:
    """Sync connections to ``served``, all closed afterwards, leaving no thread behind."""
    made: list[wsevents.sync.Connection] = []

    def make(**options: Any) -> wsevents.sync.Connection:
        options.setdefault("backoff", wsevents.FixedDelay(delay=20 * MS))
        options.setdefault("close_timeout", 1.0)
        ws = wsevents.sync.Connection(served.url, **options)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.close(timeout=5)
    assert wsevents_threads() == []


def test_introspection(served: ServerThread, make_sync: Make) -> None:
    ws = make_sync()
    assert ws.url == served.url
    assert repr(ws).startswith("<wsevents.sync.Connection of <wsevents.Connection ")
    assert ws.state is wsevents.State.IDLE


@pytest.mark.parametrize(("event", "handler", "key"), [
    ("", print, "event"),
    (7, print, "event"),
    ("message", "not callable", "handler"),
])
def test_bad_registrations(make_sync: Make, event: Any, handler: Any, key: str) -> None:
    ws = make_sync()
    with pytest.raises(wsevents.ConfigError) as raised:
        ws.on(event, handler)
    assert raised.value.key == key


def test_start_twice_and_run_forever_with_a_timeout(
    served: ServerThread, make_sync: Make
) -> None:
    ws = make_sync()
    ws.start()
    ws.start()  # idempotent
    ws.wait_connected()
    with pytest.raises(TimeoutError, match="still running"):
        ws.run_forever(timeout=0.05)
    assert ws.connected  # it keeps running
    ws.close()
    with pytest.raises(wsevents.WSEventsError, match="closed"):
        ws.wait_connected()
    with pytest.raises(wsevents.WSEventsError, match="closed"):
        ws.start()


def test_wait_connected_raises_the_fatal_error(served: ServerThread, make_sync: Make) -> None:
    served.server.refuse(401)
    ws = make_sync()
    ws.start()
    with pytest.raises(wsevents.HandshakeRejected) as raised:
        ws.wait_connected()
    assert raised.value.status == 401


def test_subscribe_and_unsubscribe(served: ServerThread, make_sync: Make) -> None:
    ws = make_sync()
    ws.start()
    ws.wait_connected()
    ws.subscribe("a", "b")
    served.subscribed_client(1, "a", "b")
    ws.unsubscribe("a")
    assert ws.subscriptions == ("b",)

    async def unsubscribed() -> set[str]:
        client = await served.server.wait_for_client(1)
        await client.wait_received(
            lambda frames: any(f.get("op") == "unsubscribe" for f in frames)
        )
        return set(client.subscriptions)

    assert served.run(unsubscribed()) == {"b"}


def test_handler_returning_an_awaitable_is_an_error(
    served: ServerThread, make_sync: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """sync runs plain functions: an awaitable returned is an error event; an error
    handler that raises is logged; calls that would wait for themselves refuse."""
    errors: queue.Queue[Exception] = queue.Queue()
    refused: queue.Queue[Exception] = queue.Queue()
    ws = make_sync()

    async def coroutine_function(payload: Any) -> None:
        return None

    def on_connect(event: Any) -> Any:
        try:
            ws.run_forever()
        except RuntimeError as exc:
            refused.put(exc)
        return coroutine_function(event)

    def on_error(exc: Exception) -> None:
        errors.put(exc)
        raise ValueError("the error handler broke too")

    ws.on("connect", on_connect)
    ws.on("error", on_error)
    with caplog.at_level(logging.ERROR, logger="wsevents"):
        ws.start()
        error = errors.get(timeout=5)
        ws.close()
    assert isinstance(error, TypeError)
    assert "returned an awaitable" in str(error)
    assert "from a handler" in str(refused.get(timeout=5))
    assert "an 'error' handler raised" in caplog.text
