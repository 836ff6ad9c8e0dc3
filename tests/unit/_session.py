"""A scripted Session for on_open unit tests (the integration tests use a real server)."""

from __future__ import annotations

from typing import Any

from wsevents import Frame, Protocol


class ScriptedSession:
    """Records what on_open sends; request() returns (or raises) what the protocol
    would make of the scripted reply."""

    def __init__(self, protocol: Protocol, reply: Any) -> None:
        self.protocol = protocol
        self.reply = reply
        self.sent: list[Frame] = []
        self.requests: list[tuple[Frame, Any, float]] = []

    async def send(self, frame: Frame) -> None:
        self.sent.append(frame)

    async def request(self, frame: Frame, timeout: float = 10.0) -> Any:
        stamped, key = self.protocol.prepare_request(frame, len(self.requests) + 1)
        self.requests.append((stamped, key, timeout))
        assert self.protocol.reply_id(self.reply) == key, "the reply must answer the request"
        error = self.protocol.reply_error(self.reply)
        if error is not None:
            raise error
        return self.reply
