"""The fuzz harness can fail: its oracle and its checks catch wrong outcomes."""

from __future__ import annotations

import pytest

import tests.fuzz._harness as harness
from tests.fuzz._harness import Keep, Replace, _short, matches, open_live, same
from wsevents import DisconnectReason, FrameError
from wsevents.testing import FakeClient


def test_same() -> None:
    nan = float("nan")
    assert same({"a": [1, nan, {"b": None}]}, {"a": [1, nan, {"b": None}]})
    assert not same(1, 1.0)
    assert not same(True, 1)
    assert not same(nan, 1.0)
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not same([1, 2], [1, 2, 3])
    assert not same([1, [2]], [1, [3]])
    deep: list[object] = []
    other: list[object] = []
    for _ in range(100_000):
        deep, other = [deep], [other]
    assert same(deep, other)
    assert "nested too deep" in _short([("message", deep)])


def test_matches() -> None:
    error = FrameError("bad", "x")
    assert matches([("error", error), ("message", 1)], (("error", "x"), ("message", 1)))
    assert not matches([("error", error)], (("error", "y"),))
    assert not matches([("error", ValueError("x"))], (("error", "x"),))
    assert not matches([("message", 1)], (("message", 2),))
    assert not matches([("message", 1)], (("message:a", 1),))
    assert not matches([], (("message", 1),))


async def test_wrong_outcomes_fail_and_the_next_example_starts_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(harness, "WAIT", 0.3)
    valid = '{"channel": "a", "n": 1}'

    def send_valid(client: FakeClient) -> object:
        return client.websocket.send(valid)

    def close_1000(client: FakeClient) -> object:
        return client.close(1000, "bye")

    async for live in open_live("websockets", None):
        good = Keep((("message:a", {"channel": "a", "n": 1}),))
        await live.check(send_valid, good)
        with pytest.raises(AssertionError, match="delivered"):
            await live.check(send_valid, Keep(()))
        with pytest.raises(AssertionError, match="hang: no disconnect"):
            await live.check(send_valid, Replace(DisconnectReason.PROTOCOL_ERROR, 1009))
        with pytest.raises(AssertionError, match="expected"):
            await live.check(close_1000, Replace(DisconnectReason.SERVER_CLOSE, 1001))
        with pytest.raises(AssertionError, match="reason 'bye'"):
            await live.check(close_1000, Replace(DisconnectReason.SERVER_CLOSE, 1000, "ciao"))
        with pytest.raises(AssertionError, match="before the disconnect"):
            await live.check(
                close_1000,
                Replace(DisconnectReason.SERVER_CLOSE, 1000, "bye", (("message", 1),)),
            )
        with pytest.raises(AssertionError, match="the connection ended"):
            await live.check(close_1000, good)
        # each failed example left the connection dirty: the next one reconnects
        failed = live.ws
        await live.check(send_valid, good)
        assert live.ws is not failed
        assert failed.state.name == "CLOSED"
        await live.check(close_1000, Replace(DisconnectReason.SERVER_CLOSE, 1000, "bye"))
