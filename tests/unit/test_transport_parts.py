"""The transports' failure boundary on its own: what opening a connection raised,
mapped to wsevents' errors; and the picows transport's socket helpers (loopback)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest

from tests.conftest import until
from wsevents import _picows
from wsevents._options import TransportOptions
from wsevents._transport import Transport, connect_error, handshake_error
from wsevents.exceptions import ConfigError, ConnectError


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (ssl.SSLError("bad cert"), "tls", "TLS failure"),
        (TimeoutError("slow"), "timeout", "timed out"),
        (ConnectionRefusedError("refused"), "network", "cannot connect: refused"),
        (ConfigError("url", "x", "bad"), "invalid", "cannot connect"),
        (ValueError("odd"), "invalid", "ValueError('odd')"),
    ],
)
def test_connect_error_maps_what_opening_raised(exc: BaseException, kind: str, text: str) -> None:
    error = connect_error(exc)
    assert type(error) is ConnectError
    assert error.kind == kind
    assert text in str(error)
    assert error.__cause__ is exc


def test_connect_error_keeps_a_connect_error() -> None:
    original = ConnectError("already ours", kind="timeout")
    assert connect_error(original) is original


@pytest.mark.parametrize(("invalid", "kind", "prefix"), [
    (True, "invalid", "handshake failed: "),
    (False, "network", "invalid handshake: "),
])
def test_handshake_error(invalid: bool, kind: str, prefix: str) -> None:
    cause = RuntimeError("bad upgrade")
    error = handshake_error("no Upgrade header", invalid=invalid, cause=cause)
    assert error.kind == kind
    assert str(error) == prefix + "no Upgrade header"
    assert error.__cause__ is cause


async def test_a_custom_transport_must_implement_open() -> None:
    class Mine(Transport):
        name = "mine"

    mine = Mine()
    assert repr(mine) == "<wsevents transport mine>"
    options = TransportOptions(
        open_timeout=1.0, ping_interval=None, ping_timeout=None, close_timeout=1.0,
        max_size=None, ssl=None, user_agent=None,
    )
    with pytest.raises(NotImplementedError):
        await mine.open("ws://127.0.0.1:1/", options, None)


# -- picows helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("ws://127.0.0.1:9/", {}, None),
        ("ws://127.0.0.1:9/", {"http_proxy": "http://127.0.0.1:3128"}, "http://127.0.0.1:3128"),
        ("wss://127.0.0.1:9/", {"https_proxy": "http://127.0.0.1:3129"}, "http://127.0.0.1:3129"),
        ("ws://127.0.0.1:9/", {"http_proxy": "http://127.0.0.1:3128", "no_proxy": "127.0.0.1"},
         None),
    ],
)
def test_environment_proxy(
    monkeypatch: pytest.MonkeyPatch, url: str, env: dict[str, str], expected: str | None
) -> None:
    """The proxy the environment names for a URL, as websockets' ``proxy=True`` finds it."""
    for name in ("http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY", "NO_PROXY",
                 "all_proxy", "ALL_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _picows._environment_proxy(url) == expected


async def test_connect_socket_to_a_listening_port() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        sock = await asyncio.wait_for(
            _picows._connect_socket("127.0.0.1", listener.getsockname()[1]), 5
        )
        assert sock.getpeername() == listener.getsockname()
        _picows._shutdown(sock)
        sock.close()
        _picows._shutdown(sock)  # closed already: nothing to do
    finally:
        listener.close()


def _free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_connect_socket_refused() -> None:
    with pytest.raises(OSError) as raised:  # noqa: PT011 - the OS's own error
        await asyncio.wait_for(_picows._connect_socket("127.0.0.1", _free_port()), 5)
    assert "Multiple exceptions" not in str(raised.value)


async def test_connect_socket_tries_each_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several addresses, all refused: one error naming them all."""
    port = _free_port()
    infos = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
    ]
    loop = asyncio.get_running_loop()

    async def getaddrinfo(*args: object, **kwargs: object) -> list[object]:
        return list(infos)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    with pytest.raises(OSError, match="Multiple exceptions"):
        await asyncio.wait_for(_picows._connect_socket("localhost", port), 5)
    infos.clear()
    with pytest.raises(OSError, match="no address"):
        await asyncio.wait_for(_picows._connect_socket("localhost", port), 5)


async def test_connect_socket_closes_its_socket_when_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled while connecting: the socket is closed, the cancellation goes on."""
    loop = asyncio.get_running_loop()
    made: list[socket.socket] = []

    async def sock_connect(sock: socket.socket, address: object) -> None:
        made.append(sock)
        await asyncio.get_running_loop().create_future()  # a SYN never answered

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    task = asyncio.ensure_future(_picows._connect_socket("127.0.0.1", _free_port()))
    await until(lambda: bool(made))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert made[0].fileno() == -1
