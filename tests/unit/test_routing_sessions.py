"""The session hooks of the Protocol base class change nothing for existing protocols."""

from __future__ import annotations

import pytest

from tests.unit._session import ScriptedSession
from wsevents import CONSUMED, JsonProtocol, Protocol, Session
from wsevents.binance import BinanceProtocol


class TestDefaults:
    @pytest.mark.parametrize("protocol", [JsonProtocol(), BinanceProtocol()])
    async def test_on_open_sends_nothing(self, protocol: Protocol) -> None:
        """The default on_open neither sends nor requests."""
        session = ScriptedSession(protocol, None)
        await protocol.on_open(session)
        assert session.sent == []
        assert session.requests == []

    @pytest.mark.parametrize("protocol", [JsonProtocol(), BinanceProtocol()])
    def test_no_requests_by_default(self, protocol: Protocol) -> None:
        """prepare_request says clearly that the protocol has no requests."""
        with pytest.raises(NotImplementedError, match="does not support requests"):
            protocol.prepare_request({"op": "x"}, 1)

    def test_nothing_is_a_reply_or_a_handover(self) -> None:
        """No reply ids, no reply errors, no handover, no heartbeat, no limits."""
        protocol = JsonProtocol()
        message = {"id": 1, "error": "x", "e": "serverShutdown"}
        assert protocol.reply_id(message) is None
        assert protocol.reply_error(message) is None
        assert protocol.wants_handover(message) is False
        assert protocol.client_heartbeat is None
        limits = (protocol.max_channels, protocol.max_channels_per_frame)
        assert limits == (None, None)
        assert (protocol.send_limit, protocol.connect_limit) == (None, None)
        assert protocol.decode('{"channel": "a"}') == ("a", {"channel": "a"})
        assert CONSUMED != "a"

    def test_scripted_session_is_a_session(self) -> None:
        """Session is a structural type: the test double satisfies it for mypy."""
        session: Session = ScriptedSession(JsonProtocol(), None)
        assert callable(session.request)
