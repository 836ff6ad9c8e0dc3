"""OkxProtocol without sockets: channel:instId routing, subscribe args, event
replies, ping/pong when idle, the login and its signature, request ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit._session import ScriptedSession
from wsevents import CONSUMED, AuthenticationError, ConfigError, FrameError, RequestError
from wsevents.okx import OKX_HEARTBEAT, OkxProtocol, channel_arg, channel_name, okx_signature


KEY = "985d5b66-57ce-40fb-b714-afc0b9787083"
SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
PASSPHRASE = "okx-passphrase-never-logged"


def private(clock: float = 1538054050.0) -> OkxProtocol:
    return OkxProtocol(
        api_key=KEY, api_secret=SECRET, passphrase=PASSPHRASE, clock=lambda: clock
    )


def frame(obj: Any) -> str:
    return json.dumps(obj)


class TestChannels:
    @pytest.mark.parametrize(
        ("name", "arg"),
        [
            ("tickers:BTC-USDT", {"channel": "tickers", "instId": "BTC-USDT"}),
            ("orders:SPOT", {"channel": "orders", "instType": "SPOT"}),
            ("account", {"channel": "account"}),
        ],
    )
    def test_names_and_args_round_trip(self, name: str, arg: dict[str, str]) -> None:
        """channel:instId, channel:instType and channel map to OKX args and back."""
        assert channel_arg(name) == arg
        assert channel_name(arg) == name

    def test_push_routed_to_channel_inst(self) -> None:
        """A push goes to channel:instId, delivered whole (books need "action")."""
        push = {
            "arg": {"channel": "books5", "instId": "ETH-USDT"},
            "action": "snapshot",
            "data": [{"asks": [], "bids": []}],
        }
        assert OkxProtocol().decode(frame(push)) == ("books5:ETH-USDT", push)

    def test_other_messages(self) -> None:
        """No event, no arg+data: "message" only; lists too."""
        assert OkxProtocol().decode('{"x": 1}') == (None, {"x": 1})
        assert OkxProtocol().decode("[1]") == (None, [1])
        assert OkxProtocol().decode('{"arg": {"channel": "a"}}') == (
            None,
            {"arg": {"channel": "a"}},
        )

    def test_invalid_json(self) -> None:
        """A frame that is neither pong nor JSON is a FrameError."""
        with pytest.raises(FrameError, match="not valid JSON"):
            OkxProtocol().decode("ping?")

    def test_subscribe_frames(self) -> None:
        """One frame with one arg per channel; none for no channels."""
        protocol = OkxProtocol()
        assert protocol.subscribe(["tickers:BTC-USDT", "account"]) == [
            {
                "op": "subscribe",
                "args": [{"channel": "tickers", "instId": "BTC-USDT"}, {"channel": "account"}],
            }
        ]
        assert protocol.unsubscribe(["tickers:BTC-USDT"]) == [
            {"op": "unsubscribe", "args": [{"channel": "tickers", "instId": "BTC-USDT"}]}
        ]
        assert protocol.subscribe([]) == []
        assert protocol.unsubscribe([]) == []
        assert OkxProtocol.connect_limit == (3, 1.0)


class TestEvents:
    @pytest.mark.parametrize(
        "event",
        [
            {"event": "subscribe", "arg": {"channel": "tickers", "instId": "BTC-USDT"}},
            {"event": "unsubscribe", "arg": {"channel": "tickers"}},
            {"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"},
            {"event": "channel-conn-count", "channel": "orders", "connCount": "2"},
        ],
    )
    def test_consumed(self, event: dict[str, Any]) -> None:
        """Acknowledgements are protocol traffic."""
        assert OkxProtocol().decode(frame(event)) == (CONSUMED, event)

    def test_error_event_without_request(self) -> None:
        """An error event answering no request is a FrameError with OKX's code and msg."""
        error = {"event": "error", "code": "60012", "msg": "Invalid request", "connId": "a"}
        with pytest.raises(FrameError, match="code 60012: Invalid request"):
            OkxProtocol().decode(frame(error))

    def test_login_error_is_the_logins_reply(self) -> None:
        """Login error codes answer the pending login (keyed "login")."""
        error = {"event": "error", "code": "60009", "msg": "Login failed.", "connId": "a"}
        protocol = OkxProtocol()
        assert protocol.decode(frame(error)) == (CONSUMED, error)
        assert protocol.reply_id(error) == "login"
        reply_error = protocol.reply_error(error)
        assert reply_error is not None
        assert (reply_error.code, reply_error.message) == ("60009", "Login failed.")

    def test_notice_asks_for_a_handover(self) -> None:
        """The service-upgrade notice is delivered and asks for a new connection."""
        notice = {"event": "notice", "code": "64008", "msg": "The connection will soon be closed"}
        protocol = OkxProtocol()
        assert protocol.decode(frame(notice)) == (None, notice)
        assert protocol.wants_handover(notice)
        assert not protocol.wants_handover({"event": "notice", "code": "1"})
        assert not protocol.wants_handover("pong")

    def test_pong_and_heartbeat(self) -> None:
        """Text pong is consumed; the heartbeat is text ping after 25 s idle."""
        assert OkxProtocol().decode("pong") == (CONSUMED, "pong")
        spec = OkxProtocol().client_heartbeat
        assert spec is OKX_HEARTBEAT
        assert (spec.interval, spec.make_frame(), spec.when_idle) == (25.0, "ping", True)
        assert spec.is_answer("pong")
        assert not spec.is_answer({"event": "pong"})


class TestRequests:
    def test_string_ids(self) -> None:
        """Requests get a string id; their replies are keyed by it."""
        protocol = OkxProtocol()
        order = {"op": "order", "args": [{"instId": "BTC-USDT", "side": "buy"}]}
        stamped, key = protocol.prepare_request(order, 12)
        assert stamped == {**order, "id": "12"}
        assert key == "12"
        reply = {"id": "12", "op": "order", "code": "0", "msg": "", "data": [{"sCode": "0"}]}
        assert protocol.decode(frame(reply)) == (CONSUMED, reply)
        assert protocol.reply_id(reply) == "12"
        assert protocol.reply_error(reply) is None

    def test_failed_order_names_the_item(self) -> None:
        """An empty top-level msg falls back to the first rejected item's sCode/sMsg."""
        reply = {
            "id": "3",
            "op": "order",
            "code": "1",
            "msg": "",
            "data": [{"sCode": "0"}, {"sCode": "51008", "sMsg": "Insufficient balance"}],
        }
        error = OkxProtocol().reply_error(reply)
        assert isinstance(error, RequestError)
        assert error.code == "1"
        assert error.message == "51008: Insufficient balance"

    def test_login_keyed_login(self) -> None:
        """The login frame carries no id; its reply is keyed "login"."""
        protocol = private()
        login = protocol.login_frame()
        assert protocol.prepare_request(login, 1) == (login, "login")
        assert protocol.reply_id({"event": "login", "code": "0"}) == "login"

    def test_not_replies(self) -> None:
        """Other messages have no reply id and no error."""
        protocol = OkxProtocol()
        assert protocol.reply_id("pong") is None
        assert protocol.reply_id({"event": "error", "code": "60012"}) is None
        assert protocol.reply_error("pong") is None
        assert protocol.reply_error({"event": "subscribe"}) is None

    @pytest.mark.parametrize("bad", ["ping", {"args": []}])
    def test_bad_request_frames(self, bad: Any) -> None:
        """A request is a mapping with an op."""
        with pytest.raises(TypeError, match="mapping with an 'op'"):
            OkxProtocol().prepare_request(bad, 1)


class TestLogin:
    def test_signature_matches_openssl(self) -> None:
        """base64(HMAC-SHA256(timestamp + "GET/users/self/verify")), checked against
        `echo -n 1538054050GET/users/self/verify | openssl dgst -sha256 -hmac <secret>
        -binary | base64` (OKX's documented example frame is signed with another secret)."""
        assert okx_signature(SECRET, "1538054050") == "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="

    def test_login_frame(self) -> None:
        """The documented shape: apiKey, passphrase, timestamp (seconds), sign."""
        assert private().login_frame() == {
            "op": "login",
            "args": [
                {
                    "apiKey": KEY,
                    "passphrase": PASSPHRASE,
                    "timestamp": "1538054050",
                    "sign": "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=",
                }
            ],
        }

    def test_fresh_on_every_call(self) -> None:
        """A later clock: a new timestamp and a new sign."""
        now = [1538054050.0]
        protocol = OkxProtocol(
            api_key=KEY, api_secret=SECRET, passphrase=PASSPHRASE, clock=lambda: now[0]
        )
        first = protocol.login_frame()["args"][0]
        now[0] += 1
        second = protocol.login_frame()["args"][0]
        assert first["timestamp"] != second["timestamp"]
        assert first["sign"] != second["sign"]

    async def test_on_open(self) -> None:
        """on_open requests the login and returns on the login event."""
        protocol = private()
        session = ScriptedSession(protocol, {"event": "login", "code": "0", "msg": ""})
        await protocol.on_open(session)
        assert [key for _frame, key, _t in session.requests] == ["login"]

    async def test_rejected_login(self) -> None:
        """A login error raises AuthenticationError with OKX's code, no credential."""
        protocol = private()
        error = {"event": "error", "code": "60024", "msg": "Wrong passphrase", "connId": "a"}
        with pytest.raises(AuthenticationError, match="Wrong passphrase") as info:
            await protocol.on_open(ScriptedSession(protocol, error))
        assert info.value.code == "60024"
        for secret in (KEY, SECRET, PASSPHRASE):
            assert secret not in str(info.value)

    async def test_public(self) -> None:
        """No credentials: nothing sent."""
        protocol = OkxProtocol()
        session = ScriptedSession(protocol, None)
        await protocol.on_open(session)
        assert session.requests == []
        assert not protocol.private
        assert private().private

    def test_login_needs_credentials(self) -> None:
        """login_frame() without credentials is a ConfigError."""
        with pytest.raises(ConfigError):
            OkxProtocol().login_frame()


class TestOptions:
    def test_secrets_not_in_repr(self) -> None:
        """No credential in the repr."""
        text = repr(private())
        for secret in (KEY, SECRET, PASSPHRASE):
            assert secret not in text

    @pytest.mark.parametrize(
        ("key", "options"),
        [
            ("passphrase", {"api_key": "k", "api_secret": "s"}),
            ("api_key", {"api_secret": "s", "passphrase": "p"}),
            ("login_timeout", {"login_timeout": float("inf")}),
        ],
    )
    def test_bad_options(self, key: str, options: dict[str, Any]) -> None:
        """Incomplete credentials or a bad timeout: a ConfigError naming the key."""
        with pytest.raises(ConfigError) as info:
            OkxProtocol(**options)
        assert info.value.key == key

    def test_with_decoder(self) -> None:
        """with_decoder keeps the credentials."""
        copy = private().with_decoder(json.loads)
        assert copy.passphrase == PASSPHRASE
