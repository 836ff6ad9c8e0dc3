"""Observing a feed: receive times, latency and clock offset, a recording, and its
replay into the very same handlers.

Records ``SECONDS`` (default 10) of a feed publishing ``trades`` with an event time
``E`` (epoch milliseconds), prints the latency and the clock offset, then replays
the recording from a FakeServer into the same handler and checks that it makes
the same calls::

    WSEVENTS_URL=wss://feed.example/ws python examples/observe_feed.py [SECONDS]

Without ``WSEVENTS_URL`` it records an embedded FakeServer's feed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from typing import Any

import wsevents
from wsevents.testing import FakeServer


class TradeLog:
    """The handler under test: it keeps (seq, price, receive time) of every trade."""

    def __init__(self, ws: wsevents.Connection, expected: int | None = None) -> None:
        self.ws = ws
        self.trades: list[tuple[int, float]] = []
        self.expected = expected
        self.done = asyncio.Event()
        ws.on("message:trades", self.on_trade)

    def on_trade(self, trade: dict[str, Any]) -> None:
        received = self.ws.receive_time(trade)  # None unless timestamps=True
        if received is not None:
            delay_ms = received.wall * 1000 - trade["E"]
            print(f"trade {trade['seq']} at {trade['price']}, {delay_ms:.1f} ms after E")
        self.trades.append((trade["seq"], trade["price"]))
        if len(self.trades) == self.expected:
            self.done.set()


async def record(url: str, path: str, seconds: float, most: int | None = None) -> list[Any]:
    """Follow the feed for ``seconds`` (or ``most`` trades), recording it to ``path``."""
    ws = wsevents.Connection(
        url, subscriptions=["trades"], timestamps=True, event_time="E", record=path
    )
    log = TradeLog(ws, expected=most)
    async with ws:
        try:
            await asyncio.wait_for(log.done.wait(), seconds)
        except asyncio.TimeoutError:
            pass  # the time is up
        stats = ws.stats
    if "trades" in stats.latency and stats.clock_offset is not None:
        latency = stats.latency["trades"]
        print(f"latency p50 {latency.p50 * 1000:.1f} ms, p99 {latency.p99 * 1000:.1f} ms")
        print(f"clock offset {stats.clock_offset * 1000:+.1f} ms")
    return log.trades


async def replay(path: str, expected: int) -> list[Any]:
    """Serve the recording to the same handler, as fast as it reads."""
    async with FakeServer() as server:
        replaying = server.replay(path, speed=None)
        ws = wsevents.Connection(server.url, subscriptions=["trades"])
        log = TradeLog(ws, expected=expected)
        async with ws:
            await replaying.wait_finished()
            await asyncio.wait_for(log.done.wait(), 10)
    return log.trades


async def main(url: str, seconds: float = 10.0, most: int | None = 20) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "feed.jsonl.gz")
        live = await record(url, path, seconds, most)
        again = await replay(path, expected=len(live))
        assert again == live, "the replay made other calls"
        print(f"replayed {len(again)} trades into the same handler: identical")


async def feed(server: Any, every: float = 0.0, count: int = 20) -> None:
    """What the embedded server plays: trades stamped 5 ms before they are sent."""
    client = await server.wait_for_client()
    await client.wait_subscribed("trades")
    for seq in range(count):
        price = 64_000 + seq / 2
        await server.publish("trades", {"seq": seq, "price": price, "E": time.time() * 1000 - 5})
        await asyncio.sleep(every)


if __name__ == "__main__":
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"], duration, most=None))
    else:

        async def offline() -> None:
            async with FakeServer() as server:
                trades = int(duration * 10)
                await asyncio.gather(
                    main(server.url, duration + 5, most=trades),
                    feed(server, every=0.1, count=trades),
                )

        asyncio.run(offline())
