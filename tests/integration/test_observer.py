"""Observers: one callback that follows every event a connection delivers, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import Recorder
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


async def test_observer_sees_messages_with_channel_and_lifecycle_in_order(
    server: FakeServer, make_connection: Make
) -> None:
    """The observer gets (name, payload) for lifecycle events and routed messages alike,
    in delivery order, after the event's own handlers."""
    ws = make_connection(server.url, subscriptions=["trades"])
    seen: list[tuple[str, Any]] = []
    order: list[str] = []
    ws.on("message:trades", lambda m: order.append("handler"))

    def observe(name: str, payload: Any) -> None:
        seen.append((name, payload))
        if name == "message:trades":
            order.append("observer")

    ws.add_observer(observe)
    rec = Recorder(ws, "message:trades")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("trades")
    await server.publish("trades", {"n": 1})
    await server.publish("trades", {"n": 2})
    await rec.wait_count("message:trades", 2)
    names = [name for name, _ in seen]
    assert names[0] == "connect"
    assert names[1:] == ["message:trades", "message:trades"]
    assert [p["n"] for n, p in seen[1:]] == [1, 2]
    assert order == ["handler", "observer", "handler", "observer"]

    ws.remove_observer(observe)
    await server.publish("trades", {"n": 3})
    await rec.wait_count("message:trades", 3)
    assert len(seen) == 3


async def test_async_observer_is_awaited_and_errors_go_to_error(
    server: FakeServer, make_connection: Make
) -> None:
    """An async observer is awaited in order; one that raises is an ``error`` event."""
    ws = make_connection(server.url)
    got: list[int] = []

    async def observe(name: str, payload: Any) -> None:
        if name.startswith("message:"):
            got.append(payload["n"])
            if payload["n"] == 2:
                raise ValueError("observer broke")

    ws.add_observer(observe)
    rec = Recorder(ws, "error", "message:x")
    await ws.connect()
    await server.wait_for_client()
    for n in (1, 2, 3):
        await server.publish("x", {"n": n})
    await rec.wait_count("message:x", 3)
    await rec.wait_count("error", 1)
    assert got == [1, 2, 3]
    assert "observer broke" in str(rec.of("error")[0])


def test_observer_must_be_callable() -> None:
    """A non-callable observer is refused at once."""
    ws = wsevents.Connection("ws://127.0.0.1:1/")
    with pytest.raises(TypeError):
        ws.add_observer("nope")  # type: ignore[arg-type]
    ws.remove_observer(print)  # not added: nothing happens
