"""The Dispatcher on its own (no socket): order, overflow modes, inline delivery,
awaitables returned by handlers, errors, and the end of delivery."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.conftest import until
from wsevents._config import Overflow
from wsevents._delivery import Dispatcher
from wsevents._emitter import Emitter
from wsevents._stats import Counters
from wsevents.events import QueueFull


def make(queue_size: int = 8, overflow: Overflow = "drop_oldest") -> tuple[
    Emitter, Dispatcher, Counters, list[tuple[str, Any]]
]:
    """An emitter, its dispatcher, the counters, and a record of what was delivered."""
    em = Emitter()
    counters = Counters()
    dispatcher = Dispatcher(em, queue_size=queue_size, overflow=overflow, counters=counters)
    seen: list[tuple[str, Any]] = []
    for name in ("message", "queue_full", "connect", "closed", "error"):
        em.on(name, lambda payload, name=name: seen.append((name, payload)))
    return em, dispatcher, counters, seen


async def drain(dispatcher: Dispatcher) -> None:
    """Deliver everything queued, then end the dispatcher task (bounded)."""
    await asyncio.wait_for(dispatcher.barrier(), 5)


async def test_messages_and_lifecycle_events_keep_their_order() -> None:
    _, d, counters, seen = make()
    d.offer_lifecycle("connect", "c")
    assert d.offer("message:a", 1)
    assert d.offer("message:b", 2)
    assert d.depth == 2  # lifecycle items are not counted
    d.start()
    await until(lambda: counters.messages_delivered == 2)  # counted once idle again
    assert seen == [("connect", "c"), ("message", 1), ("message", 2)]
    assert counters.last_message_at is not None
    assert d.depth == 0
    await drain(d)


async def test_drop_oldest_keeps_lifecycle_items_and_reports() -> None:
    """A full queue drops its oldest *message*; lifecycle items stay, in place."""
    _, d, counters, seen = make(queue_size=1)
    d.offer_lifecycle("connect", "c")
    assert d.offer("message:a", 1)
    assert not d.offer("message:a", 2)
    assert await d.put("message:a", 2)  # queued, the oldest message dropped
    assert d.depth == 1
    d.start()
    await drain(d)
    assert [e for e, _ in seen] == ["queue_full", "connect", "message"]
    report = seen[0][1]
    assert isinstance(report, QueueFull)
    assert (report.channel, report.dropped) == ("a", 1)
    assert (report.overflow, report.size) == ("drop_oldest", 1)
    assert seen[2] == ("message", 2)
    assert (counters.messages_dropped, counters.queue_full_events) == (1, 1)
    assert counters.queue_peak == 1


async def test_drop_newest_refuses_the_new_message() -> None:
    _, d, counters, seen = make(queue_size=1, overflow="drop_newest")
    assert d.offer("message", 1)
    assert not await d.put("message", 2)
    assert not await d.put("message", 3)  # within the report interval: one report
    d.start()
    await drain(d)
    assert [e for e, _ in seen] == ["queue_full", "message"]
    assert seen[0][1].channel is None
    assert seen[0][1].dropped == 2
    assert seen[1] == ("message", 1)
    assert counters.messages_dropped == 2
    assert counters.queue_peak == 1  # sampled on overflow in every mode


async def test_steady_drops_are_reported_once_a_second_and_none_is_lost() -> None:
    """Drop one, deliver one, twenty times: the first drop is reported at once, the
    other nineteen in one report when the second ends (not one report a drop), and
    a drop still unreported when delivery finishes is reported before the end."""
    _, d, counters, seen = make(queue_size=1, overflow="drop_newest")
    d.start()
    for i in range(20):
        assert d.offer("message:a", i)
        d.count_drop("a")  # one dropped, as a full queue does
        await until(lambda i=i: counters.messages_delivered == i + 1)
    reports = [p for e, p in seen if e == "queue_full"]
    assert [r.dropped for r in reports] == [1]
    await until(lambda: counters.queue_full_events == 2)  # when the second ends
    reports = [p for e, p in seen if e == "queue_full"]
    assert [r.dropped for r in reports] == [1, 19]
    assert reports[-1].total_dropped == counters.messages_dropped == 20
    d.count_drop("a")  # within the second after a report
    await asyncio.wait_for(d.finish(5, 1), 10)  # reported before delivery ends
    assert [p.dropped for e, p in seen if e == "queue_full"] == [1, 19, 1]


async def test_count_drop_reports_a_drop_made_elsewhere() -> None:
    _, d, counters, seen = make()
    d.count_drop("trades")
    d.start()
    await drain(d)
    assert counters.messages_dropped == 1
    assert [(e, p.channel, p.dropped) for e, p in seen] == [("queue_full", "trades", 1)]


async def test_block_waits_for_room_and_keeps_the_order() -> None:
    """Two producers waiting on a full queue both get in, in order, with no drop."""
    _, d, counters, seen = make(queue_size=1, overflow="block")
    assert d.offer("message", 1)
    first = asyncio.ensure_future(d.put("message", 2))
    second = asyncio.ensure_future(d.put("message", 3))
    await asyncio.sleep(0)  # both are waiting now (nothing delivers yet)
    assert not first.done()
    assert not second.done()
    d.start()
    assert await asyncio.wait_for(first, 5)
    assert await asyncio.wait_for(second, 5)
    await drain(d)
    assert [p for e, p in seen if e == "message"] == [1, 2, 3]
    assert counters.messages_dropped == 0
    assert counters.queue_peak == 1
    reports = [p for e, p in seen if e == "queue_full"]
    assert reports
    assert all(r.dropped == 0 and r.overflow == "block" for r in reports)


async def test_release_lets_a_blocked_producer_give_up() -> None:
    _, d, _, _ = make(queue_size=1, overflow="block")
    assert d.offer("message", 1)
    producer = asyncio.ensure_future(d.put("message", 2))
    await asyncio.sleep(0)
    assert not producer.done()
    d.release()
    assert await asyncio.wait_for(producer, 5) is False
    assert d.depth == 1


async def test_a_cancelled_blocked_producer_does_not_break_delivery() -> None:
    """The waiting producer is cancelled; the dispatcher then finds its room-future done."""
    _, d, _, seen = make(queue_size=1, overflow="block")
    assert d.offer("message", 1)
    producer = asyncio.ensure_future(d.put("message", 2))
    await asyncio.sleep(0)
    producer.cancel()
    await asyncio.wait({producer}, timeout=5)
    assert producer.cancelled()
    d.start()
    await until(lambda: ("message", 1) in seen)
    assert await asyncio.wait_for(d.put("message", 3), 5)
    await drain(d)
    assert [p for e, p in seen if e == "message"] == [1, 3]


async def test_errors_are_reported_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    """report_error() reaches the error handlers; without any it is logged."""
    em = Emitter()
    counters = Counters()
    d = Dispatcher(em, queue_size=4, overflow="drop_oldest", counters=counters)
    d.start()
    with caplog.at_level(logging.ERROR, logger="wsevents"):
        d.report_error(ValueError("nobody listens"))
        await drain(d)
    assert "unhandled error" in caplog.text
    assert caplog.records[0].exc_info is not None


async def test_a_raising_error_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    em = Emitter()
    counters = Counters()
    d = Dispatcher(em, queue_size=4, overflow="drop_oldest", counters=counters)
    got: list[Exception] = []

    def bad(exc: Exception) -> None:
        got.append(exc)
        raise RuntimeError("error handler broke")

    async def good(exc: Exception) -> None:
        got.append(exc)

    em.on("error", bad)
    em.on("error", good)
    em.on("message", lambda _: 1 / 0)
    d.start()
    with caplog.at_level(logging.ERROR, logger="wsevents"):
        d.report_error(ValueError("first"))
        d.offer("message", "x")  # a handler raising: an error event
        d.offer("error", ValueError("as a message"))  # an 'error' handler raising on it
        await drain(d)
    assert [type(e).__name__ for e in got] == [
        "ValueError", "ValueError", "ZeroDivisionError", "ZeroDivisionError",
        "ValueError", "ValueError",
    ]
    assert counters.handler_errors == 2
    # bad() raised three times: on the two reports (logged by the report), and on
    # the "error" message, where it counts as a handler error (logged, not re-reported)
    assert [r.getMessage() for r in caplog.records] == ["an 'error' handler raised"] * 3


async def test_handler_awaitables_are_awaited_in_order() -> None:
    """Coroutines and futures a handler returns are awaited before the next item."""
    em, d, _, seen = make()
    loop = asyncio.get_running_loop()

    def returned(payload: int) -> asyncio.Future[str]:
        """0: a future already done; 1: done a little later; 2: failing a little later."""
        future = loop.create_future()
        if payload == 0:
            future.set_result("ready")
        elif payload == 1:
            loop.call_soon(future.set_result, "later")
        else:
            loop.call_soon(future.set_exception, KeyError("failed future"))
        return future

    em.on("message:f", returned)
    em.on("message:f", lambda payload: seen.append(("after", payload)))
    d.start()
    for n in range(3):
        d.offer("message:f", n)
    await drain(d)
    names = [(e, p if e != "error" else type(p).__name__) for e, p in seen]
    assert names == [
        ("message", 0), ("after", 0),
        ("message", 1), ("after", 1),
        ("message", 2), ("error", "KeyError"), ("after", 2),
    ]


async def test_release_stops_waiting_for_tasks_handlers_returned() -> None:
    """Shutting down, delivery no longer waits for a future a handler returned."""
    em, d, _, seen = make()
    never = asyncio.get_running_loop().create_future()
    em.on("message:w", lambda payload: never)
    d.start()
    d.offer("message:w", 1)
    await until(lambda: ("message", 1) in seen)
    d.release()
    d.offer("message:w", 2)  # released: not waited for at all
    await drain(d)
    assert ("message", 2) in seen
    assert not never.done()
    never.cancel()


async def test_deliver_now_runs_plain_handlers_inline() -> None:
    em, d, counters, seen = make()
    em.on("message:i", lambda payload: seen.append(("i", payload)))
    assert not d.deliver_now("message:i", 0)  # not started: not idle
    d.start()
    await until(lambda: d.deliver_now("message:i", 1))
    assert seen == [("message", 1), ("i", 1)]  # delivered there and then
    assert d.deliver_now("message:i", 2)
    await until(lambda: counters.messages_delivered == 2)  # counted after the burst
    await drain(d)
    assert seen[-2:] == [("message", 2), ("i", 2)]


async def test_deliver_now_refuses_async_handlers() -> None:
    em, d, _, seen = make()

    async def handler(payload: Any) -> None:
        seen.append(("async", payload))

    em.on("message:a", handler)
    d.start()
    await asyncio.sleep(0)  # the dispatcher task starts and goes idle
    assert not d.deliver_now("message:a", 1)
    assert seen == []
    await drain(d)


async def test_deliver_now_hands_a_raising_handler_to_the_dispatcher() -> None:
    """The error, then the message's remaining handlers, come in order from the queue."""
    em, d, counters, seen = make()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    done.set_result(None)

    def boom(payload: Any) -> None:
        raise ValueError(payload)

    em.on("message:r", boom)
    em.on("message:r", lambda payload: done)  # an awaitable, settled by the dispatcher
    em.on("message:r", lambda payload: 1 / 0)  # raises on the dispatcher's side
    em.on("message:r", lambda payload: seen.append(("last", payload)))
    d.start()
    await until(lambda: d.deliver_now("message:r", 5))
    await drain(d)
    names = [(e, p if e != "error" else type(p).__name__) for e, p in seen]
    assert names == [("message", 5), ("error", "ValueError"), ("error", "ZeroDivisionError"),
                     ("last", 5)]
    assert counters.handler_errors == 2


async def test_deliver_now_hands_a_returned_awaitable_to_the_dispatcher() -> None:
    """A plain function returning a coroutine: awaited by the dispatcher (its error
    reported), and the event is delivered through the queue from then on."""
    em, d, _, seen = make()

    async def fails(payload: Any) -> None:
        raise KeyError(payload)

    em.on("message:c", lambda payload: fails(payload))
    em.on("message:c", lambda payload: seen.append(("next", payload)))
    d.start()
    await until(lambda: d.deliver_now("message:c", 1))
    await until(lambda: ("next", 1) in seen)
    assert not d.deliver_now("message:c", 2)  # demoted
    d.offer("message:c", 2)
    await drain(d)
    names = [(e, p if e != "error" else type(p).__name__) for e, p in seen]
    assert names == [("message", 1), ("error", "KeyError"), ("next", 1),
                     ("message", 2), ("error", "KeyError"), ("next", 2)]


async def test_offer_call_runs_in_order() -> None:
    _, d, _, seen = make()
    d.offer("message", 1)
    d.offer_call(lambda: seen.append(("call", None)))
    d.offer_lifecycle("closed", "bye")
    d.start()
    await drain(d)
    assert seen == [("message", 1), ("call", None), ("closed", "bye")]


async def test_barrier_is_shared_and_may_be_cancelled_by_its_waiter() -> None:
    _, d, _, seen = make()
    barrier = d.barrier()
    assert d.barrier() is barrier
    barrier.cancel()  # a waiter gave up: the dispatcher still ends there
    d.offer("message", 1)  # after the barrier: never delivered
    task = d.start()
    await asyncio.wait_for(task, 5)
    assert seen == []


async def test_finish_delivers_what_is_queued() -> None:
    _, d, counters, seen = make()
    d.start()
    d.offer("message", 1)
    d.offer_lifecycle("closed", "bye")
    assert await d.finish(1.0, 0.5) == 0
    assert seen == [("message", 1), ("closed", "bye")]
    assert await d.finish(1.0, 0.5) == 0  # again: the task is done already
    assert counters.messages_dropped == 0


async def test_finish_without_a_task_counts_the_queued_messages_dropped() -> None:
    _, d, counters, seen = make()
    d.offer("message", 1)
    d.offer("message", 2)
    assert await d.finish(0.1, 0.1) == 2
    assert counters.messages_dropped == 2
    assert seen == []
    assert d.depth == 0


async def test_finish_past_its_timeout_drops_messages_and_delivers_the_end() -> None:
    """A stuck handler: the task is cancelled, the messages dropped, ``closed`` delivered."""
    em, d, counters, seen = make()
    stuck = asyncio.Event()

    async def hang(payload: Any) -> None:
        if payload == "stuck":
            await stuck.wait()

    em.on("message:s", hang)
    d.start()
    d.offer("message:s", "stuck")
    d.offer("message:s", "never")
    d.offer_lifecycle("closed", "bye")
    assert await d.finish(0.05, 1.0) == 1
    assert counters.messages_dropped == 1
    assert seen[0] == ("message", "stuck")
    assert seen[-1] == ("closed", "bye")
    assert ("message", "never") not in seen


async def test_an_offer_after_the_task_was_cancelled_while_idle() -> None:
    """The idle dispatcher's task is cancelled: later offers still queue."""
    _, d, counters, _ = make()
    task = d.start()
    await asyncio.sleep(0)  # idle now
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert d.offer("message", 1)
    assert d.depth == 1
    assert await d.finish(0.1, 0.1) == 1
    assert counters.messages_dropped == 1
