"""`proxy=` against real proxy servers on loopback (pproxy, in a process of its own):
HTTP CONNECT and SOCKS5, with and without credentials, plain and TLS, a proxy that
answers 407 (fatal, like 401), one that dies mid-stream (reconnect through it once
it is back), `proxy=None` ignoring the environment, and credentials never shown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trustme

import wsevents
from tests.conftest import Recorder, until
from wsevents import CloseReason
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]
USER, PASSWORD = "trader", "pr0xy-s3cret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proxy:
    """A pproxy process listening on one loopback port; restartable on the same port."""

    def __init__(self, scheme: str, auth: bool, tmp: Path) -> None:
        self.scheme = scheme
        self.auth = auth
        self.port = free_port()
        self.log = tmp / f"pproxy-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        creds = f"{USER}:{PASSWORD}@" if self.auth else ""
        return f"{self.scheme}://{creds}127.0.0.1:{self.port}"

    @property
    def url_without_credentials(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        listen = f"{self.scheme}://127.0.0.1:{self.port}"
        if self.auth:
            listen += f"#{USER}:{PASSWORD}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pproxy", "-l", listen, "-v", "--auth", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await until(self._accepting, 10)

    def _accepting(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.1):
            return True
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def tunnels(self) -> int:
        """How many connections the proxy relayed (its verbose log: ``-> host:port``)."""
        return self.log.read_text(errors="replace").count(" -> 127.0.0.1:")


@pytest.fixture
async def proxies(tmp_path: Path) -> AsyncIterator[Callable[..., Proxy]]:
    made: list[Proxy] = []

    async def make(scheme: str = "http", *, auth: bool = False) -> Proxy:
        proxy = Proxy(scheme, auth, tmp_path)
        made.append(proxy)
        await proxy.start()
        return proxy

    yield make  # type: ignore[misc]
    for proxy in made:
        proxy.stop()


@pytest.mark.parametrize(
    ("scheme", "auth"), [("http", False), ("http", True), ("socks5", False), ("socks5", True)]
)
async def test_through_a_proxy(
    server: FakeServer,
    make_connection: Make,
    proxies: Callable[..., Proxy],
    scheme: str,
    auth: bool,
) -> None:
    """Messages flow through an HTTP CONNECT or SOCKS5 proxy, credentials or not."""
    proxy = await proxies(scheme, auth=auth)  # type: ignore[misc]
    ws = make_connection(server.url, proxy=proxy.url, subscriptions=["t"])
    rec = Recorder(ws, "message:t")
    await ws.connect()
    client = await server.wait_for_client()
    await client.wait_subscribed("t")
    await server.publish("t", {"n": 1})
    await rec.wait_count("message:t", 1)
    assert proxy.tunnels() == 1


async def test_tls_through_a_proxy(
    make_connection: Make, proxies: Callable[..., Proxy]
) -> None:
    """wss:// through an HTTP CONNECT proxy: TLS end to end, the certificate verified."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    proxy = await proxies("http", auth=True)  # type: ignore[misc]
    async with FakeServer(ssl=server_ctx) as server:
        ws = make_connection(server.url, proxy=proxy.url, ssl=client_ctx)
        rec = Recorder(ws, "message:t")
        await ws.connect()
        await server.wait_for_client()
        await server.publish("t", {"n": 1})
        await rec.wait_count("message:t", 1)
        assert proxy.tunnels() == 1


async def test_a_proxy_answering_407_is_fatal(
    server: FakeServer, make_connection: Make, proxies: Callable[..., Proxy]
) -> None:
    """Wrong or missing credentials: 407, `closed` after one attempt (like 401)."""
    proxy = await proxies("http", auth=True)  # type: ignore[misc]
    ws = make_connection(server.url, proxy=proxy.url_without_credentials)
    rec = Recorder(ws, "closed", "reconnecting")
    with pytest.raises(wsevents.HandshakeRejected) as raised:
        await ws.run()
    assert raised.value.status == 407
    assert "proxy" in str(raised.value)
    await rec.wait_count("closed", 1)
    assert rec.of("closed")[0].reason is CloseReason.REJECTED
    assert rec.of("reconnecting") == []
    assert server.handshakes == 0


async def test_a_proxy_that_dies_mid_stream_is_reconnected_through(
    server: FakeServer, make_connection: Make, proxies: Callable[..., Proxy]
) -> None:
    """The proxy is killed: a disconnect, failed attempts (the reason names the proxy),
    and once it is back on its port, the connection comes back through it."""
    proxy = await proxies("socks5", auth=True)  # type: ignore[misc]
    ws = make_connection(server.url, proxy=proxy.url)
    rec = Recorder(ws, "connect", "disconnect", "reconnecting")
    await ws.connect()
    await server.wait_for_client()
    proxy.stop()
    await rec.wait_count("reconnecting", 2)
    failure = rec.of("reconnecting")[1].error
    assert failure is not None
    assert PASSWORD not in str(failure)
    await proxy.start()
    await rec.wait_count("connect", 2, timeout=10)
    assert proxy.tunnels() == 2


async def test_proxy_none_ignores_the_environment(
    server: FakeServer, make_connection: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """proxy=None connects directly even when the environment names a (dead) proxy;
    the default follows the environment (and fails through the dead proxy)."""
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, dead)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    direct = make_connection(server.url, proxy=None)
    await direct.connect()
    default = make_connection(server.url, max_reconnect_attempts=1)
    with pytest.raises(wsevents.ConnectError):
        await default.connect()


@pytest.mark.parametrize(
    "value",
    ["ftp://127.0.0.1:21", "socks5://127.0.0.1", "http://", "not a url", 8080, ("h", 1)],
)
def test_a_bad_proxy_is_a_config_error(value: object) -> None:
    """A bad proxy names the option; a URL's credentials are never shown."""
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection("ws://127.0.0.1:1/", proxy=value)
    assert raised.value.key == "proxy"


def test_proxy_credentials_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    """Neither a ConfigError about a proxy URL nor a connection's repr shows them."""
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection("ws://127.0.0.1:1/", proxy=f"gopher://{USER}:{PASSWORD}@h:1")
    assert PASSWORD not in str(raised.value)
    ws = wsevents.Connection("ws://127.0.0.1:1/", proxy=f"http://{USER}:{PASSWORD}@h:1")
    assert PASSWORD not in repr(ws)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("wsevents").debug("%r", ws)
    assert PASSWORD not in caplog.text


def test_websocket_client_proxy_arguments_become_a_proxy_url() -> None:
    """compat: run_forever's proxy arguments map onto proxy= (no_proxy included)."""
    from wsevents.compat.websocket_client import _proxy_url

    url = "wss://stream.example.com/ws"
    assert _proxy_url(url, None, None, None, None, None) is True
    assert _proxy_url(url, "p.local", 3128, None, None, None) == "http://p.local:3128"
    socks = _proxy_url(url, "p.local", None, ("u", "p@ss"), "socks5h", None)
    assert socks == "socks5h://u:p%40ss@p.local:1080"
    assert _proxy_url(url, "p.local", 3128, None, None, ["example.com"]) is None
    with pytest.raises(wsevents.ConfigError):
        _proxy_url(url, "p.local", 3128, None, "ftp", None)
    with pytest.raises(wsevents.ConfigError):
        _proxy_url(url, None, 3128, None, None, None)


async def test_websocket_app_through_a_socks_proxy(
    server: FakeServer, proxies: Callable[..., Proxy]
) -> None:
    """A websocket-client program's proxy arguments reach the proxy."""
    from wsevents.compat import WebSocketApp

    proxy = await proxies("socks5", auth=True)  # type: ignore[misc]
    got: list[str] = []

    def on_message(app: WebSocketApp, message: str) -> None:
        got.append(message)
        app.close()

    app = WebSocketApp(server.url, on_message=on_message)
    runner = asyncio.ensure_future(
        asyncio.to_thread(
            app.run_forever,
            http_proxy_host="127.0.0.1",
            http_proxy_port=proxy.port,
            http_proxy_auth=(USER, PASSWORD),
            proxy_type="socks5",
        )
    )
    await server.wait_for_client()
    await server.publish("t", {"n": 1})
    await asyncio.wait_for(runner, 10)
    assert got
    assert proxy.tunnels() == 1


async def test_subprotocols_and_local_addr(make_connection: Make) -> None:
    """subprotocols= is offered (the server picks one); local_addr= binds the source
    address (a pool may spread shards over several)."""
    from websockets.asyncio.server import ServerConnection, serve

    seen: list[tuple[str | None, int]] = []

    async def handler(connection: ServerConnection) -> None:
        seen.append((connection.subprotocol, connection.remote_address[1]))
        await connection.wait_closed()

    source = free_port()
    async with serve(handler, "127.0.0.1", 0, subprotocols=["v2", "v1"]) as srv:
        port = srv.sockets[0].getsockname()[1]
        ws = make_connection(
            f"ws://127.0.0.1:{port}/",
            subprotocols=["v1", "v2"],
            local_addr=("127.0.0.1", source),
        )
        await ws.connect()
        await until(lambda: bool(seen))
        await ws.close()
    assert seen == [("v2", source)] or seen == [("v1", source)]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("subprotocols", "chat"),
        ("subprotocols", []),
        ("local_addr", ("h", "80")),
        ("local_addr", 5),
    ],
)
def test_bad_network_options_are_config_errors(option: str, value: object) -> None:
    """A bad subprotocols or local_addr names the option."""
    with pytest.raises(wsevents.ConfigError) as raised:
        wsevents.Connection("ws://127.0.0.1:1/", **{option: value})
    assert raised.value.key == option


async def test_tail_through_a_proxy(
    server: FakeServer, proxies: Callable[..., Proxy], capsys: pytest.CaptureFixture[str]
) -> None:
    """`wsevents tail --proxy URL` connects through it; a bad one is a usage error."""
    from tests.integration.test_cli import run_main

    proxy = await proxies("http", auth=True)  # type: ignore[misc]

    async def feed() -> None:
        await server.wait_for_client()
        await server.publish("t", {"n": 1})

    feeding = asyncio.ensure_future(feed())
    status = await run_main(
        "tail", server.url, "--proxy", proxy.url, "--count", "1", "--max-attempts", "2"
    )
    await feeding
    assert status == 0
    assert proxy.tunnels() == 1
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert await run_main("tail", server.url, "--proxy", "ftp://h:1") == 2


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_compression_is_offered_or_not(
    make_connection: Make, compression: str | None
) -> None:
    """compression="deflate" offers permessage-deflate (a server that accepts it
    negotiates it); None offers nothing."""
    async with FakeServer(compression="deflate") as server:
        ws = make_connection(server.url, compression=compression)
        rec = Recorder(ws, "message:t")
        await ws.connect()
        await server.wait_for_client()
        offered = server.requests[-1].headers.get("Sec-WebSocket-Extensions")
        assert (offered is not None) == (compression is not None)
        await server.publish("t", {"x": "y" * 1000})
        await rec.wait_count("message:t", 1)
    with pytest.raises(wsevents.ConfigError):
        wsevents.Connection("ws://127.0.0.1:1/", compression="zstd")
