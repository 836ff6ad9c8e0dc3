"""PendingRequests without sockets: replies by key in any order, error replies,
deadlines (one timer each), late replies, cancelled callers, fail_all."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest

from tests.conftest import MS
from wsevents import (
    AuthenticationError,
    ConfigError,
    ConnectionLost,
    RequestError,
    WSEventsError,
)
from wsevents._requests import PendingRequests, RequestStats


class Wire:
    """A stand-in for a connection's send: records frames (an in-memory list, no peer)."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.frames: list[Any] = []
        self.fail = fail
        self.sent = asyncio.Event()

    async def send(self, frame: Any) -> None:
        if self.fail is not None:
            raise self.fail
        self.frames.append(frame)
        self.sent.set()


async def started(pending: PendingRequests, wire: Wire, key: Any, timeout: float = 5.0) -> Any:
    """A task awaiting pending.request(...), returned once its frame was sent."""
    task = asyncio.ensure_future(pending.request(wire.send, {"id": key}, key, timeout))
    await asyncio.wait_for(_until(lambda: key in pending and {"id": key} in wire.frames), 5)
    return task


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0)


class TestReplies:
    async def test_reply_goes_to_its_caller(self) -> None:
        """The reply resolved under a key is what that request returns."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, 1)
        assert pending.resolve(1, {"id": 1, "result": "ok"}) is True
        assert await task == {"id": 1, "result": "ok"}
        assert pending.stats == RequestStats(sent=1, replied=1)
        assert len(pending) == 0

    async def test_out_of_order_replies(self) -> None:
        """Each of many requests gets its own reply whatever the order of the replies."""
        pending, wire = PendingRequests(), Wire()
        tasks = {k: await started(pending, wire, k) for k in range(50)}
        for k in reversed(range(50)):
            pending.resolve(k, k * 10)
        assert [await tasks[k] for k in range(50)] == [k * 10 for k in range(50)]
        assert pending.stats.replied == 50

    async def test_error_reply_raises_in_the_caller(self) -> None:
        """resolve(..., error=) raises that error in the caller, counted as failed."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, "a")
        error = RequestError(-1013, "Filter failure: LOT_SIZE", {"id": "a"})
        assert pending.resolve("a", {"id": "a"}, error) is True
        with pytest.raises(RequestError, match="code -1013: Filter failure") as info:
            await task
        assert info.value.reply == {"id": "a"}
        assert pending.stats.failed == 1

    async def test_unknown_key_is_late(self) -> None:
        """A reply nobody waits for is counted late and dropped."""
        pending = PendingRequests()
        assert pending.resolve("nobody", {}) is False
        assert pending.stats.late == 1

    async def test_duplicate_key_refused(self) -> None:
        """Two requests waiting under one key would steal each other's reply."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, 7)
        with pytest.raises(RuntimeError, match="already waiting"):
            await pending.request(wire.send, {}, 7, 1.0)
        pending.resolve(7, None)
        assert await task is None
        assert pending.stats.sent == 1

    @pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "1"])
    async def test_bad_timeout(self, timeout: Any) -> None:
        """A timeout must be a positive, finite number of seconds."""
        with pytest.raises(ConfigError, match="timeout"):
            await PendingRequests().request(Wire().send, {}, 1, timeout)

    async def test_send_failure_forgets_the_request(self) -> None:
        """When send raises, the caller gets that error and nothing stays pending."""
        pending = PendingRequests()
        with pytest.raises(ConnectionError):
            await pending.request(Wire(fail=ConnectionError("down")).send, {}, 1, 1.0)
        assert len(pending) == 0
        assert pending.stats == RequestStats()

    async def test_repr(self) -> None:
        """The repr counts, and shows no frame."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, 1)
        assert repr(pending) == "<PendingRequests 1 pending, 1 sent>"
        pending.resolve(1, None)
        await task


class TestDeadlines:
    async def test_timeout_then_late_reply(self) -> None:
        """No reply in time: TimeoutError; the reply that comes later is late."""
        pending, wire = PendingRequests(), Wire()
        with pytest.raises(TimeoutError, match="no reply to request 1 within"):
            await pending.request(wire.send, {"id": 1}, 1, 20 * MS)
        assert pending.resolve(1, {"id": 1}) is False
        assert pending.stats == RequestStats(sent=1, timed_out=1, late=1)

    async def test_one_timer_each(self) -> None:
        """A request answered in time leaves no timer running (its handle is cancelled)."""
        loop = asyncio.get_running_loop()
        pending, wire = PendingRequests(loop=loop), Wire()
        task = await started(pending, wire, 1, timeout=30 * MS)
        _future, timer = pending._table[1]
        pending.resolve(1, "r")
        assert timer.cancelled()
        assert await task == "r"


class TestCancelledCallers:
    async def test_cancelled_caller_is_forgotten(self) -> None:
        """A cancelled caller leaves nothing pending; its reply, later, is late."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(pending) == 0
        assert pending.resolve(1, None) is False
        assert pending.stats.cancelled == 1
        assert pending.stats.late == 1

    async def test_reply_racing_a_cancellation(self) -> None:
        """A reply arriving after cancel() but before the caller's cleanup is dropped."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, 1)
        task.cancel()  # the future is cancelled now; the task has not run yet
        assert pending.resolve(1, None) is False
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pending.stats.cancelled == 1

    async def test_timeout_racing_a_cancellation(self) -> None:
        """The deadline firing after cancel() counts a cancellation, not a timeout."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, 1)
        future, _timer = pending._table[1]
        task.cancel()
        pending._expire(1, future, 1.0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pending.stats.cancelled == 1
        assert pending.stats.timed_out == 0

    async def test_fail_all_racing_a_cancellation(self) -> None:
        """fail_all skips a caller already cancelled."""
        pending, wire = PendingRequests(), Wire()
        task = await started(pending, wire, 1)
        task.cancel()
        assert pending.fail_all(ConnectionLost()) == 0
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pending.stats.cancelled == 1


class TestFailAll:
    async def test_every_caller_fails_at_once(self) -> None:
        """fail_all raises a copy of the exception in each caller, keeping its cause."""
        pending, wire = PendingRequests(), Wire()
        tasks = [await started(pending, wire, k) for k in range(5)]
        cause = OSError("reset")
        lost = ConnectionLost("connection reset by peer")
        lost.__cause__ = cause
        assert pending.fail_all(lost) == 5
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, ConnectionLost) for r in results)
        assert len({id(r) for r in results}) == 5
        assert all(r.__cause__ is cause for r in results)
        assert str(results[0]) == "connection reset by peer"
        assert pending.stats == RequestStats(sent=5, failed=5)
        assert pending.fail_all(lost) == 0


class TestExceptions:
    def test_tree(self) -> None:
        """The session errors belong to the wsevents tree; ConnectionLost is a ConnectionError."""
        assert issubclass(RequestError, WSEventsError)
        assert issubclass(AuthenticationError, WSEventsError)
        assert issubclass(ConnectionLost, WSEventsError)
        assert issubclass(ConnectionLost, ConnectionError)

    def test_request_error_without_code(self) -> None:
        """No code: the message alone."""
        assert str(RequestError(None, "bad")) == "error reply: bad"

    @pytest.mark.parametrize(
        "exc",
        [
            RequestError(10003, "invalid key", {"op": "auth"}),
            AuthenticationError("Bybit rejected the login: invalid key", 10003),
            ConnectionLost("gone"),
        ],
    )
    def test_copy_and_pickle(self, exc: Exception) -> None:
        """fail_all copies exceptions; they also survive pickling (sync facade, processes)."""
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc)
        assert str(back) == str(exc)
        assert getattr(back, "code", None) == getattr(exc, "code", None)
