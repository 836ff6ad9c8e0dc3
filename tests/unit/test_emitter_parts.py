"""The Emitter on its own: the cached handler lookup, observers, and a direct ``emit()``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.conftest import until
from wsevents._emitter import NOT_INLINE, Emitter


def test_handlers_of_a_channel_put_message_handlers_first() -> None:
    """``message:<ch>`` gets the ``message`` handlers first, then its own; cached and exact."""
    em = Emitter()
    calls: list[str] = []

    def on_message(_: Any) -> None:
        calls.append("message")

    def on_trades(_: Any) -> None:
        calls.append("trades")

    em.on("message:trades", on_trades)
    em.on("message", on_message)
    handlers = em.handlers("message:trades")
    assert handlers == (on_message, on_trades)
    assert em.handlers("message:trades") is handlers  # cached
    assert em.handler_cache["message:trades"] is handlers
    assert em.handlers("other") == ()


def test_remove_all_listeners_clears_the_cache() -> None:
    """remove_all_listeners() (one event, or all) makes the next lookup exact."""
    em = Emitter()
    em.on("a", print)
    em.on("b", print)
    assert em.handlers("a") == (print,)
    assert em.inline_handlers("b") == (print,)
    em.remove_listener("a", print)
    assert em.handlers("a") == ()
    em.once("a", print)
    assert em.handlers("a") != ()
    em.remove_all_listeners("a")
    assert em.handlers("a") == ()
    assert em.handlers("b") == (print,)
    em.remove_all_listeners()
    assert em.handlers("b") == ()
    assert em.inline_handlers("b") == ()


def test_inline_handlers_and_demote() -> None:
    """Only plain functions run inline; an async handler, or a demotion, says NOT_INLINE."""
    em = Emitter()

    async def coro(_: Any) -> None:
        return None

    em.on("plain", print)
    em.on("mixed", print)
    em.on("mixed", coro)
    assert em.inline_handlers("plain") == (print,)
    assert em.inline_handlers("mixed") is NOT_INLINE
    em.demote("plain")
    assert em.inline_handlers("plain") is NOT_INLINE
    assert em.handlers("plain") == (print,)  # delivery through the queue is unchanged
    em.on("plain", repr)  # a change of handlers starts over
    assert em.inline_handlers("plain") == (print, repr)


def test_observers_follow_every_event_with_its_name() -> None:
    """An observer is called after the event's handlers, with the event's name."""
    em = Emitter()
    seen: list[tuple[str, Any]] = []

    def observer(name: str, payload: Any) -> None:
        seen.append((name, payload))

    em.on("message:t", print)
    em.add_observer(observer)
    handlers = em.handlers("message:t")
    assert handlers[0] is print
    handlers[1]({"n": 1})
    assert seen == [("message:t", {"n": 1})]
    assert len(em.handlers("connect")) == 1  # also events without handlers
    em.remove_observer(observer)
    em.remove_observer(observer)  # not an error
    assert em.handlers("message:t") == (print,)


def test_add_observer_refuses_what_is_not_callable() -> None:
    em = Emitter()
    with pytest.raises(TypeError, match="observer must be callable"):
        em.add_observer("nope")  # type: ignore[arg-type]


async def test_direct_emit_routes_async_handler_errors_to_the_sink() -> None:
    """An async handler run by a direct emit() reports what it raises to the sink."""
    em = Emitter()
    sink: list[Exception] = []
    em.route_errors_to(sink.append)
    done = asyncio.Event()

    async def failing(value: int) -> None:
        done.set()
        raise ValueError(value)

    em.on("x", failing)
    em.emit("x", 7)
    await asyncio.wait_for(done.wait(), 5)
    await until(lambda: bool(sink))  # the task's done callback runs a little later
    assert [type(e) for e in sink] == [ValueError]
    assert sink[0].args == (7,)


async def test_direct_emit_logs_async_errors_without_a_sink(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without a sink, the error is logged (never lost)."""
    em = Emitter()
    finished = asyncio.Event()

    async def failing(_: Any) -> None:
        raise RuntimeError("boom")

    em.on("x", failing)
    em.on("x", lambda _: finished.set())
    with caplog.at_level(logging.ERROR, logger="wsevents"):
        em.emit("x", None)
        await asyncio.wait_for(finished.wait(), 5)
        await until(lambda: bool(caplog.records))
    assert [r.getMessage() for r in caplog.records] == ["an async handler of emit() raised"]
    assert isinstance(caplog.records[0].exc_info[1], RuntimeError)  # type: ignore[index]


async def test_direct_emit_ignores_cancelled_and_successful_tasks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cancelled or successful async handler reports nothing."""
    em = Emitter()
    sink: list[Exception] = []
    em.route_errors_to(sink.append)
    tasks: list[asyncio.Task[Any]] = []

    async def cancelled(_: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        task.cancel()
        await asyncio.sleep(0)

    async def fine(_: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)

    em.on("x", cancelled)
    em.on("x", fine)
    with caplog.at_level(logging.ERROR, logger="wsevents"):
        em.emit("x", None)
        await until(lambda: len(tasks) == 2)
        await asyncio.wait(tasks, timeout=5)
        await asyncio.sleep(0)  # the tasks' done callbacks run on this iteration
    assert tasks[0].cancelled()
    assert not tasks[1].cancelled()
    assert tasks[1].exception() is None
    assert sink == []
    assert caplog.records == []

