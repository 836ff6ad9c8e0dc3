"""BinanceProtocol without sockets: routing of combined and raw frames, request
frames and their ids, replies, error replies, options and the 24 h policy."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from wsevents import CONSUMED, ConfigError, FrameError, State
from wsevents.binance import BINANCE_MAX_AGE, COMBINED_STREAM_URL, BinanceProtocol
from wsevents.policies import MaxConnectionAge, PolicyContext


TRADE = {"e": "trade", "E": 1672515782136, "s": "BTCUSDT", "t": 12345, "p": "0.001", "q": "100"}


def frame(obj: Any) -> str:
    return json.dumps(obj)


class TestCombinedStreams:
    def test_routed_to_the_stream_with_the_data_payload(self) -> None:
        """{"stream", "data"} goes to the stream's channel; the message is the data."""
        protocol = BinanceProtocol()
        assert protocol.decode(frame({"stream": "btcusdt@trade", "data": TRADE})) == (
            "btcusdt@trade",
            TRADE,
        )

    def test_envelope_option_delivers_the_whole_frame(self) -> None:
        """envelope=True keeps {"stream", "data"} as the message."""
        envelope = {"stream": "ethusdt@kline_1m", "data": {"e": "kline", "k": {"x": True}}}
        assert BinanceProtocol(envelope=True).decode(frame(envelope)) == (
            "ethusdt@kline_1m",
            envelope,
        )

    def test_array_payload(self) -> None:
        """An all-market stream's data is a list; it is delivered as is."""
        data = [{"e": "24hrMiniTicker", "s": "BTCUSDT"}]
        assert BinanceProtocol().decode(frame({"stream": "!miniTicker@arr", "data": data})) == (
            "!miniTicker@arr",
            data,
        )

    def test_bytes_frames_decode_too(self) -> None:
        """A binary frame holding JSON decodes like a text frame."""
        raw = frame({"stream": "btcusdt@trade", "data": TRADE}).encode()
        assert BinanceProtocol().decode(raw) == ("btcusdt@trade", TRADE)

    def test_non_string_stream_is_a_frame_error(self) -> None:
        """A combined frame must name its stream with a string."""
        with pytest.raises(FrameError, match="'stream' is not a string"):
            BinanceProtocol().decode(frame({"stream": 7, "data": {}}))


class TestRawStreams:
    def test_routed_by_event_type(self) -> None:
        """A raw payload goes to its "e" event type by default."""
        assert BinanceProtocol().decode(frame(TRADE)) == ("trade", TRADE)

    def test_server_shutdown_event_is_routed(self) -> None:
        """Binance's serverShutdown notice gets its own channel."""
        notice = {"e": "serverShutdown", "E": 1}
        assert BinanceProtocol().decode(frame(notice)) == ("serverShutdown", notice)

    @pytest.mark.parametrize(
        "payload",
        [
            {"u": 400900217, "s": "BNBUSDT", "b": "25.35", "B": "31.21"},  # bookTicker
            {"lastUpdateId": 160, "bids": [], "asks": []},  # partial depth
            [{"e": "24hrTicker", "s": "BTCUSDT"}],  # !ticker@arr on a raw endpoint
            {"e": "", "x": 1},  # an empty event type routes nowhere
            "hello",
        ],
    )
    def test_without_event_type_delivered_on_message_only(self, payload: Any) -> None:
        """No "e": channel None, so only `message` fires."""
        assert BinanceProtocol().decode(frame(payload)) == (None, payload)

    def test_raw_message_option(self) -> None:
        """raw="message" never routes raw payloads."""
        assert BinanceProtocol(raw="message").decode(frame(TRADE)) == (None, TRADE)

    def test_invalid_json_is_a_frame_error(self) -> None:
        """A frame that is not JSON raises FrameError showing it."""
        with pytest.raises(FrameError, match="not valid JSON") as raised:
            BinanceProtocol().decode("{oops")
        assert raised.value.frame == "{oops"


class TestReplies:
    @pytest.mark.parametrize(
        "reply",
        [
            {"result": None, "id": 1},
            {"result": ["btcusdt@aggTrade"], "id": 3},  # LIST_SUBSCRIPTIONS
            {"result": True, "id": 2},  # GET_PROPERTY
        ],
    )
    def test_results_are_consumed(self, reply: dict[str, Any]) -> None:
        """Acknowledgements and other results are protocol traffic, not messages."""
        assert BinanceProtocol().decode(frame(reply)) == (CONSUMED, reply)
        assert BinanceProtocol().reply(reply) is None

    def test_error_reply_is_a_frame_error(self) -> None:
        """{"error": {...}, "id": n} raises FrameError naming the id, code and message."""
        reply = {"error": {"code": 2, "msg": "Invalid request: unknown variant"}, "id": 4}
        with pytest.raises(FrameError) as raised:
            BinanceProtocol().decode(frame(reply))
        text = str(raised.value)
        assert "request id 4" in text
        assert "code 2: Invalid request: unknown variant" in text

    @pytest.mark.parametrize(
        "reply",
        [
            {"code": 0, "msg": "Unknown property", "id": 5},
            {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"},
        ],
    )
    def test_documented_bare_error_shape(self, reply: dict[str, Any]) -> None:
        """The bare {"code", "msg"} shape of Binance's documentation is an error too."""
        with pytest.raises(FrameError, match=f"code {reply['code']}: "):
            BinanceProtocol().decode(frame(reply))

    def test_error_that_is_not_an_object(self) -> None:
        """An odd error value is shown as is."""
        with pytest.raises(FrameError, match="'boom'"):
            BinanceProtocol().decode(frame({"error": "boom", "id": None}))

    def test_payload_with_an_id_is_not_a_reply(self) -> None:
        """Only result/error make a reply: a payload that happens to carry "id" is data."""
        payload = {"e": "custom", "id": 9}
        assert BinanceProtocol().decode(frame(payload)) == ("custom", payload)


class TestRequests:
    def test_subscribe_frame_shape_and_increasing_ids(self) -> None:
        """SUBSCRIBE then UNSUBSCRIBE carry every channel and ids 1, 2, ..."""
        protocol = BinanceProtocol()
        assert protocol.subscribe(["btcusdt@trade", "ethusdt@kline_1m"]) == [
            {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@kline_1m"], "id": 1}
        ]
        assert protocol.unsubscribe(["btcusdt@trade"]) == [
            {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 2}
        ]
        assert protocol.subscribe(["x@trade"])[0] == {
            "method": "SUBSCRIBE",
            "params": ["x@trade"],
            "id": 3,
        }

    def test_no_channels_no_frame_and_no_id_used(self) -> None:
        """Nothing to (un)subscribe: no request."""
        protocol = BinanceProtocol()
        assert protocol.subscribe([]) == []
        assert protocol.unsubscribe([]) == []
        assert protocol.request("LIST_SUBSCRIPTIONS") == {"method": "LIST_SUBSCRIPTIONS", "id": 1}

    def test_instances_count_separately(self) -> None:
        """Each protocol instance has its own id sequence; equality ignores it."""
        first, second = BinanceProtocol(), BinanceProtocol()
        first.subscribe(["a@trade"])
        assert second.request("GET_PROPERTY", ["combined"]) == {
            "method": "GET_PROPERTY",
            "params": ["combined"],
            "id": 1,
        }
        assert first == second

    def test_frames_are_json_serialisable(self) -> None:
        """What subscribe() returns is sent as JSON text by the connection."""
        sent = json.loads(json.dumps(BinanceProtocol().subscribe(["btcusdt@depth@100ms"])[0]))
        assert sent["params"] == ["btcusdt@depth@100ms"]


class TestOptions:
    def test_with_decoder_keeps_options(self) -> None:
        """Connection(decoder=...) swaps the decoder and keeps the rest."""
        calls: list[str | bytes] = []

        def decoder(data: str | bytes) -> Any:
            calls.append(data)
            return json.loads(data)

        protocol = BinanceProtocol(envelope=True, raw="message").with_decoder(decoder)
        assert isinstance(protocol, BinanceProtocol)
        assert (protocol.envelope, protocol.raw, protocol.decoder) == (True, "message", decoder)
        assert protocol.decode(frame(TRADE)) == (None, TRADE)
        assert calls == [frame(TRADE)]

    @pytest.mark.parametrize(
        ("options", "key"),
        [
            ({"envelope": "yes"}, "envelope"),
            ({"raw": "route"}, "raw"),
            ({"decoder": 42}, "decoder"),
        ],
    )
    def test_bad_options_name_the_key(self, options: dict[str, Any], key: str) -> None:
        """A bad option raises ConfigError naming it."""
        with pytest.raises(ConfigError) as raised:
            BinanceProtocol(**options)
        assert raised.value.key == key

    def test_keyword_only(self) -> None:
        """Options are keyword-only."""
        with pytest.raises(TypeError):
            BinanceProtocol(True)  # type: ignore[call-arg]

    def test_combined_stream_url(self) -> None:
        """The spot combined-stream endpoint."""
        assert COMBINED_STREAM_URL == "wss://stream.binance.com:9443/stream"


class TestMaxAge:
    def test_constant_is_24h_minus_5m(self) -> None:
        """BINANCE_MAX_AGE recycles 5 minutes before the 24-hour cut."""
        assert BINANCE_MAX_AGE == MaxConnectionAge("24h", margin="5m")
        assert BINANCE_MAX_AGE.recycle_after == 24 * 3600 - 300
        assert BinanceProtocol.max_connection_age() == BINANCE_MAX_AGE

    def test_custom_margin(self) -> None:
        """max_connection_age(margin) takes any duration shorter than a day."""
        assert BinanceProtocol.max_connection_age("1h").recycle_after == 23 * 3600
        with pytest.raises(ConfigError):
            BinanceProtocol.max_connection_age("25h")

    def test_decides_on_uptime(self) -> None:
        """The policy answers on the connection's uptime."""

        now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        assert not BINANCE_MAX_AGE.should_disconnect(PolicyContext.at(now, uptime=23 * 3600))
        assert BINANCE_MAX_AGE.should_disconnect(PolicyContext.at(now, uptime=24 * 3600 - 300))
        assert not BINANCE_MAX_AGE.should_disconnect(PolicyContext.at(now, state=State.PAUSED))
