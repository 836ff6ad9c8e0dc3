"""Never lose a message silently: make-before-break handover, de-duplication and
sequence gaps, against a FakeServer publishing a numbered stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import wsevents
from tests.conftest import Recorder, until
from wsevents import DisconnectReason, State
from wsevents.policies import MaxConnectionAge
from wsevents.testing import FakeServer


Make = Callable[..., wsevents.Connection]


class Publisher:
    """Publishes ``{"channel": "ticks", "seq": n}`` at about ``rate`` messages a second."""

    def __init__(self, server: FakeServer, rate: int = 10_000) -> None:
        self.server = server
        self.rate = rate
        self.next = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            due = int((loop.time() - started) * self.rate)
            while self.next < due:
                await self.server.publish("ticks", {"seq": self.next})
                self.next += 1
            await asyncio.sleep(0.001)  # the feed's pace, not synchronisation

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> int:
        """Stop publishing; the number of messages published."""
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait({self._task})
        return self.next


@pytest.mark.parametrize("mode", ["dedup_key", "sequence", "equality"])
async def test_100_handovers_deliver_every_message_exactly_once(
    server: FakeServer, make_connection: Make, mode: str
) -> None:
    """100 planned handovers under a 10,000 msg/s stream: every number once, in order."""
    options: dict[str, Any] = {}
    if mode == "dedup_key":
        options["dedup_key"] = lambda m: m["seq"]
    elif mode == "sequence":
        options["sequence"] = lambda m: m.get("seq")
    ws = make_connection(server.url, queue_size=1_000_000, **options)
    got: list[int] = []
    ws.on("message:ticks", lambda m: got.append(m["seq"]))
    rec = Recorder(ws, "handover", "disconnect", "gap")
    await ws.connect()
    await server.wait_for_client()
    publisher = Publisher(server)
    publisher.start()
    try:
        await until(lambda: len(got) > 50, 5)
        for _ in range(100):
            await asyncio.wait_for(ws.handover(), 5)
        mark = len(got)
        await until(lambda: len(got) > mark + 50, 5)
    finally:
        published = await publisher.stop()
    await until(lambda: got and got[-1] == published - 1, 5)
    assert got == list(range(got[0], published))
    assert len(rec.of("handover")) == 100
    assert all(d.reason is DisconnectReason.HANDOVER for d in rec.of("disconnect"))
    assert all(d.proactive for d in rec.of("disconnect"))
    assert rec.of("gap") == []
    assert server.connections == 101
    stats = ws.stats
    assert stats.messages_dropped == 0
    assert stats.duplicates_dropped == sum(h.duplicates_dropped for h in rec.of("handover"))
    assert stats.proactive_disconnects == 100
    assert stats.reactive_disconnects == 0


async def test_handover_events(server: FakeServer, make_connection: Make) -> None:
    """A handover emits connect (new), disconnect (old, HANDOVER), then handover."""
    ws = make_connection(server.url, dedup_key=lambda m: m["seq"])
    rec = Recorder(ws, "connect", "disconnect", "handover")
    await ws.connect()
    await server.wait_for_client()
    await server.publish("ticks", {"seq": 0})
    await rec.wait_count("connect", 1)
    handing = asyncio.ensure_future(ws.handover())
    await server.wait_for_client(2)
    await server.publish("ticks", {"seq": 1})  # reaches both connections
    await asyncio.wait_for(handing, 5)
    await server.publish("ticks", {"seq": 2})  # the first new message ends the overlap
    await rec.wait_count("handover", 1)
    assert rec.names() == ["connect", "connect", "disconnect", "handover"]
    new = rec.of("connect")[1]
    assert (new.is_reconnect, new.downtime) == (True, 0.0)
    old = rec.of("disconnect")[0]
    assert (old.reason, old.proactive, old.code) == (DisconnectReason.HANDOVER, True, 1000)
    report = rec.of("handover")[0]
    assert isinstance(report, wsevents.Handover)
    assert report.overlap > 0
    assert ws.state is State.CONNECTED
    assert len(server.clients) == 1


async def test_failed_handover_keeps_the_old_connection(
    server: FakeServer, make_connection: Make
) -> None:
    """If the new connection cannot open, the old one stays and the handover is retried."""
    ws = make_connection(server.url)
    rec = Recorder(ws, "error", "handover", "disconnect", "message:ticks")
    await ws.connect()
    await server.wait_for_client()
    server.refuse(status=503, count=2)
    handing = asyncio.ensure_future(ws.handover())
    await rec.wait_count("error", 2)
    assert isinstance(rec.of("error")[0], wsevents.HandshakeRejected)
    assert rec.of("disconnect") == []
    await server.publish("ticks", {"seq": 1})  # the old connection still delivers
    await rec.wait_count("message:ticks", 1)
    await server.wait_for_client(2)
    await server.publish("ticks", {"seq": 2})
    await asyncio.wait_for(handing, 5)
    await server.publish("ticks", {"seq": 3})
    await rec.wait_count("handover", 1)
    assert server.handshakes == 4


async def test_max_connection_age_hands_over(server: FakeServer, make_connection: Make) -> None:
    """A MaxConnectionAge recycle is a make-before-break handover by default."""
    ws = make_connection(
        server.url, should_disconnect=MaxConnectionAge(0.3), handover_timeout=0.2
    )
    rec = Recorder(ws, "handover", "disconnect")
    await ws.connect()
    await server.wait_for_client()
    await server.wait_for_client(2)
    await rec.wait_count("handover", 1)
    assert rec.of("disconnect")[0].reason is DisconnectReason.HANDOVER


async def test_handover_can_be_disabled(server: FakeServer, make_connection: Make) -> None:
    """handover=False: a recycle is a plain disconnect (POLICY) and reconnect."""
    ws = make_connection(server.url, should_disconnect=MaxConnectionAge(0.3), handover=False)
    rec = Recorder(ws, "connect", "disconnect", "handover")
    await ws.connect()
    await rec.wait_count("connect", 2)
    assert rec.of("disconnect")[0].reason is DisconnectReason.POLICY
    assert rec.of("handover") == []


async def test_handover_needs_a_connection(make_connection: Make) -> None:
    """handover() while not connected raises NotConnected."""
    ws = make_connection("ws://127.0.0.1:9/")
    with pytest.raises(wsevents.NotConnected):
        await ws.handover()


async def test_reactive_drop_is_one_gap(server: FakeServer, make_connection: Make) -> None:
    """Messages missed during a drop give exactly one gap with the right bounds."""
    ws = make_connection(server.url, sequence=lambda m: m["seq"])
    rec = Recorder(ws, "gap", "connect", "message:ticks")
    await ws.connect()
    await server.wait_for_client()
    for seq in range(10):
        await server.publish("ticks", {"seq": seq})
    await rec.wait_count("message:ticks", 10)
    await server.drop()
    await rec.wait_count("connect", 2)
    for seq in range(20, 25):  # 10..19 were published while the client was away
        await server.publish("ticks", {"seq": seq})
    await rec.wait_count("message:ticks", 15)
    assert rec.of("gap") == [wsevents.Gap(channel="ticks", expected=10, received=20, missing=10)]
    assert rec.of("connect")[1].last_sequences == {"ticks": 9}
    # the gap is reported before the message that revealed it
    names = rec.names()
    assert names.index("gap") < len(names) - 5
    assert ws.stats.gaps == 1


async def test_repeats_and_steps_back_are_reported_not_delivered(
    server: FakeServer, make_connection: Make
) -> None:
    """A repeated or older sequence number is a gap event (missing=0), never delivered twice."""
    ws = make_connection(server.url, sequence={"ticks": lambda m: m["seq"]})
    rec = Recorder(ws, "gap", "message:ticks", "message:other")
    await ws.connect()
    await server.wait_for_client()
    for seq in (1, 2, 2, 1, 3):
        await server.publish("ticks", {"seq": seq})
    await server.publish("other", {"seq": 1})  # untracked channel
    await server.publish("other", {"seq": 1})
    await rec.wait_count("message:other", 2)
    assert [m["seq"] for m in rec.of("message:ticks")] == [1, 2, 3]
    assert rec.of("gap") == [
        wsevents.Gap(channel="ticks", expected=3, received=2, missing=0),
        wsevents.Gap(channel="ticks", expected=3, received=1, missing=0),
    ]
    assert ws.stats.duplicates_dropped == 2


async def test_a_raising_sequence_function_is_reported(
    server: FakeServer, make_connection: Make
) -> None:
    """A sequence function that raises gives an error event; the message is still delivered."""
    ws = make_connection(server.url, sequence=lambda m: m["seq"])
    rec = Recorder(ws, "error", "message:ticks")
    await ws.connect()
    await server.wait_for_client()
    await server.publish("ticks", {"no_seq": True})
    await rec.wait_count("message:ticks", 1)
    await rec.wait_count("error", 1)
    assert "sequence function failed" in str(rec.of("error")[0])


def test_bad_sequence_options() -> None:
    """sequence= and dedup_key= are validated."""
    with pytest.raises(wsevents.ConfigError):
        wsevents.Connection("ws://h/", sequence=3)  # type: ignore[arg-type]
    with pytest.raises(wsevents.ConfigError):
        wsevents.Connection("ws://h/", sequence={"a": 3})  # type: ignore[dict-item]
    with pytest.raises(wsevents.ConfigError):
        wsevents.Connection("ws://h/", dedup_key="seq")  # type: ignore[arg-type]

