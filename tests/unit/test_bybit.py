"""BybitProtocol without sockets: topic routing, 10-topic subscribe frames, op
replies, the ping heartbeat, the auth login and its signature, request ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit._session import ScriptedSession
from wsevents import CONSUMED, AuthenticationError, ConfigError, FrameError, RequestError
from wsevents.bybit import BYBIT_HEARTBEAT, BybitProtocol, bybit_signature


KEY = "bybit-key-XYZ"
SECRET = "test-secret-never-logged"


def private(clock: float = 1662350395.0, **kw: Any) -> BybitProtocol:
    return BybitProtocol(api_key=KEY, api_secret=SECRET, clock=lambda: clock, **kw)


def frame(obj: Any) -> str:
    return json.dumps(obj)


class TestRouting:
    def test_public_topic(self) -> None:
        """A push goes to its topic, delivered whole."""
        push = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1, "data": [{"p": "1"}]}
        assert BybitProtocol().decode(frame(push)) == ("publicTrade.BTCUSDT", push)

    def test_private_topic(self) -> None:
        """Private pushes have a topic too ("order", "execution", ...)."""
        push = {"id": "5923240c", "topic": "order", "creationTime": 1, "data": []}
        assert BybitProtocol().decode(frame(push)) == ("order", push)

    def test_other_messages(self) -> None:
        """Without topic or op a message goes on "message"; bytes decode too."""
        assert BybitProtocol().decode(b'{"x": 1}') == (None, {"x": 1})
        assert BybitProtocol().decode("[1, 2]") == (None, [1, 2])

    def test_invalid_json(self) -> None:
        """A frame that is not JSON is a FrameError."""
        with pytest.raises(FrameError, match="not valid JSON"):
            BybitProtocol().decode("{nope")

    def test_subscribe_frames_of_ten(self) -> None:
        """25 topics become frames of 10, 10 and 5; none for no topics."""
        topics = [f"publicTrade.S{i}USDT" for i in range(25)]
        frames = BybitProtocol().subscribe(topics)
        assert [len(f["args"]) for f in frames] == [10, 10, 5]  # type: ignore[index]
        assert all(f["op"] == "subscribe" for f in frames)  # type: ignore[index]
        assert [t for f in frames for t in f["args"]] == topics  # type: ignore[index]
        assert BybitProtocol().subscribe([]) == []
        assert BybitProtocol().unsubscribe(["orderbook.50.BTCUSDT"]) == [
            {"op": "unsubscribe", "args": ["orderbook.50.BTCUSDT"]}
        ]

    def test_limits(self) -> None:
        """The venue limits are declared."""
        assert BybitProtocol.max_channels_per_frame == 10
        assert BybitProtocol.connect_limit == (500, 300.0)


class TestReplies:
    def test_subscribe_ack_consumed(self) -> None:
        """A successful op reply is protocol traffic."""
        ack = {"success": True, "ret_msg": "", "conn_id": "c1", "req_id": "", "op": "subscribe"}
        assert BybitProtocol().decode(frame(ack)) == (CONSUMED, ack)

    def test_failed_subscribe_is_an_error_event(self) -> None:
        """A failed op reply that answers no request is a FrameError naming ret_msg."""
        nack = {"success": False, "ret_msg": "error:handler not found", "op": "subscribe"}
        with pytest.raises(FrameError, match="'subscribe' failed: error:handler not found"):
            BybitProtocol().decode(frame(nack))

    def test_failed_request_reply_is_consumed(self) -> None:
        """A failed reply with a request id goes to its request (consumed, with an error)."""
        nack = {"success": False, "ret_msg": "bad", "op": "subscribe", "req_id": "7"}
        protocol = BybitProtocol()
        assert protocol.decode(frame(nack)) == (CONSUMED, nack)
        assert protocol.reply_id(nack) == "7"
        error = protocol.reply_error(nack)
        assert isinstance(error, RequestError)
        assert error.message == "bad"

    def test_trade_reply(self) -> None:
        """The trade WebSocket answers with reqId and retCode."""
        protocol = BybitProtocol()
        ok = {"reqId": "3", "retCode": 0, "retMsg": "OK", "op": "order.create", "data": {}}
        bad = {"reqId": "4", "retCode": 10001, "retMsg": "params error", "op": "order.create"}
        assert protocol.decode(frame(ok)) == (CONSUMED, ok)
        assert protocol.reply_id(ok) == "3"
        assert protocol.reply_error(ok) is None
        error = protocol.reply_error(bad)
        assert error is not None
        assert (error.code, error.message) == (10001, "params error")

    def test_not_replies(self) -> None:
        """reply_id / reply_error of other messages are None."""
        protocol = BybitProtocol()
        assert protocol.reply_id([1]) is None
        assert protocol.reply_error("x") is None
        assert protocol.reply_id({"op": "subscribe", "req_id": ""}) is None

    @pytest.mark.parametrize(
        "pong",
        [
            {"success": True, "ret_msg": "pong", "conn_id": "c", "op": "ping"},
            {"req_id": "", "op": "pong", "args": ["1675418560633"], "conn_id": "c"},
        ],
    )
    def test_heartbeat_answers(self, pong: dict[str, Any]) -> None:
        """Both forms of Bybit's pong are consumed and answer the heartbeat."""
        assert BybitProtocol().decode(frame(pong)) == (CONSUMED, pong)
        assert BYBIT_HEARTBEAT.is_answer(pong)
        assert not BYBIT_HEARTBEAT.is_answer("pong")
        assert not BYBIT_HEARTBEAT.is_answer({"op": "subscribe"})

    def test_heartbeat_spec(self) -> None:
        """{"op": "ping"} every 20 s on a fixed schedule."""
        spec = BybitProtocol().client_heartbeat
        assert spec is not None
        assert (spec.interval, spec.make_frame(), spec.when_idle) == (20.0, {"op": "ping"}, False)


class TestRequests:
    def test_req_id_and_req_id_of_trade_ops(self) -> None:
        """op frames get req_id; trade ops (with a dot) get reqId."""
        protocol = BybitProtocol()
        assert protocol.prepare_request({"op": "subscribe", "args": ["a"]}, 5) == (
            {"op": "subscribe", "args": ["a"], "req_id": "5"},
            "5",
        )
        assert protocol.prepare_request({"op": "order.create", "args": [{}]}, 6) == (
            {"op": "order.create", "args": [{}], "reqId": "6"},
            "6",
        )

    def test_auth_keyed_by_op(self) -> None:
        """The auth reply may not echo an id: it is keyed "auth"."""
        protocol = private()
        login = protocol.login_frame()
        assert protocol.prepare_request(login, 1) == (login, "auth")
        assert protocol.reply_id({"success": True, "op": "auth", "conn_id": "c"}) == "auth"

    @pytest.mark.parametrize("bad", ["ping", {"args": []}, {"op": 1}])
    def test_bad_request_frames(self, bad: Any) -> None:
        """A request is a mapping with an op."""
        with pytest.raises(TypeError, match="mapping with an 'op'"):
            BybitProtocol().prepare_request(bad, 1)


class TestLogin:
    def test_signature_matches_openssl(self) -> None:
        """hex HMAC-SHA256("GET/realtime" + expires), checked against
        `echo -n GET/realtime1662350400000 | openssl dgst -sha256 -hmac <secret>`."""
        expected = "d93d93657a8a8e3dd2baeea05e41a971a6b4acd7c8961797372632c5fe5afa7f"
        assert bybit_signature(SECRET, 1662350400000) == expected

    def test_login_frame(self) -> None:
        """args = [api_key, expires (ms, now + expires_in), signature]."""
        login = private(clock=1662350395.0, expires_in=5).login_frame()
        assert login == {
            "op": "auth",
            "args": [KEY, 1662350400000, bybit_signature(SECRET, 1662350400000)],
        }

    def test_fresh_on_every_call(self) -> None:
        """A later clock gives a new expires and a new signature."""
        now = [1000.0]
        protocol = BybitProtocol(api_key=KEY, api_secret=SECRET, clock=lambda: now[0])
        first = protocol.login_frame()
        now[0] += 1
        second = protocol.login_frame()
        assert first["args"][1] != second["args"][1]
        assert first["args"][2] != second["args"][2]

    async def test_on_open_logs_in(self) -> None:
        """on_open sends the auth frame as a request and returns on success."""
        protocol = private()
        session = ScriptedSession(protocol, {"success": True, "ret_msg": "", "op": "auth"})
        await protocol.on_open(session)
        [(sent, key, timeout)] = session.requests
        assert sent["op"] == "auth"  # type: ignore[index]
        assert (key, timeout) == ("auth", 10.0)

    async def test_rejected_login(self) -> None:
        """A failed auth reply raises AuthenticationError, naming Bybit's message only."""
        protocol = private()
        nack = {"success": False, "ret_msg": "Params Error", "op": "auth", "conn_id": "c"}
        rejected = "Bybit rejected the login: Params Error"
        with pytest.raises(AuthenticationError, match=rejected) as e:
            await protocol.on_open(ScriptedSession(protocol, nack))
        assert isinstance(e.value.__cause__, RequestError)
        assert SECRET not in str(e.value)
        assert KEY not in str(e.value)

    async def test_public_sends_nothing(self) -> None:
        """Without credentials on_open does nothing."""
        protocol = BybitProtocol()
        session = ScriptedSession(protocol, None)
        await protocol.on_open(session)
        assert session.requests == []
        assert session.sent == []
        assert not protocol.private
        assert private().private

    def test_login_needs_credentials(self) -> None:
        """login_frame() without credentials is a ConfigError."""
        with pytest.raises(ConfigError, match="api_key"):
            BybitProtocol().login_frame()


class TestOptions:
    def test_secrets_not_in_repr(self) -> None:
        """repr shows neither the key nor the secret."""
        text = repr(private())
        assert KEY not in text
        assert SECRET not in text
        assert text.startswith("BybitProtocol(")

    @pytest.mark.parametrize(
        ("key", "options"),
        [
            ("api_key", {"api_key": ""}),
            ("api_secret", {"api_secret": 3}),
            ("api_secret", {"api_key": "k"}),
            ("expires_in", {"expires_in": 0}),
            ("login_timeout", {"login_timeout": "10"}),
            ("clock", {"clock": 5}),
            ("decoder", {"decoder": None}),
        ],
    )
    def test_bad_options(self, key: str, options: dict[str, Any]) -> None:
        """Each bad option is a ConfigError naming it, never showing a credential."""
        with pytest.raises(ConfigError) as info:
            BybitProtocol(**options)
        assert info.value.key == key
        assert "'k'" not in str(info.value)

    def test_with_decoder(self) -> None:
        """with_decoder keeps the credentials and swaps the decoder."""
        decoded: list[Any] = []

        def loads(data: str | bytes) -> Any:
            decoded.append(data)
            return json.loads(data)

        copy = private().with_decoder(loads)
        assert copy.api_key == KEY
        copy.decode('{"topic": "t"}')
        assert decoded == ['{"topic": "t"}']
