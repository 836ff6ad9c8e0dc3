"""JsonProtocol and decoder resolution, pinned down (written against surviving mutants)."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest

from tests.unit.test_backoff_mutants import config_error
from wsevents import CONSUMED, ConfigError, FrameError, JsonProtocol
from wsevents.routing import _loads_str, resolve_decoder


@pytest.mark.parametrize("key", ["", ".", "a.", ".a", "a..b", 1, None])
def test_bad_channel_keys(key: Any) -> None:
    config_error(
        lambda: JsonProtocol(channel_key=key),
        "channel_key",
        key,
        "must be a non-empty key, or a dotted path",
    )


def test_bad_unrouted_and_binary() -> None:
    config_error(
        lambda: JsonProtocol(unrouted="drop"),  # type: ignore[arg-type]
        "unrouted",
        "drop",
        "must be 'message' or 'error'",
    )
    config_error(
        lambda: JsonProtocol(binary="text"),  # type: ignore[arg-type]
        "binary",
        "text",
        "must be 'decode' or 'error'",
    )


@pytest.mark.parametrize("name", ["subscribe_frame", "unsubscribe_frame", "decoder"])
def test_callables_are_checked(name: str) -> None:
    config_error(lambda: JsonProtocol(**{name: 3}), name, 3, "must be callable")


def test_fast_path_settings() -> None:
    assert JsonProtocol()._key == "channel"
    assert JsonProtocol()._loads is _loads_str
    assert JsonProtocol(channel_key="a.b")._key is None
    assert JsonProtocol(heartbeat=("ping", "pong"))._key is None
    assert JsonProtocol(channel_key="a.b")._path == ("a", "b")

    def mine(frame: str | bytes) -> Any:
        return json.loads(frame)

    assert JsonProtocol(decoder=mine)._loads is mine


def test_invalid_json_message() -> None:
    with pytest.raises(FrameError) as info:
        JsonProtocol().decode("{")
    assert str(info.value).startswith("frame is not valid JSON (Expecting property name")
    assert info.value.frame == "{"
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(FrameError) as info:
        JsonProtocol(channel_key="a.b").decode("{")
    assert str(info.value).startswith("frame is not valid JSON (")
    assert isinstance(info.value.__cause__, ValueError)


def test_binary_frames() -> None:
    with pytest.raises(FrameError) as info:
        JsonProtocol(binary="error").decode(b"{}")
    assert str(info.value) == "binary frame received where JSON text was expected: b'{}'"
    assert JsonProtocol(binary="error").decode("{}") == (None, {})
    calls: list[Any] = []

    def decoder(frame: str | bytes) -> Any:
        calls.append(frame)
        return {"channel": "c"}

    assert JsonProtocol(decoder=decoder).decode(b"x") == ("c", {"channel": "c"})
    assert JsonProtocol(decoder=decoder, channel_key="channel").decode("y")[0] == "c"
    assert calls == [b"x", "y"]


def test_routing_general_path() -> None:
    proto = JsonProtocol(channel_key="a.b")
    assert proto.decode('{"a": {"b": "x"}}') == ("x", {"a": {"b": "x"}})
    assert proto.decode('{"a": {"b": 5}}')[0] == "5"
    assert proto.decode('{"a": {"b": null}}')[0] is None
    assert proto.decode('{"a": []}')[0] is None
    assert proto.decode("[1]")[0] is None
    with pytest.raises(FrameError) as info:
        JsonProtocol(channel_key="a.b", unrouted="error").decode('{"a": {}}')
    assert str(info.value) == "message has no 'a.b' channel: '{\"a\": {}}'"
    assert JsonProtocol(unrouted="error").decode('{"channel": 0}')[0] == "0"


def test_fast_path_channel_types() -> None:
    proto = JsonProtocol()
    assert proto.decode('{"channel": "x"}') == ("x", {"channel": "x"})
    assert proto.decode('{"channel": 1.5}')[0] == "1.5"
    assert proto.decode('{"channel": false}')[0] == "False"
    assert proto.decode('"channel"') == (None, "channel")


def test_heartbeat() -> None:
    proto = JsonProtocol(heartbeat=({"op": "ping"}, {"op": "pong"}))
    assert proto.decode('{"op": "ping"}') == (CONSUMED, {"op": "ping"})
    assert proto.decode(b'{"op": "ping"}') == (CONSUMED, {"op": "ping"})
    assert proto.decode('{"op": "ping", "channel": "c"}')[0] == "c"
    assert proto.reply({"op": "ping"}) == {"op": "pong"}
    assert proto.reply({"op": "other"}) is None
    assert JsonProtocol().reply({"op": "ping"}) is None


def test_subscribe_and_unsubscribe() -> None:
    proto = JsonProtocol()
    assert proto.subscribe([]) == []
    assert proto.unsubscribe([]) == []
    assert proto.unsubscribe(("a",)) == [{"op": "unsubscribe", "channels": ["a"]}]
    assert proto.subscribe(("a", "b")) == [{"op": "subscribe", "channels": ["a", "b"]}]


def test_with_decoder() -> None:
    def mine(frame: str | bytes) -> Any:
        return {"channel": "m"}

    proto = JsonProtocol(channel_key="k").with_decoder(mine)
    assert (proto.decoder, proto.channel_key, proto._loads) == (mine, "k", mine)


# -- resolve_decoder ----------------------------------------------------------------


def test_resolve_plain_values() -> None:
    assert resolve_decoder(None) is None
    assert resolve_decoder("json") is json.loads
    assert resolve_decoder(len) is len  # type: ignore[arg-type]


def test_resolve_bad_values() -> None:
    config_error(
        lambda: resolve_decoder("yaml"),
        "decoder",
        "yaml",
        "must be a callable or 'json', 'orjson', 'msgspec'",
    )
    config_error(
        lambda: resolve_decoder(5),  # type: ignore[arg-type]
        "decoder",
        5,
        "must be a callable str | bytes -> object",
    )


def test_resolve_missing_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "orjson", None)
    monkeypatch.setitem(sys.modules, "msgspec", None)
    monkeypatch.setitem(sys.modules, "msgspec.json", None)
    config_error(
        lambda: resolve_decoder("orjson"),
        "decoder",
        "orjson",
        "orjson is not installed (pip install 'wsevents[fast]')",
    )
    config_error(
        lambda: resolve_decoder("msgspec"), "decoder", "msgspec", "msgspec is not installed"
    )
    with pytest.raises(ConfigError) as info:
        resolve_decoder("orjson")
    assert isinstance(info.value.__cause__, ImportError)


def test_resolve_installed_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the libraries importable, their decoding callables are returned."""
    orjson = types.ModuleType("orjson")
    orjson.loads = json.loads  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "orjson", orjson)
    assert resolve_decoder("orjson") is json.loads

    class Decoder:
        def decode(self, frame: str | bytes) -> Any:
            return ("msgspec", frame)

    msgspec = types.ModuleType("msgspec")
    msgspec_json = types.ModuleType("msgspec.json")
    msgspec_json.Decoder = Decoder  # type: ignore[attr-defined]
    msgspec.json = msgspec_json  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "msgspec", msgspec)
    monkeypatch.setitem(sys.modules, "msgspec.json", msgspec_json)
    decode = resolve_decoder("msgspec")
    assert decode is not None
    assert decode(b"1") == ("msgspec", b"1")


def test_fast_path_unrouted_error_shows_the_frame() -> None:
    with pytest.raises(FrameError) as info:
        JsonProtocol(unrouted="error").decode('{"x": 1}')
    assert str(info.value) == "message has no 'channel' channel: '{\"x\": 1}'"
    assert info.value.frame == '{"x": 1}'


def test_general_path_invalid_json_keeps_the_frame() -> None:
    with pytest.raises(FrameError) as info:
        JsonProtocol(channel_key="a.b").decode("{")
    assert info.value.frame == "{"
    with pytest.raises(FrameError) as info:
        JsonProtocol().decode(b"\xff")
    assert info.value.frame == b"\xff"
