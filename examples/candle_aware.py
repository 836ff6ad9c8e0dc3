"""Candle-aware feed: be connected only around 4h candle closes.

A client that only needs the closing candles has no reason to hold a connection
open for four hours: ``CandleAware`` keeps it up from a minute before each close
to 30 s after it, drops it in the quiet middle of the candle, and brings it back
in time for the next close.

Run it against any feed speaking the default JSON protocol::

    WSEVENTS_URL=wss://feed.example/ws python examples/candle_aware.py

Without ``WSEVENTS_URL`` it runs an offline demo against an embedded
``FakeServer``, with a simulated wall clock that walks through two closes.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import wsevents
from wsevents.policies import CandleAware


def candle_feed(url: str, **options: Any) -> wsevents.Connection:
    candles = CandleAware("4h", stay_before=60, stay_after=30)
    ws = wsevents.Connection(
        url,
        subscriptions=["candles"],
        should_disconnect=candles,  # away in the quiet middle of a candle
        should_reconnect=candles,  # back 60 s (plus a 10 s lead) before the next close
        **options,
    )
    ws.on("connect", lambda event: print(f"connected (reconnect: {event.is_reconnect})"))
    ws.on("disconnect", lambda event: print(f"disconnected: {event.reason.name}"))

    @ws.on("message:candles")
    def on_candle(candle: dict[str, Any]) -> None:
        print(f"{candle['symbol']} {candle['interval']} candle closed at {candle['close']}")

    return ws


# -- the offline demo -------------------------------------------------------------------------

#: a 4h candle close (candles are aligned on midnight UTC)
CLOSE = datetime(2024, 3, 4, 8, 0, tzinfo=timezone.utc)


class SimulatedClock:
    """A wall clock the demo sets by hand: ``utc_now=`` takes any callable."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def next_event(ws: wsevents.Connection, event: str) -> asyncio.Future[Any]:
    """A future set to the next payload of ``event``."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def resolve(payload: Any) -> None:
        if not future.done():
            future.set_result(payload)

    ws.once(event, resolve)
    return future


async def main(url: str) -> None:
    """The demo: connected before a close, away mid-candle, back before the next close."""
    clock = SimulatedClock(CLOSE - timedelta(seconds=45))
    ws = candle_feed(url, utc_now=clock, check_interval=0.02)
    first_candle = next_event(ws, "message:candles")
    await ws.connect()
    await first_candle  # the 08:00 candle closes while we are connected

    disconnected = next_event(ws, "disconnect")
    clock.now = CLOSE + timedelta(hours=2)  # the quiet middle of the next candle
    await disconnected
    print(f"paused until shortly before {CLOSE + timedelta(hours=4):%H:%M} (state {ws.state.name})")

    second_candle = next_event(ws, "message:candles")
    clock.now = CLOSE + timedelta(hours=4, seconds=-70)  # 70 s before the 12:00 close
    await second_candle
    await ws.close()


async def feed(server: Any) -> None:
    """What the embedded server plays: one closing candle for each connection."""
    for n, close in enumerate((64_000.5, 64_210.0), start=1):
        client = await server.wait_for_client(n)
        await client.wait_subscribed("candles")
        await client.publish("candles", {"symbol": "BTCUSDT", "interval": "4h", "close": close})


async def live(url: str) -> None:
    """Against a real feed: the real clock, until interrupted."""
    await candle_feed(url).run()


if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(live(os.environ["WSEVENTS_URL"]))
    else:
        from wsevents.testing import FakeServer

        async def offline() -> None:
            async with FakeServer() as server:
                await asyncio.gather(main(server.url), feed(server))

        asyncio.run(offline())
