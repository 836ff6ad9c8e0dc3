"""Never lose a message silently: make-before-break handover and sequence gaps.

A planned reconnect (``await ws.handover()``, or a ``MaxConnectionAge`` policy)
opens and subscribes the new connection before the old one is closed, and drops
the messages both delivered.  A reactive reconnect cannot do that: the messages
sent while the client was away are gone, and the ``gap`` event says which, so
the application can resync (here: from a REST snapshot) before acting.

Run it against a feed whose messages carry a ``seq`` number::

    WSEVENTS_URL=wss://feed.example/ws python examples/no_gaps.py

Without ``WSEVENTS_URL`` it runs against an embedded ``FakeServer``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import wsevents


async def resync_from_snapshot(channel: str) -> None:
    """Stands for the application's REST snapshot request."""
    print(f"resyncing {channel} from a snapshot")


async def main(url: str) -> None:
    ws = wsevents.Connection(
        url,
        subscriptions=["ticks"],
        sequence=lambda msg: msg.get("seq"),  # numbers to track, per channel
        dedup_key=lambda msg: msg["seq"],  # identity of a message across connections
    )

    @ws.on("gap")
    async def on_gap(gap: wsevents.Gap) -> None:
        print(f"gap on {gap.channel}: expected {gap.expected}, got {gap.received}")
        await resync_from_snapshot(gap.channel)

    @ws.on("handover")
    def on_handover(report: wsevents.Handover) -> None:
        print(f"handover: {report.duplicates_dropped} duplicates dropped")

    @ws.on("message:ticks")
    async def on_tick(tick: dict[str, Any]) -> None:
        if tick["seq"] == 9:
            await ws.handover()  # a planned reconnect, make-before-break
        if tick["seq"] == 20:
            await ws.close()

    await ws.run()
    print(f"gaps: {ws.stats.gaps}, duplicates dropped: {ws.stats.duplicates_dropped}")


async def feed(server: Any) -> None:
    """The embedded server's script: a numbered stream, a handover, a drop."""
    first = await server.wait_for_client()
    await first.wait_subscribed("ticks")
    for seq in range(10):
        await server.publish("ticks", {"seq": seq})
    second = await server.wait_for_client(2)  # the handover's new connection
    await second.wait_subscribed("ticks")
    for seq in range(10, 15):  # reach both connections: de-duplicated
        await server.publish("ticks", {"seq": seq})
    await first.wait_closed()
    await server.publish("ticks", {"seq": 15})
    await server.drop()  # a reactive drop: 16 to 18 are missed
    third = await server.wait_for_client(3)
    await third.wait_subscribed("ticks")
    for seq in range(19, 21):
        await server.publish("ticks", {"seq": seq})


if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"]))
    else:
        from wsevents.testing import FakeServer

        async def offline() -> None:
            async with FakeServer() as server:
                await asyncio.gather(main(server.url), feed(server))

        asyncio.run(offline())
