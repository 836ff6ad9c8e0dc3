"""BinanceProtocol's serverShutdown and limits; BinanceApiProtocol without sockets:
request ids, signing checked against Binance's documented example, replies,
rate-limit errors, events."""

from __future__ import annotations

import json
from typing import Any

import pytest

import wsevents
from tests.unit._session import ScriptedSession
from wsevents import CONSUMED, ConfigError, FrameError, RequestError
from wsevents.binance import (
    API_KEY_METHODS,
    SIGNED_METHODS,
    BinanceApiProtocol,
    BinanceProtocol,
    binance_signature,
)


#: the example key pair of Binance's WebSocket API documentation ("SIGNED request example (HMAC)")
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000000",
    "price": "52000.00",
    "newOrderRespType": "ACK",
    "recvWindow": 100,
}
DOC_SIGNATURE = "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"


def documented() -> BinanceApiProtocol:
    return BinanceApiProtocol(api_key=DOC_KEY, api_secret=DOC_SECRET, clock=lambda: 1645423376.532)


class TestServerShutdown:
    @pytest.mark.parametrize(
        "message",
        [
            {"e": "serverShutdown", "E": 1770123456789},
            {"stream": "x", "data": {"e": "serverShutdown", "E": 1}},
            {"event": {"e": "serverShutdown", "E": 1}},
        ],
    )
    def test_recognised(self, message: dict[str, Any]) -> None:
        """serverShutdown raw, enveloped, or as a WebSocket API event asks for a handover."""
        assert BinanceProtocol().wants_handover(message)
        assert BinanceApiProtocol().wants_handover(message)

    @pytest.mark.parametrize("message", [{"e": "trade"}, [1], "x", {"data": [1]}])
    def test_others_are_not(self, message: Any) -> None:
        """Anything else does not."""
        assert not BinanceProtocol().wants_handover(message)

    def test_raw_shutdown_still_delivered(self) -> None:
        """The notice is still delivered, on message:serverShutdown."""
        notice = {"e": "serverShutdown", "E": 1}
        assert BinanceProtocol().decode(json.dumps(notice)) == ("serverShutdown", notice)

    def test_limits(self) -> None:
        """Binance's limits are declared for the pool."""
        assert BinanceProtocol.max_channels == 1024
        assert BinanceProtocol.send_limit == (5, 1.0)
        assert BinanceProtocol.connect_limit == (300, 300.0)

    def test_futures_and_options_limits(self) -> None:
        """Futures: 1,024 streams, 10 frames a second; options: 200 streams, 10 a second;
        both decode like the spot protocol."""
        from wsevents.binance import BinanceFuturesProtocol, BinanceOptionsProtocol

        assert (BinanceFuturesProtocol.max_channels, BinanceFuturesProtocol.send_limit) == (
            1024,
            (10, 1.0),
        )
        assert (BinanceOptionsProtocol.max_channels, BinanceOptionsProtocol.send_limit) == (
            200,
            (10, 1.0),
        )
        frame = json.dumps({"stream": "BTC-210630-9000-P@trade", "data": {"p": "1"}})
        assert BinanceOptionsProtocol().decode(frame) == ("BTC-210630-9000-P@trade", {"p": "1"})
        pool = wsevents.Pool("ws://127.0.0.1:9", protocol=BinanceOptionsProtocol(),
                             subscriptions=[f"s{i}@trade" for i in range(450)])
        assert [len(s.subscriptions) for s in pool.shards] == [150, 150, 150]


class TestSigning:
    def test_documented_example(self) -> None:
        """binance_signature reproduces the documentation's signature."""
        params = {**DOC_PARAMS, "apiKey": DOC_KEY, "timestamp": 1645423376532}
        assert binance_signature(DOC_SECRET, params) == DOC_SIGNATURE

    def test_prepare_request_signs_like_the_documentation(self) -> None:
        """order.place gets apiKey, timestamp (clock, ms) and the documented signature."""
        frame, key = documented().prepare_request(
            {"method": "order.place", "params": DOC_PARAMS}, 42
        )
        assert key == 42
        assert frame == {
            "id": 42,
            "method": "order.place",
            "params": {
                **DOC_PARAMS,
                "apiKey": DOC_KEY,
                "timestamp": 1645423376532,
                "signature": DOC_SIGNATURE,
            },
        }

    def test_fresh_timestamp_and_signature(self) -> None:
        """Each request is signed with the clock's time at that moment."""
        now = [1000.0]
        protocol = BinanceApiProtocol(api_key="k", api_secret="s", clock=lambda: now[0])
        first, _ = protocol.prepare_request({"method": "account.status"}, 1)
        now[0] += 0.5
        second, _ = protocol.prepare_request({"method": "account.status"}, 2)
        p1, p2 = first["params"], second["params"]  # type: ignore[index]
        assert (p1["timestamp"], p2["timestamp"]) == (1000000, 1000500)
        assert p1["signature"] != p2["signature"]

    def test_recv_window_and_booleans(self) -> None:
        """recv_window is added when not given; booleans sign as true/false."""
        protocol = BinanceApiProtocol(
            api_key="k", api_secret="s", recv_window=5000, clock=lambda: 1.0
        )
        params = protocol.sign({"computeCommissionRates": True, "signature": "stale"})
        assert params["recvWindow"] == 5000
        expected = binance_signature(
            "s",
            {"computeCommissionRates": True, "apiKey": "k", "timestamp": 1000, "recvWindow": 5000},
        )
        assert params["signature"] == expected
        assert binance_signature("s", {"a": True}) == binance_signature("s", {"a": "true"})
        assert binance_signature("s", {"a": False}) == binance_signature("s", {"a": "false"})

    def test_unsigned_and_api_key_methods(self) -> None:
        """Public methods go as given; USER_STREAM methods get apiKey only."""
        protocol = documented()
        assert protocol.prepare_request({"method": "time"}, 1) == ({"id": 1, "method": "time"}, 1)
        assert protocol.prepare_request({"method": "depth", "params": {"symbol": "X"}}, 2) == (
            {"id": 2, "method": "depth", "params": {"symbol": "X"}},
            2,
        )
        frame, _ = protocol.prepare_request({"method": "userDataStream.start"}, 3)
        assert frame == {"id": 3, "method": "userDataStream.start", "params": {"apiKey": DOC_KEY}}
        assert "order.place" in SIGNED_METHODS
        assert "userDataStream.ping" in API_KEY_METHODS

    def test_custom_signed_methods(self) -> None:
        """signed_methods replaces the list (a new SIGNED method, say)."""
        protocol = BinanceApiProtocol(
            api_key="k", api_secret="s", signed_methods=["new.method"], clock=lambda: 1.0
        )
        frame, _ = protocol.prepare_request({"method": "new.method", "params": {}}, 1)
        assert "signature" in frame["params"]  # type: ignore[index]
        frame, _ = protocol.prepare_request({"method": "order.place", "params": {}}, 2)
        assert frame["params"] == {}  # type: ignore[index]

    def test_signed_without_credentials(self) -> None:
        """A SIGNED method with no credentials is a ConfigError."""
        with pytest.raises(ConfigError, match="api_key"):
            BinanceApiProtocol().prepare_request({"method": "order.place", "params": {}}, 1)

    @pytest.mark.parametrize(
        ("frame", "match"),
        [
            ("ping", "with a 'method'"),
            ({"params": {}}, "with a 'method'"),
            ({"method": "depth", "params": ["x"]}, "must be a mapping"),
        ],
    )
    def test_bad_frames(self, frame: Any, match: str) -> None:
        """Requests are mappings with a method and mapping params."""
        with pytest.raises(TypeError, match=match):
            BinanceApiProtocol().prepare_request(frame, 1)


class TestReplies:
    def test_success(self) -> None:
        """A 200 reply is consumed, keyed by id, not an error."""
        reply = {"id": 7, "status": 200, "result": {"orderId": 1}, "rateLimits": []}
        protocol = BinanceApiProtocol()
        assert protocol.decode(json.dumps(reply)) == (CONSUMED, reply)
        assert protocol.reply_id(reply) == 7
        assert protocol.reply_error(reply) is None

    @pytest.mark.parametrize(
        ("status", "code", "text"),
        [
            (400, -1013, "HTTP 400: Filter failure: LOT_SIZE"),
            (429, -1003, "rate limited (HTTP 429): Too much request weight used"),
            (418, -1003, "IP banned for breaking rate limits (HTTP 418): Way too much"),
        ],
    )
    def test_errors(self, status: int, code: int, text: str) -> None:
        """status != 200: RequestError with Binance's code; rate limits say so."""
        msg = text.split(": ", 1)[1]
        reply = {"id": "a", "status": status, "error": {"code": code, "msg": msg}}
        protocol = BinanceApiProtocol()
        assert protocol.decode(json.dumps(reply)) == (CONSUMED, reply)
        error = protocol.reply_error(reply)
        assert isinstance(error, RequestError)
        assert (error.code, error.message, error.reply) == (code, text, reply)

    def test_error_without_id(self) -> None:
        """An error reply with a null id (an unparsable request) is a FrameError."""
        reply = {"id": None, "status": 400, "error": {"code": -1000, "msg": "bad"}}
        with pytest.raises(FrameError, match="without an id"):
            BinanceApiProtocol().decode(json.dumps(reply))

    def test_odd_replies(self) -> None:
        """A null-id reply without error is consumed; an error without detail still names status."""
        protocol = BinanceApiProtocol()
        assert protocol.decode('{"id": null, "status": 200}') == (
            CONSUMED,
            {"id": None, "status": 200},
        )
        error = protocol.reply_error({"id": 1, "status": 503})
        assert error is not None
        assert (error.code, error.message) == (None, "HTTP 503: ")
        assert protocol.reply_id([1]) is None
        assert protocol.reply_error([1]) is None

    def test_events(self) -> None:
        """{"event": {...}} is routed to its type with the inner event as the message."""
        protocol = BinanceApiProtocol()
        event = {"e": "executionReport", "s": "BTCUSDT"}
        assert protocol.decode(json.dumps({"subscriptionId": 0, "event": event})) == (
            "executionReport",
            event,
        )
        assert protocol.decode('{"event": {"x": 1}}') == (None, {"x": 1})
        assert protocol.decode('{"x": 1}') == (None, {"x": 1})
        assert protocol.decode("[1]") == (None, [1])
        with pytest.raises(FrameError, match="not valid JSON"):
            protocol.decode("{")


class TestOptions:
    async def test_no_login(self) -> None:
        """HMAC keys have no session login: on_open sends nothing."""
        session = ScriptedSession(documented(), None)
        await documented().on_open(session)
        assert session.requests == []
        assert session.sent == []

    def test_secrets_not_in_repr(self) -> None:
        """Neither key nor secret in the repr."""
        text = repr(documented())
        assert DOC_KEY not in text
        assert DOC_SECRET not in text

    @pytest.mark.parametrize(
        ("key", "options"),
        [
            ("api_secret", {"api_key": "k"}),
            ("api_key", {"api_key": ""}),
            ("decoder", {"decoder": 1}),
            ("recv_window", {"recv_window": 0}),
            ("recv_window", {"recv_window": 70_000}),
            ("recv_window", {"recv_window": True}),
            ("clock", {"clock": 1}),
        ],
    )
    def test_bad_options(self, key: str, options: dict[str, Any]) -> None:
        """Bad options: ConfigError naming them."""
        with pytest.raises(ConfigError) as info:
            BinanceApiProtocol(**options)
        assert info.value.key == key

    def test_with_decoder(self) -> None:
        """with_decoder keeps the credentials."""
        assert documented().with_decoder(json.loads).api_key == DOC_KEY
