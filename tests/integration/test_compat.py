"""wsevents.compat.WebSocketApp against a real FakeServer on its own loop thread:
websocket-client's callback signatures, raw messages, drops and reconnects,
fatal handshake statuses, refused arguments, and the legacy example."""

from __future__ import annotations

import importlib.util
import json
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import wsevents
from tests.conftest import MS
from tests.integration.test_sync import ServerThread, wsevents_threads
from wsevents.compat import (
    ABNF,
    UnsupportedOption,
    WebSocketApp,
    WebSocketConnectionClosedException,
)
from wsevents.compat.websocket_client import _ssl_context


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "legacy_callbacks.py"
SUBSCRIBE = json.dumps({"op": "subscribe", "channels": ["trades"]})


@pytest.fixture
def served() -> Iterator[ServerThread]:
    """A FakeServer on a loop thread of its own; no wsevents thread may outlive a test."""
    server = ServerThread()
    yield server
    server.close()
    assert wsevents_threads() == []


class Calls:
    """Records websocket-client callbacks (name, args, thread) and waits for them."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []
        self.threads: set[str] = set()
        self._changed = threading.Condition()

    def record(self, *item: Any) -> None:
        """Record one callback."""
        with self._changed:
            self.items.append(item)
            self.threads.add(threading.current_thread().name)
            self._changed.notify_all()

    def names(self) -> list[str]:
        """The callback names, in order."""
        return [item[0] for item in self.items]

    def wait(self, predicate: Callable[[Calls], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate(self)`` holds (bounded)."""
        with self._changed:
            assert self._changed.wait_for(lambda: predicate(self), timeout), self.items

    def app(self, url: str, **callbacks: Any) -> WebSocketApp:
        """A WebSocketApp whose open/message/error/close callbacks are recorded."""
        callbacks.setdefault("on_open", lambda ws: self.record("open"))
        callbacks.setdefault("on_message", lambda ws, msg: self.record("message", msg))
        callbacks.setdefault("on_error", lambda ws, exc: self.record("error", exc))
        callbacks.setdefault("on_close", lambda ws, code, msg: self.record("close", code, msg))
        return WebSocketApp(url, **callbacks)


class Runner:
    """Runs ``app.run_forever(**kwargs)`` on a thread and hands its result back."""

    def __init__(self, app: WebSocketApp, **kwargs: Any) -> None:
        self._result: queue.Queue[tuple[str, Any]] = queue.Queue()

        def run() -> None:
            try:
                self._result.put(("returned", app.run_forever(**kwargs)))
            except Exception as exc:  # noqa: BLE001 - reported to the test thread
                self._result.put(("raised", exc))

        self.thread = threading.Thread(target=run, name="app-runner")
        self.thread.start()

    def result(self, timeout: float = 5.0) -> Any:
        """What run_forever returned (re-raising what it raised)."""
        how, value = self._result.get(timeout=timeout)
        self.thread.join(timeout)
        if how == "raised":
            raise value
        return value


def load_example() -> ModuleType:
    """Import examples/legacy_callbacks.py as a module."""
    spec = importlib.util.spec_from_file_location("legacy_callbacks", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_callbacks_get_websocket_client_signatures_and_raw_frames(served: ServerThread) -> None:
    """on_open(ws), on_data/on_message with the raw str or bytes, on_close(ws, 1000, '')."""
    calls = Calls()
    apps: list[WebSocketApp] = []

    def on_open(ws: WebSocketApp) -> None:
        apps.append(ws)
        calls.record("open")
        ws.send(SUBSCRIBE)

    def on_message(ws: WebSocketApp, message: str | bytes) -> None:
        calls.record("message", message)
        if isinstance(message, bytes):
            ws.close()

    app = calls.app(
        served.url,
        on_open=on_open,
        on_message=on_message,
        on_data=lambda ws, data, opcode, fin: calls.record("data", data, opcode, fin),
    )
    runner = Runner(app)
    served.subscribed_client(1, "trades")
    served.run(served.server.publish("trades", {"price": 1}))
    served.run(served.server.send_raw("not json at all"))
    served.run(served.server.send_raw(b"\x00\x01"))
    assert runner.result() is False
    text = '{"channel":"trades","price":1}'
    assert calls.items == [
        ("open",),
        ("data", text, ABNF.OPCODE_TEXT, True),
        ("message", text),
        ("data", "not json at all", ABNF.OPCODE_TEXT, True),
        ("message", "not json at all"),
        ("data", b"\x00\x01", ABNF.OPCODE_BINARY, True),
        ("message", b"\x00\x01"),
        ("close", 1000, ""),
    ]
    assert type(calls.items[-1][1]) is int
    assert apps == [app]
    assert calls.threads == {"wsevents-dispatch"}
    assert app.keep_running is False
    assert app.sock is None


def test_legacy_example_runs_unchanged_and_survives_a_server_restart(
    served: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """The websocket-client example reconnects after a restart, re-subscribes, then stops."""
    example = load_example()
    finished = threading.Event()

    def run() -> None:
        example.main(served.url, limit=6, seconds=30, reconnect_delay=20 * MS)
        finished.set()

    thread = threading.Thread(target=run, name="example")
    thread.start()
    served.subscribed_client(1, "trades")
    served.publish_many("trades", [{"n": n} for n in range(3)])
    served.run(served.server.stop())
    served.run(served.server.start())
    served.subscribed_client(2, "trades")
    served.publish_many("trades", [{"n": n} for n in range(3, 6)])
    assert finished.wait(10)
    thread.join(5)
    out = capsys.readouterr().out
    assert out.count("opened: subscribing") == 2
    assert "closed: 1001" in out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("trade")] == [
        f"trade #{n}" for n in range(1, 7)
    ]
    assert served.server.connections == 2


def test_example_main_finishes_by_itself(served: ServerThread) -> None:
    """main(url) ends by itself against a silent server (its timer closes the app)."""
    example = load_example()
    started = time.monotonic()
    example.main(served.url, seconds=0.3)
    assert time.monotonic() - started < 3.0
    assert served.server.connections == 1


def test_http_401_is_fatal_on_error_then_on_close_once(served: ServerThread) -> None:
    """401 is not retried: on_error then on_close once, run_forever returns True, 1 handshake."""
    served.server.refuse(401)
    calls = Calls()
    app = calls.app(served.url)
    assert app.run_forever(reconnect=20 * MS) is True
    assert calls.names() == ["error", "close"]
    error = calls.items[0][1]
    assert isinstance(error, wsevents.HandshakeRejected)
    assert error.status == 401
    assert calls.items[1] == ("close", None, None)
    assert served.server.handshakes == 1


def test_drop_calls_on_close_and_the_reconnect_calls_on_open(served: ServerThread) -> None:
    """With reconnect=, a drop calls on_close(None, None) and the reconnect on_open again."""
    calls = Calls()
    app = calls.app(served.url)
    runner = Runner(app, reconnect=20 * MS)
    calls.wait(lambda c: c.names() == ["open"])
    served.run(served.server.drop())
    calls.wait(lambda c: c.names() == ["open", "close", "open"])
    assert calls.items[1] == ("close", None, None)
    app.close()
    assert runner.result() is True  # an error (the drop) occurred
    assert calls.names() == ["open", "close", "open", "close"]
    assert calls.items[-1] == ("close", 1000, "")
    assert served.server.connections == 2


def test_on_reconnect_replaces_on_open_on_reconnects(served: ServerThread) -> None:
    """When on_reconnect is given, reconnects call it instead of on_open."""
    calls = Calls()
    app = calls.app(served.url, on_reconnect=lambda ws: calls.record("reconnect"))
    runner = Runner(app, reconnect=20 * MS)
    calls.wait(lambda c: c.names() == ["open"])
    served.run(served.server.close_clients(1001))
    calls.wait(lambda c: c.names() == ["open", "close", "reconnect"])
    assert calls.items[1] == ("close", 1001, "")
    app.close()
    assert runner.result() is False  # a server's close frame is no error


def test_without_reconnect_a_drop_ends_run_forever(served: ServerThread) -> None:
    """Without reconnect, the first drop calls on_close and run_forever returns True."""
    calls = Calls()
    app = calls.app(served.url)
    runner = Runner(app)
    calls.wait(lambda c: c.names() == ["open"])
    served.run(served.server.drop())
    assert runner.result() is True
    assert calls.names() == ["open", "close"]
    assert served.server.connections == 1
    assert served.server.handshakes == 1


def test_slow_callback_does_not_cause_a_ping_timeout(served: ServerThread) -> None:
    """An on_message blocking 1.5 s with ping_interval=0.3/ping_timeout=0.3 keeps the link."""
    calls = Calls()

    def on_message(ws: WebSocketApp, message: str) -> None:
        if json.loads(message)["n"] == 0:
            time.sleep(1.5)  # the slow user code under test, not synchronisation
        calls.record("message", message)

    app = calls.app(served.url, on_message=on_message)
    runner = Runner(app, ping_interval=0.3, ping_timeout=0.3, reconnect=20 * MS)
    calls.wait(lambda c: c.names() == ["open"])
    served.publish_many("trades", [{"n": n} for n in range(3)])
    calls.wait(lambda c: c.names().count("message") == 3, timeout=10)
    app.close()
    assert runner.result() is False
    assert calls.names() == ["open", "message", "message", "message", "close"]
    assert served.server.connections == 1


def test_callback_exceptions_go_to_on_error(served: ServerThread) -> None:
    """An exception in on_message reaches on_error(ws, exc); delivery continues."""
    calls = Calls()

    def on_message(ws: WebSocketApp, message: str) -> None:
        if json.loads(message)["n"] == 0:
            raise ValueError("bad message")
        ws.close()

    app = calls.app(served.url, on_message=on_message)
    runner = Runner(app)
    calls.wait(lambda c: c.names() == ["open"])
    served.publish_many("trades", [{"n": 0}, {"n": 1}])
    assert runner.result() is False
    assert calls.names() == ["open", "error", "close"]
    assert str(calls.items[1][1]) == "bad message"


def test_send_variants_and_closed_connection(served: ServerThread) -> None:
    """send/send_text/send_bytes/sock.send reach the server; send() when closed raises."""
    calls = Calls()
    app = calls.app(served.url)
    with pytest.raises(WebSocketConnectionClosedException):
        app.send("nobody there")
    runner = Runner(app)
    calls.wait(lambda c: c.names() == ["open"])
    sock = app.sock
    assert sock is not None
    assert sock.connected
    app.send("text")
    app.send(b"\xe2\x82\xac", ABNF.OPCODE_TEXT)
    app.send("bin", ABNF.OPCODE_BINARY)
    app.send_text("more text")
    app.send_bytes(bytearray(b"\x01"))
    sock.send("via sock")
    with pytest.raises(UnsupportedOption, match="opcode"):
        app.send("ping", ABNF.OPCODE_PING)
    received = served.run(served.server.wait_received(count=6))
    assert received == ["text", "€", b"bin", "more text", b"\x01", "via sock"]
    app.close()
    assert runner.result() is False
    with pytest.raises(wsevents.NotConnected):  # also a NotConnected
        app.send("after close")


def test_close_from_another_thread_leaves_no_thread(served: ServerThread) -> None:
    """close() from another thread ends run_forever; no wsevents thread is left."""
    before = set(threading.enumerate())
    calls = Calls()
    app = calls.app(served.url)
    opened = threading.Event()
    app.on_open = lambda ws: opened.set()  # set after construction, as legacy code does

    def close_when_open() -> None:
        if opened.wait(5):
            app.close()

    closer = threading.Thread(target=close_when_open, name="closer")
    closer.start()
    assert app.run_forever() is False
    closer.join(5)
    assert calls.names() == ["close"]
    assert set(threading.enumerate()) == before


def test_headers_cookie_and_origin_reach_the_handshake(served: ServerThread) -> None:
    """header (list or callable), cookie and origin become handshake headers."""
    for header in (["X-Api-Key: abc", "X-Other:  two "], lambda: {"X-Api-Key": "abc"}):
        calls = Calls()
        app = calls.app(served.url, header=header, cookie="session=1")
        app.on_open = lambda ws: ws.close()
        assert app.run_forever(origin="https://example.com") is False
        headers = served.server.requests[-1].headers
        assert headers["X-Api-Key"] == "abc"
        assert headers["Cookie"] == "session=1"
        assert headers["Origin"] == "https://example.com"
    assert served.server.requests[0].headers["X-Other"] == "two"
    with pytest.raises(wsevents.ConfigError, match="header"):
        WebSocketApp(served.url, header=["no colon"]).run_forever()


@pytest.mark.parametrize(
    ("where", "kwargs", "name"),
    [
        ("init", {"get_mask_key": lambda n: b"0000"}, "get_mask_key"),
        ("init", {"socket": object()}, "socket"),
        ("init", {"on_pong": lambda ws, data: None}, "on_pong"),
        ("init", {"on_ping": lambda ws, data: None}, "on_ping"),
        ("init", {"on_cont_message": lambda ws, data, fin: None}, "on_cont_message"),
        ("run", {"dispatcher": object()}, "dispatcher"),
        ("run", {"http_proxy_timeout": 5}, "http_proxy_timeout"),
        ("run", {"sockopt": ((6, 1, 1),)}, "sockopt"),
        ("run", {"ping_payload": "hi"}, "ping_payload"),
        ("run", {"host": "other"}, "host"),
        ("run", {"sslopt": {"ssl_version": 5}}, "ssl_version"),
    ],
)
def test_unsupported_arguments_are_refused_by_name(
    served: ServerThread, where: str, kwargs: dict[str, Any], name: str
) -> None:
    """What wsevents cannot honour raises UnsupportedOption naming the argument."""
    before = set(threading.enumerate())

    def attempt() -> None:
        if where == "init":
            WebSocketApp(served.url, **kwargs)
        else:
            WebSocketApp(served.url.replace("ws://", "wss://")).run_forever(**kwargs)

    with pytest.raises(UnsupportedOption, match=name) as raised:
        attempt()
    assert isinstance(raised.value, NotImplementedError)
    assert isinstance(raised.value, wsevents.ConfigError)
    assert set(threading.enumerate()) == before


def test_run_forever_twice_at_once_is_refused(served: ServerThread) -> None:
    """A second run_forever while one runs raises WebSocketException."""
    calls = Calls()
    app = calls.app(served.url)
    runner = Runner(app)
    calls.wait(lambda c: c.names() == ["open"])
    with pytest.raises(wsevents.compat.WebSocketException, match="already opened"):
        app.run_forever()
    app.close()
    assert runner.result() is False


def test_sslopt_maps_to_an_ssl_context() -> None:
    """sslopt cert_reqs/check_hostname/context become an SSLContext; unknown keys are refused."""
    assert _ssl_context(None) is None
    relaxed = _ssl_context({"cert_reqs": ssl.CERT_NONE})
    assert relaxed is not None
    assert relaxed.verify_mode is ssl.CERT_NONE
    assert relaxed.check_hostname is False
    strict = _ssl_context({"cert_reqs": ssl.CERT_REQUIRED})
    assert strict is not None
    assert strict.verify_mode is ssl.CERT_REQUIRED
    assert strict.check_hostname is True
    mine = ssl.create_default_context()
    assert _ssl_context({"context": mine}) is mine
    with pytest.raises(UnsupportedOption, match="server_hostname"):
        _ssl_context({"server_hostname": "x"})
