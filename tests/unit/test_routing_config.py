"""Pure pieces: JsonProtocol, option validation, URL masking, backoff, payloads."""

from __future__ import annotations

import json
import math
import ssl

import attrs
import pytest

import wsevents
from wsevents import CONSUMED, ConfigError, FrameError, JsonProtocol
from wsevents._config import check_url, mask_url
from wsevents.routing import resolve_decoder


class TestJsonProtocol:
    def test_routes_by_channel_key(self) -> None:
        """The channel is read from channel_key, the message is the decoded object."""
        assert JsonProtocol().decode('{"channel": "trades", "p": 1}') == (
            "trades",
            {"channel": "trades", "p": 1},
        )

    def test_dotted_channel_key(self) -> None:
        """A dotted channel_key looks into nested objects."""
        proto = JsonProtocol(channel_key="arg.channel")
        assert proto.decode('{"arg": {"channel": "books"}, "data": []}')[0] == "books"
        assert proto.decode('{"arg": 3}')[0] is None

    def test_unrouted_and_non_str_channels(self) -> None:
        """No channel → None (message only), or an error when unrouted='error'."""
        assert JsonProtocol().decode("[1, 2]") == (None, [1, 2])
        assert JsonProtocol().decode('{"channel": 7}')[0] == "7"
        with pytest.raises(FrameError, match="has no 'channel' channel"):
            JsonProtocol(unrouted="error").decode('{"x": 1}')

    def test_invalid_json_and_binary(self) -> None:
        """Bad JSON and (on request) binary frames raise FrameError naming the frame."""
        with pytest.raises(FrameError, match="not valid JSON") as raised:
            JsonProtocol().decode("{nope")
        assert raised.value.frame == "{nope"
        with pytest.raises(FrameError, match="binary frame"):
            JsonProtocol(binary="error").decode(b'{"channel": "a"}')
        assert JsonProtocol().decode(b'{"channel": "a"}')[0] == "a"
        with pytest.raises(FrameError, match="not valid JSON"):
            JsonProtocol().decode(b"\xff\xfe")

    def test_long_frames_are_shortened_in_the_message(self) -> None:
        """The error message shows the start of a long frame only."""
        with pytest.raises(FrameError) as raised:
            JsonProtocol().decode("x" * 10_000)
        assert len(str(raised.value)) < 300
        assert raised.value.frame == "x" * 10_000

    def test_subscribe_frames(self) -> None:
        """Subscribe/unsubscribe frames; none for no channels; custom builders."""
        proto = JsonProtocol()
        assert proto.subscribe(["a", "b"]) == [{"op": "subscribe", "channels": ["a", "b"]}]
        assert proto.unsubscribe(["a"]) == [{"op": "unsubscribe", "channels": ["a"]}]
        assert proto.subscribe([]) == []
        custom = JsonProtocol(subscribe_frame=lambda chs: {"method": "SUB", "params": chs})
        assert custom.subscribe(["x"]) == [{"method": "SUB", "params": ["x"]}]

    def test_heartbeat_is_consumed_and_answered(self) -> None:
        """A heartbeat ping is consumed and answered with the pong."""
        proto = JsonProtocol(heartbeat=({"op": "ping"}, {"op": "pong"}))
        channel, message = proto.decode('{"op": "ping"}')
        assert channel is CONSUMED
        assert proto.reply(message) == {"op": "pong"}
        assert proto.reply({"other": 1}) is None

    def test_decoder_swap(self) -> None:
        """with_decoder() returns a copy using the given decoder."""
        calls: list[object] = []

        def loads(frame: str | bytes) -> object:
            calls.append(frame)
            return json.loads(frame)

        proto = JsonProtocol().with_decoder(loads)
        proto.decode('{"channel": "a"}')
        assert calls == ['{"channel": "a"}']

    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [
            ({"channel_key": ""}, "channel_key"),
            ({"channel_key": "a..b"}, "channel_key"),
            ({"unrouted": "drop"}, "unrouted"),
            ({"binary": "raw"}, "binary"),
            ({"decoder": 3}, "decoder"),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, object], key: str) -> None:
        """Bad JsonProtocol options raise ConfigError naming them."""
        with pytest.raises(ConfigError) as raised:
            JsonProtocol(**kwargs)  # type: ignore[arg-type]
        assert raised.value.key == key

    def test_resolve_decoder(self) -> None:
        """Decoder names resolve; unknown names and non-callables are rejected."""
        assert resolve_decoder(None) is None
        assert resolve_decoder("json") is json.loads
        with pytest.raises(ConfigError, match="decoder"):
            resolve_decoder("yaml")
        with pytest.raises(ConfigError):
            resolve_decoder(42)  # type: ignore[arg-type]


class TestConnectionOptions:
    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [
            ({"queue_size": 0}, "queue_size"),
            ({"queue_size": True}, "queue_size"),
            ({"overflow": "drop"}, "overflow"),
            ({"ping_interval": -1}, "ping_interval"),
            ({"close_timeout": 0}, "close_timeout"),
            ({"check_interval": math.nan}, "check_interval"),
            ({"max_reconnect_attempts": -1}, "max_reconnect_attempts"),
            ({"stable_after": "30"}, "stable_after"),
            ({"reconnect_on_clean_close": "no"}, "reconnect_on_clean_close"),
            ({"subscriptions": "trades"}, "subscriptions"),
            ({"subscriptions": ["ok", ""]}, "subscriptions"),
            ({"headers": ["X: y"]}, "headers"),
            ({"headers": {"X": 1}}, "headers"),
            ({"headers": {"X": "a\r\nInjected: 1"}}, "headers"),
            ({"ssl": "yes"}, "ssl"),
            ({"ssl": ssl.create_default_context()}, "ssl"),  # ws:// URL
            ({"protocol": object()}, "protocol"),
            ({"backoff": 3}, "backoff"),
            ({"decoder": "nope"}, "decoder"),
            ({"stale_after": 0}, "stale_after"),
            ({"max_size": -5}, "max_size"),
            ({"should_disconnect": 3}, "should_disconnect"),
        ],
    )
    def test_bad_values_raise_config_error(self, kwargs: dict[str, object], key: str) -> None:
        """Every bad option raises ConfigError naming the option and the value."""
        with pytest.raises(ConfigError) as raised:
            wsevents.Connection("ws://127.0.0.1:1/", **kwargs)  # type: ignore[arg-type]
        assert raised.value.key == key
        assert key in str(raised.value)
        assert isinstance(raised.value, ValueError)

    @pytest.mark.parametrize(
        "url",
        ["http://x/", "https://x/", "x.com", "ws://", "ws://:80/", "ws://host:99999/", 42,
         "ws://ho st/"],
    )
    def test_bad_urls(self, url: object) -> None:
        """Bad URLs and schemes fail at construction."""
        with pytest.raises(ConfigError) as raised:
            check_url(url)
        assert raised.value.key == "url"

    def test_https_hint(self) -> None:
        """An https URL gets a hint to use wss://."""
        with pytest.raises(ConfigError, match=r"use wss://"):
            wsevents.Connection("https://example.com/ws")

    def test_mask_url(self) -> None:
        """Secrets in query strings and user info are masked; the rest is kept."""
        masked = mask_url("wss://u:pw@h.test/ws?listenKey=abc&symbol=btc&signature=x1&apiKey=k")
        assert "abc" not in masked
        assert "pw" not in masked
        assert "x1" not in masked
        assert "symbol=btc" in masked
        assert masked.startswith("wss://u:***@h.test/ws?")
        assert mask_url("ws://h/") == "ws://h/"

    def test_repr_masks_secrets(self) -> None:
        """The connection's repr never shows a token."""
        ws = wsevents.Connection("ws://h.test/?token=SECRET")
        assert "SECRET" not in repr(ws)


class TestValues:
    def test_payloads_are_frozen(self) -> None:
        """Event payloads are frozen attrs classes."""
        event = wsevents.Disconnected(reason=wsevents.DisconnectReason.USER, proactive=True)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            event.code = 3  # type: ignore[misc]

    def test_disconnect_reasons_know_who_decided(self) -> None:
        """POLICY, USER, HANDOVER, SHUTDOWN are proactive; the others are not."""
        proactive = {r.name for r in wsevents.DisconnectReason if r.proactive}
        assert proactive == {"POLICY", "USER", "HANDOVER", "SHUTDOWN"}

    def test_backoff_validation(self) -> None:
        """Backoff options are validated to ConfigError."""
        with pytest.raises(ConfigError):
            wsevents.ExponentialBackoff(jitter=2)
        with pytest.raises(ConfigError):
            wsevents.ExponentialBackoff(initial=10, maximum=1)
        with pytest.raises(ConfigError):
            wsevents.ExponentialBackoff(multiplier=0.5)
        with pytest.raises(ConfigError):
            wsevents.FixedDelay(delay=-1)
        assert wsevents.FixedDelay(delay=2, first=0).delay(1) == 0
        assert wsevents.Immediate().delay(9) == 0

    def test_backoff_caps_without_overflow(self) -> None:
        """Huge attempt numbers stay at the cap."""
        assert wsevents.ExponentialBackoff(jitter=0).delay(100_000) == 30.0

    def test_exception_tree(self) -> None:
        """Every error derives from WSEventsError and the builtin it is."""
        assert issubclass(wsevents.ReconnectExhausted, wsevents.ConnectError)
        assert issubclass(wsevents.HandshakeRejected, ConnectionError)
        assert issubclass(wsevents.NotConnected, RuntimeError)
        assert issubclass(wsevents.FrameError, ValueError)
        for name in ("ConfigError", "ConnectError", "NotConnected", "PolicyError", "FrameError"):
            assert issubclass(getattr(wsevents, name), wsevents.WSEventsError)
        rejected = wsevents.HandshakeRejected(401, {"X": "y"}, "nope")
        assert rejected.status == 401
        assert "401" in str(rejected)


def test_a_bad_header_never_shows_its_value() -> None:
    """A ConfigError about headers names the header, never the (secret) values."""
    with pytest.raises(ConfigError) as raised:
        wsevents.Connection(
            "wss://x.example/ws", headers={"Authorization": "Bearer s3cret", "X": 1}
        )
    assert "s3cret" not in str(raised.value)
    assert "s3cret" not in repr(raised.value.value)
    assert "'X'" in str(raised.value)
