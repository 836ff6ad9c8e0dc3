"""Quick start: subscribe to a channel, handle its messages and the lifecycle events.

Run it against any feed speaking the default JSON protocol::

    WSEVENTS_URL=wss://feed.example/ws python examples/quickstart.py

Without ``WSEVENTS_URL`` it runs against an embedded ``FakeServer``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import wsevents


async def main(url: str) -> None:
    ws = wsevents.Connection(url, subscriptions=["trades"])
    trades: list[dict[str, Any]] = []

    @ws.on("connect")
    def on_connect(event: wsevents.Connected) -> None:
        print(f"connected to {event.url} (reconnect: {event.is_reconnect})")

    @ws.on("message:trades")
    async def on_trade(trade: dict[str, Any]) -> None:
        trades.append(trade)
        print(f"trade {trade['symbol']} {trade['qty']} @ {trade['price']}")
        if len(trades) == 3:
            await ws.close()

    @ws.on("disconnect")
    def on_disconnect(event: wsevents.Disconnected) -> None:
        print(f"disconnected: {event.reason.name} (code {event.code})")

    await ws.run()  # until close()
    print(f"received {ws.stats.messages_received} messages")


async def feed(server: Any) -> None:
    """What the embedded server plays: three trades once the client subscribed."""
    client = await server.wait_for_client()
    await client.wait_subscribed("trades")
    for price in (64_000.5, 64_001.0, 63_999.5):
        await server.publish("trades", {"symbol": "BTCUSDT", "price": price, "qty": 0.1})


if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"]))
    else:
        from wsevents.testing import FakeServer

        async def offline() -> None:
            async with FakeServer() as server:
                await asyncio.gather(main(server.url), feed(server))

        asyncio.run(offline())
