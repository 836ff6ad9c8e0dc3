"""A websocket-client program, unchanged but for one import.

With websocket-client the first line below reads ``from websocket import
WebSocketApp``; everything else is the usual callback style: subscribe in
``on_open`` with a JSON frame, parse JSON in ``on_message``, and let
``run_forever(reconnect=5)`` reconnect after a drop.  With wsevents underneath,
``on_close`` also reports drops, ``on_open`` runs again after each reconnect
(and sends the subscription again), a slow callback no longer causes ping
timeouts, and an HTTP 401/403 ends ``run_forever`` instead of being retried
forever.

Run it against a server with ``WSEVENTS_URL=ws://... python legacy_callbacks.py``.
It stops by itself after ``limit`` trades, or after ``seconds``; ``feed()`` is
what a test server plays to it.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from wsevents.compat import WebSocketApp


def main(url: str, *, limit: int = 5, seconds: float = 10.0, reconnect_delay: float = 5) -> None:
    """Print trades from ``url`` until ``limit`` arrived or ``seconds`` passed."""
    trades: list[dict[str, Any]] = []

    def on_open(ws: WebSocketApp) -> None:
        print("opened: subscribing to trades")
        ws.send(json.dumps({"op": "subscribe", "channels": ["trades"]}))

    def on_message(ws: WebSocketApp, message: str) -> None:
        msg = json.loads(message)
        if msg.get("channel") != "trades":
            return
        trades.append(msg)
        print(f"trade #{len(trades)}: {msg}")
        if len(trades) >= limit:
            ws.close()

    def on_error(ws: WebSocketApp, error: Exception) -> None:
        print(f"error: {error!r}")

    def on_close(ws: WebSocketApp, close_status_code: int | None, close_msg: str | None) -> None:
        print(f"closed: {close_status_code} {close_msg}")

    ws = WebSocketApp(
        url,
        on_open=on_open,
        on_message=on_message,
        on_error=on_error,
        on_close=on_close,
    )
    timer = threading.Timer(seconds, ws.close)
    timer.start()
    try:
        errored = ws.run_forever(ping_interval=20, ping_timeout=10, reconnect=reconnect_delay)
    finally:
        timer.cancel()
        timer.join()
    print(f"done: {len(trades)} trades, errors: {errored}")


async def feed(server: Any) -> None:
    """What a test server (``wsevents.testing.FakeServer``) plays: five trades."""
    client = await server.wait_for_client()
    await client.wait_subscribed("trades")
    for n in range(5):
        await client.publish("trades", {"price": 100 + n})


if __name__ == "__main__":
    main(os.environ.get("WSEVENTS_URL", "ws://127.0.0.1:8765/"))
