"""Option validation and the small pure parts behind it: URLs, headers, backoff,
decoders, the base Protocol, sequence tracking and handover overlap."""

from __future__ import annotations

import json
import random
import sys
import types
from typing import Any

import pytest

from wsevents import ConfigError, Connection, ExponentialBackoff
from wsevents._config import check_url, mask_url, validate_header_mapping
from wsevents._options import connection_options
from wsevents._tracking import Overlap, SequenceTracker
from wsevents.routing import JsonProtocol, Protocol, resolve_decoder


URL = "wss://stream.example.com/ws"


def test_a_decoder_option_is_given_to_the_protocol() -> None:
    def decoder(frame: str | bytes) -> Any:
        return {"channel": "d", "raw": json.loads(frame)}

    opts = connection_options(URL, decoder=decoder)
    assert isinstance(opts.protocol, JsonProtocol)
    assert opts.protocol.decode('{"x": 1}') == ("d", {"channel": "d", "raw": {"x": 1}})


@pytest.mark.parametrize("value", [42, b"agent", ["a"]])
def test_user_agent_must_be_a_string(value: object) -> None:
    with pytest.raises(ConfigError) as raised:
        Connection(URL, user_agent=value)
    assert raised.value.key == "user_agent"


def test_url_port_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="port 0"):
        check_url("ws://127.0.0.1:0/")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("ws://[::1/", "<unparsable url>"),
        ("wss://h.example/ws?symbol=btc&depth=5", "wss://h.example/ws?symbol=btc&depth=5"),
        ("wss://h.example/ws?token=s3cret&x=1", "wss://h.example/ws?token=***&x=1"),
        ("wss://user:pw@h.example/", "wss://user:***@h.example/"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({1: "x"}, "must map a str to a str"),
        ({"X-Key": 5}, "must map a str to a str"),
        ({"X-Key": "a\r\nEvil: 1"}, "line break"),
        (["X-Key", "secret"], "must be a mapping"),
        ("secret-token", "must be a mapping"),
    ],
)
def test_bad_headers_never_show_their_values(value: object, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as raised:
        validate_header_mapping(value, name="headers()")
    assert raised.value.key == "headers()"
    assert "secret" not in str(raised.value)
    assert "Evil" not in str(raised.value)


def test_backoff_must_be_finite() -> None:
    with pytest.raises(ConfigError, match="finite"):
        ExponentialBackoff(maximum=float("inf"))


def test_backoff_caps_a_delay_that_overflows() -> None:
    """A multiplier so large that the power overflows a float: the cap applies."""
    backoff = ExponentialBackoff(
        initial=1.0, maximum=7.0, multiplier=1e300, jitter=0.0, rng=random.Random(1)
    )
    assert backoff.delay(2) == 1.0
    assert backoff.delay(500) == 7.0


def test_decoder_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_decoder(None) is None
    assert resolve_decoder("json") is json.loads
    fake = types.ModuleType("orjson")
    fake.loads = json.loads  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "orjson", fake)
    assert resolve_decoder("orjson") is json.loads
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson -> ImportError
    with pytest.raises(ConfigError, match=r"wsevents\[fast\]"):
        resolve_decoder("orjson")
    monkeypatch.setitem(sys.modules, "msgspec", None)
    with pytest.raises(ConfigError, match="msgspec is not installed"):
        resolve_decoder("msgspec")
    with pytest.raises(ConfigError, match="must be a callable or"):
        resolve_decoder("yaml")
    with pytest.raises(ConfigError, match="callable"):
        resolve_decoder(42)  # type: ignore[arg-type]


def test_msgspec_decoder_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With msgspec importable, its JSON Decoder's decode is used."""

    class Decoder:
        def decode(self, frame: str | bytes) -> Any:
            return ("msgspec", frame)

    package = types.ModuleType("msgspec")
    module = types.ModuleType("msgspec.json")
    module.Decoder = Decoder  # type: ignore[attr-defined]
    package.json = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "msgspec", package)
    monkeypatch.setitem(sys.modules, "msgspec.json", module)
    decoder = resolve_decoder("msgspec")
    assert decoder is not None
    assert decoder("x") == ("msgspec", "x")


class _Minimal(Protocol):
    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        return None, frame


def test_the_base_protocol_defaults() -> None:
    """A protocol that only decodes: no subscribe or unsubscribe frames, no replies,
    and a decoder option leaves it as it is."""
    proto = _Minimal()
    assert proto.subscribe(["a"]) == []
    assert proto.unsubscribe(["a"]) == []
    assert proto.reply("ping") is None
    assert proto.with_decoder(json.loads) is proto
    with pytest.raises(NotImplementedError):
        Protocol().decode("x")


def test_sequence_numbers_must_be_ints() -> None:
    tracker = SequenceTracker({"t": lambda m: m.get("seq")})
    assert tracker.number("t", {}) is None  # the function says: no number
    assert tracker.number("other", {"seq": 1}) is None  # an untracked channel
    assert tracker.number(None, {"seq": 1}) is None
    with pytest.raises(TypeError, match="not an int"):
        tracker.number("t", {"seq": "7"})
    with pytest.raises(TypeError, match="not an int"):
        tracker.number("t", {"seq": True})
    assert tracker.number("t", {"seq": 7}) == 7


def test_overlap_after_the_switch_is_never_a_duplicate() -> None:
    overlap = Overlap(None)
    overlap.record({"a": 1})
    assert overlap.is_duplicate({"a": 1})
    assert not overlap.is_duplicate({"b": 2})  # the first new one: switched
    assert not overlap.is_duplicate({"a": 1})
    assert overlap.duplicates == 1
