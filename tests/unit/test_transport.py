"""The ``transport=`` option: names, instances, the default, a missing picows, and
``from_config``; and the close-code normalisation of the picows transport."""

from __future__ import annotations

import sys

import pytest

from wsevents import ConfigError, Connection, _picows, _transport as transport_module
from wsevents._picows import PicowsTransport
from wsevents._transport import (
    CloseInfo,
    Transport,
    WebsocketsTransport,
    resolve_transport,
)


URL = "wss://stream.example.com/ws"


@pytest.mark.parametrize(
    ("value", "kind"),
    [("websockets", WebsocketsTransport), ("picows", PicowsTransport)],
)
def test_names(value: str, kind: type[Transport]) -> None:
    """Each name builds its transport."""
    ws = Connection(URL, transport=value)
    assert isinstance(ws._transport, kind)
    assert ws._transport.name == value


def test_default_is_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """transport=None (the default) is websockets (the suite may switch the default)."""
    monkeypatch.setattr(transport_module, "DEFAULT_TRANSPORT", "websockets")
    assert isinstance(Connection(URL)._transport, WebsocketsTransport)
    assert isinstance(Connection(URL, transport=None)._transport, WebsocketsTransport)


def test_an_instance_is_used_as_is() -> None:
    """A Transport instance (picows without aiofastnet, say) is kept, not copied."""
    chosen = PicowsTransport(use_aiofastnet=False)
    assert Connection(URL, transport=chosen)._transport is chosen


@pytest.mark.parametrize("value", ["Picows", "aiohttp", "", 42, WebsocketsTransport, object()])
def test_bad_values_are_config_errors(value: object) -> None:
    """Unknown names, other types and transport classes (not instances) are refused."""
    with pytest.raises(ConfigError) as raised:
        Connection(URL, transport=value)  # type: ignore[arg-type]
    assert raised.value.key == "transport"
    assert raised.value.value is value


def test_missing_picows_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without picows, transport="picows" is a ConfigError saying what to install."""
    monkeypatch.setitem(sys.modules, "picows", None)  # import picows -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'wsevents\[picows\]'") as raised:
        Connection(URL, transport="picows")
    assert (raised.value.key, raised.value.value) == ("transport", "picows")
    assert isinstance(raised.value.__cause__, ImportError)
    # the default transport does not need it
    assert resolve_transport("websockets").name == "websockets"


def test_from_config_passes_the_transport_through() -> None:
    """A configuration file may choose the transport; a bad one names the key."""
    ws = Connection.from_config({"url": URL, "transport": "picows"})
    assert isinstance(ws._transport, PicowsTransport)
    with pytest.raises(ConfigError) as raised:
        Connection.from_config({"url": URL, "transport": "nope"})
    assert raised.value.key == "transport"


def test_sync_connection_accepts_the_option() -> None:
    """wsevents.sync.Connection passes the option through."""
    import wsevents.sync

    ws = wsevents.sync.Connection(URL, transport="picows")
    try:
        assert isinstance(ws._engine._transport, PicowsTransport)
    finally:
        ws.close()


def test_picows_close_codes_are_normalised() -> None:
    """picows reports a close frame without status as 0: websockets' 1005 instead."""

    class Info:
        def __init__(self, code: int, reason: str) -> None:
            self.code, self.reason = code, reason

    class Closed(Exception):
        rcvd = Info(0, "")
        sent = Info(1000, "bye")
        rcvd_then_sent = True

    conn = _picows._PicowsConnection.__new__(_picows._PicowsConnection)
    assert conn.close_info(Closed()) == CloseInfo(1005, "", 1000, "bye", True)


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, "ws://feed.example/ws", None),
        ({"http_proxy": "http://proxy:3128"}, "ws://feed.example/ws", "http://proxy:3128"),
        ({"https_proxy": "http://tls-proxy:3128"}, "wss://feed.example/ws", "http://tls-proxy:3128"),
        ({"http_proxy": "http://proxy:3128"}, "wss://feed.example/ws", None),
        (
            {"http_proxy": "http://proxy:3128", "no_proxy": "127.0.0.1,localhost"},
            "ws://127.0.0.1:9000/",
            None,
        ),
    ],
)
def test_picows_proxy_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: str | None
) -> None:
    """The picows transport takes the environment's proxy as websockets does, no_proxy included."""
    for name in ("http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _picows._environment_proxy(url) == expected
