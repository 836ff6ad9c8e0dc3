"""wsevents.sync.Connection against a real FakeServer running on its own loop thread:
the dispatch thread, ordering, sends from many threads, keepalive under a slow
handler, closing from a handler and from another thread, fatal errors."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import wsevents
import wsevents.sync
from tests.conftest import MS
from wsevents import State
from wsevents.testing import FakeServer


_T = TypeVar("_T")


class ServerThread:
    """A FakeServer on its own event-loop thread, driven from blocking tests."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-server-loop", daemon=True
        )
        self._thread.start()
        self.server: FakeServer = self.run(self._make(options))

    @staticmethod
    async def _make(options: dict[str, Any]) -> FakeServer:
        server = FakeServer(**options)
        await server.start()
        return server

    @property
    def url(self) -> str:
        """The server's URL."""
        return self.server.url

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float = 5.0) -> _T:
        """Run ``coro`` on the server's loop and wait for its result (bounded)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def publish_many(self, channel: str, items: list[dict[str, Any]]) -> None:
        """Publish ``items`` on ``channel``, in order, in one round trip."""

        async def publish() -> None:
            for item in items:
                await self.server.publish(channel, item)

        self.run(publish())

    def subscribed_client(self, n: int, *channels: str) -> None:
        """Wait until connection ``n`` subscribed to ``channels``."""

        async def wait() -> None:
            client = await self.server.wait_for_client(n)
            await client.wait_subscribed(*channels)

        self.run(wait())

    def close(self) -> None:
        """Stop the server and its loop thread."""
        self.run(self.server.stop(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def wsevents_threads() -> list[threading.Thread]:
    """The threads of wsevents still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("wsevents")]


Make = Callable[..., wsevents.sync.Connection]


@pytest.fixture
def served() -> Iterator[ServerThread]:
    """A FakeServer on a loop thread of its own."""
    server = ServerThread()
    yield server
    server.close()


@pytest.fixture
def make_sync(served: ServerThread) -> Iterator[Make]:
    """Build sync connections to ``served`` with test-friendly defaults; close them all
    afterwards and check that no wsevents thread is left."""
    made: list[wsevents.sync.Connection] = []

    def make(**options: Any) -> wsevents.sync.Connection:
        options.setdefault("backoff", wsevents.FixedDelay(delay=20 * MS))
        options.setdefault("check_interval", 20 * MS)
        options.setdefault("close_timeout", 1.0)
        ws = wsevents.sync.Connection(served.url, **options)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.close(timeout=5)
    assert wsevents_threads() == []


def test_handlers_run_in_order_on_one_dispatch_thread(
    served: ServerThread, make_sync: Make
) -> None:
    """Every handler runs on one dispatch thread (not the loop thread), in delivery order."""
    loop_threads: set[threading.Thread] = set()

    def headers() -> dict[str, str]:  # called on the loop thread before each connect
        loop_threads.add(threading.current_thread())
        return {}

    ws = make_sync(subscriptions=["trades"], headers=headers)
    seen: list[tuple[str, int]] = []
    threads: set[threading.Thread] = set()
    done = threading.Event()

    @ws.on("connect")
    def on_connect(event: wsevents.Connected) -> None:
        seen.append(("connect", event.attempt))
        threads.add(threading.current_thread())

    @ws.on("message")
    def on_any(msg: dict[str, Any]) -> None:
        seen.append(("message", msg["n"]))
        threads.add(threading.current_thread())

    @ws.on("message:trades")
    def on_trade(msg: dict[str, Any]) -> None:
        seen.append(("trade", msg["n"]))
        threads.add(threading.current_thread())
        if msg["n"] == 199:
            done.set()

    ws.start()
    served.subscribed_client(1, "trades")
    served.publish_many("trades", [{"n": n} for n in range(200)])
    assert done.wait(5)
    assert seen == [("connect", 1)] + [
        (kind, n) for n in range(200) for kind in ("message", "trade")
    ]
    assert len(threads) == 1
    (dispatch,) = threads
    (loop,) = loop_threads
    assert dispatch.name == "wsevents-dispatch"
    assert loop.name == "wsevents-loop"
    assert dispatch is not loop
    assert dispatch is not threading.current_thread()


def test_send_from_many_threads_at_once(served: ServerThread, make_sync: Make) -> None:
    """send() from 8 threads at once: all 200 frames arrive, each thread's in its order."""
    ws = make_sync()
    ws.start()
    ws.wait_connected()
    barrier = threading.Barrier(8)
    failures: queue.Queue[BaseException] = queue.Queue()

    def sender(t: int) -> None:
        try:
            barrier.wait(5)
            for k in range(25):
                ws.send({"t": t, "k": k})
        except Exception as exc:  # noqa: BLE001 - reported to the test thread
            failures.put(exc)

    senders = [threading.Thread(target=sender, args=(t,)) for t in range(8)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(10)
    assert failures.empty(), failures.get_nowait()
    received = served.run(served.server.wait_received(count=200))
    assert len(received) == 200
    for t in range(8):
        assert [m["k"] for m in received if m["t"] == t] == list(range(25))
    assert ws.stats.messages_sent == 200


def test_slow_handler_does_not_break_keepalive(served: ServerThread, make_sync: Make) -> None:
    """A handler blocking 3 s with ping_interval=0.5/ping_timeout=0.5 causes no disconnect."""
    ws = make_sync(subscriptions=["trades"], ping_interval=0.5, ping_timeout=0.5)
    delivered: list[int] = []
    disconnects: list[wsevents.Disconnected] = []
    done = threading.Event()
    ws.on("disconnect", disconnects.append)

    @ws.on("message:trades")
    def slow(msg: dict[str, Any]) -> None:
        if msg["n"] == 0:
            time.sleep(3.0)  # the slow user code under test, not synchronisation
        delivered.append(msg["n"])
        if len(delivered) == 5:
            done.set()

    ws.start()
    served.subscribed_client(1, "trades")
    served.publish_many("trades", [{"n": n} for n in range(5)])
    assert done.wait(10)
    assert delivered == [0, 1, 2, 3, 4]
    assert disconnects == []
    assert ws.state is State.CONNECTED
    assert served.server.connections == 1


def test_close_from_a_handler_is_bounded_and_leaves_no_thread(
    served: ServerThread, make_sync: Make
) -> None:
    """close() inside a handler returns promptly; run_forever() then returns, no thread left."""
    before = set(threading.enumerate())
    ws = make_sync(subscriptions=["trades"])
    took: list[float] = []
    after_close: list[str] = []

    @ws.on("message:trades")
    def stop(msg: dict[str, Any]) -> None:
        started = time.monotonic()
        ws.close(timeout=5)
        took.append(time.monotonic() - started)

    ws.on("disconnect", lambda event: after_close.append("disconnect"))
    ws.on("closed", lambda event: after_close.append("closed"))
    ws.start()
    served.subscribed_client(1, "trades")
    served.publish_many("trades", [{"n": 1}])
    ws.run_forever(timeout=5)
    assert len(took) == 1
    assert took[0] < 2.0
    assert after_close == ["disconnect", "closed"]
    assert ws.state is State.CLOSED
    assert set(threading.enumerate()) == before


def test_close_from_another_thread_ends_run_forever(
    served: ServerThread, make_sync: Make
) -> None:
    """close() from another thread returns promptly and run_forever() returns, no thread left."""
    before = set(threading.enumerate())
    ws = make_sync()
    connected = threading.Event()
    took: queue.Queue[float] = queue.Queue()
    ws.on("connect", lambda event: connected.set())

    def closer() -> None:
        if connected.wait(5):
            started = time.monotonic()
            ws.close(timeout=5)
            took.put(time.monotonic() - started)

    thread = threading.Thread(target=closer, name="closer")
    thread.start()
    ws.run_forever(timeout=5)
    thread.join(5)
    assert took.get(timeout=1) < 2.0
    assert ws.state is State.CLOSED
    assert set(threading.enumerate()) == before
    ws.close()  # idempotent


def test_close_while_the_handoff_is_full_is_bounded(
    served: ServerThread, make_sync: Make
) -> None:
    """close() while a handler is stuck behind a full hand-off queue returns in bounded time."""
    before = set(threading.enumerate())
    ws = make_sync(subscriptions=["trades"], queue_size=50)
    release = threading.Event()
    first = threading.Event()
    names: list[str] = []

    @ws.on("message:trades")
    def stuck(msg: dict[str, Any]) -> None:
        names.append("trade")
        if not first.is_set():  # the first delivered (drop_oldest may drop n=0 itself)
            first.set()
            release.wait(5)

    ws.on("closed", lambda event: names.append("closed"))
    ws.start()
    served.subscribed_client(1, "trades")
    served.publish_many("trades", [{"n": n} for n in range(400)])
    assert first.wait(5)
    closing = threading.Thread(target=ws.close, kwargs={"timeout": 5}, name="closer")
    started = time.monotonic()
    closing.start()
    release.set()
    closing.join(6)
    ws.run_forever(timeout=5)
    assert time.monotonic() - started < 4.0
    assert names[-1] == "closed"
    assert set(threading.enumerate()) == before


def test_fatal_handshake_status_is_reraised_by_run_forever(
    served: ServerThread, make_sync: Make
) -> None:
    """HTTP 401 is fatal: run_forever() re-raises HandshakeRejected after one handshake."""
    before = set(threading.enumerate())
    served.server.refuse(401)
    ws = make_sync()
    closed: list[wsevents.Closed] = []
    ws.on("closed", closed.append)
    with pytest.raises(wsevents.HandshakeRejected) as raised:
        ws.run_forever(timeout=5)
    assert raised.value.status == 401
    assert served.server.handshakes == 1
    assert len(closed) == 1
    assert closed[0].error is raised.value
    assert set(threading.enumerate()) == before


def test_context_manager_connects_and_closes(served: ServerThread, make_sync: Make) -> None:
    """`with` starts and waits until connected; leaving it closes and ends the threads."""
    before = set(threading.enumerate())
    with make_sync() as ws:
        assert ws.connected
        ws.send("hello")
        assert served.run(served.server.wait_received(count=1)) == ["hello"]
    assert ws.state is State.CLOSED
    assert set(threading.enumerate()) == before


def test_context_manager_raises_the_fatal_error(served: ServerThread, make_sync: Make) -> None:
    """`with` on a server answering 403 raises HandshakeRejected and leaves no thread."""
    before = set(threading.enumerate())
    served.server.refuse(403)
    with pytest.raises(wsevents.HandshakeRejected), make_sync():
        pass
    assert set(threading.enumerate()) == before


def test_handler_error_goes_to_error_handlers_on_the_dispatch_thread(
    served: ServerThread, make_sync: Make
) -> None:
    """A raising handler reaches the error handlers (once() too) on the dispatch thread."""
    ws = make_sync(subscriptions=["trades"])
    errors: list[tuple[Exception, str]] = []
    once_errors: list[Exception] = []
    delivered: list[int] = []
    done = threading.Event()

    @ws.on("message:trades")
    def boom(msg: dict[str, Any]) -> None:
        delivered.append(msg["n"])
        if msg["n"] < 2:
            raise ValueError(f"bad trade {msg['n']}")
        done.set()

    ws.on("error", lambda exc: errors.append((exc, threading.current_thread().name)))
    ws.once("error", once_errors.append)
    ws.start()
    served.subscribed_client(1, "trades")
    served.publish_many("trades", [{"n": n} for n in range(3)])
    assert done.wait(5)
    assert delivered == [0, 1, 2]
    assert [(str(e), name) for e, name in errors] == [
        ("bad trade 0", "wsevents-dispatch"),
        ("bad trade 1", "wsevents-dispatch"),
    ]
    assert [str(e) for e in once_errors] == ["bad trade 0"]
    assert ws.state is State.CONNECTED


def test_error_handler_that_raises_is_logged(
    served: ServerThread, make_sync: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """An error handler that raises is logged; a handler error without handlers is logged."""
    ws = make_sync(subscriptions=["trades"])
    done = threading.Event()

    @ws.on("message:trades")
    def boom(msg: dict[str, Any]) -> None:
        if msg["n"] == 1:
            done.set()
            return
        raise ValueError("no error handler yet")

    ws.start()
    served.subscribed_client(1, "trades")
    served.publish_many("trades", [{"n": 0}, {"n": 1}])
    assert done.wait(5)
    assert "unhandled error in a 'message:trades' handler" in caplog.text

    def bad(exc: Exception) -> None:
        raise RuntimeError("error handler broke")

    ws.on("error", bad)
    done.clear()
    served.publish_many("trades", [{"n": 0}, {"n": 1}])
    assert done.wait(5)
    assert "an 'error' handler raised" in caplog.text


def test_registry_follows_pyee(make_sync: Make) -> None:
    """on/once/remove_listener/listeners/event_names behave as pyee's, with plain functions."""
    ws = make_sync()

    def first(payload: Any) -> None: ...

    def second(payload: Any) -> None: ...

    assert ws.on("message", first) is first
    ws.on("message", first)  # registering twice keeps one entry, as in pyee
    decorated = ws.on("message")(second)
    assert decorated is second
    ws.once("connect", first)
    assert ws.listeners("message") == [first, second]
    assert ws.listeners("connect") == [first]
    assert ws.event_names() == {"message", "connect"}  # internal listeners are hidden
    ws.remove_listener("message", first)
    assert ws.listeners("message") == [second]
    ws.remove_all_listeners()
    assert ws.event_names() == set()


def test_async_handlers_and_bad_options_are_refused(served: ServerThread) -> None:
    """A coroutine handler and a bad option raise ConfigError; a failed build leaves no thread."""
    before = set(threading.enumerate())
    with pytest.raises(wsevents.ConfigError, match="queue_size"):
        wsevents.sync.Connection(served.url, queue_size=0)
    assert set(threading.enumerate()) == before
    ws = wsevents.sync.Connection(served.url)
    try:

        async def handler(payload: Any) -> None: ...

        with pytest.raises(wsevents.ConfigError, match="plain function"):
            ws.on("message", handler)
    finally:
        ws.close()
    assert set(threading.enumerate()) == before


def test_calls_time_out_and_fail_cleanly_when_not_connected(
    served: ServerThread, make_sync: Make
) -> None:
    """wait_connected() times out while the server answers 503; send() raises NotConnected."""
    served.server.refuse(503)
    ws = make_sync()
    with pytest.raises(wsevents.WSEventsError, match="start"):
        ws.wait_connected(timeout=1)
    ws.start()
    with pytest.raises(TimeoutError):
        ws.wait_connected(timeout=0.2)
    with pytest.raises(wsevents.NotConnected):
        ws.send("too early")
    ws.close(timeout=5)
    with pytest.raises(wsevents.NotConnected):
        ws.send("too late")
    with pytest.raises(wsevents.WSEventsError):
        ws.start()


def test_subscribe_and_proactive_control_from_another_thread(
    served: ServerThread, make_sync: Make
) -> None:
    """subscribe(), request_disconnect() and resume() work from a plain thread."""
    ws = make_sync(subscriptions=["trades"])
    reasons: list[wsevents.DisconnectReason] = []
    ws.on("disconnect", lambda event: reasons.append(event.reason))
    ws.start()
    ws.wait_connected()
    ws.subscribe("book")
    served.subscribed_client(1, "trades", "book")
    assert ws.subscriptions == ("trades", "book")
    ws.request_disconnect()
    assert ws.state is State.PAUSED
    ws.resume()
    ws.wait_connected()
    served.subscribed_client(2, "trades", "book")
    assert served.server.connections == 2
    assert ws.stats.proactive_disconnects == 1


def test_request_from_a_plain_thread(served: ServerThread, make_sync: Make) -> None:
    """The blocking facade's request(): the reply matched by id, an error reply raised."""
    from wsevents.binance import BinanceApiProtocol

    def answer(client: Any, frame: Any) -> Any:
        if frame.get("method") == "bad":
            return client.send({"id": frame["id"], "status": 400, "error": {"code": -1}})
        return client.send({"id": frame["id"], "status": 200, "result": {"ok": frame["method"]}})

    served.server.on_message(answer)
    ws = make_sync(protocol=BinanceApiProtocol())
    ws.start()
    ws.wait_connected()
    assert ws.request({"method": "ping"}, timeout=5)["result"] == {"ok": "ping"}
    with pytest.raises(wsevents.RequestError):
        ws.request({"method": "bad"}, timeout=5)
