"""Private channels and requests: log in on every connect, subscribe to a private
topic, place an order over the socket, and log in again (a new signature) after a
reconnect.

Against Bybit's private endpoint (keys from the environment)::

    BYBIT_KEY=... BYBIT_SECRET=... WSEVENTS_URL=wss://stream.bybit.com/v5/private \\
        python examples/private_session.py

Without ``WSEVENTS_URL`` it runs against an embedded ``FakeServer`` playing the
venue (it checks each login's signature the way Bybit does).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import Any

import wsevents
from wsevents.bybit import BybitProtocol


KEY = os.environ.get("BYBIT_KEY", "demo-key")
SECRET = os.environ.get("BYBIT_SECRET", "demo-secret")


async def main(url: str) -> None:
    ws = wsevents.Connection(
        url,
        protocol=BybitProtocol(api_key=KEY, api_secret=SECRET),  # logs in on every connect
        subscriptions=["order"],  # sent only once the login was acknowledged
    )
    fills: list[dict[str, Any]] = []

    @ws.on("connect")
    def on_connect(event: wsevents.Connected) -> None:
        print(f"logged in and subscribed (reconnect: {event.is_reconnect})")

    @ws.on("message:order")
    async def on_order(update: dict[str, Any]) -> None:
        fills.append(update)
        print(f"order update: {update['data'][0]['orderStatus']}")
        if len(fills) == 2:
            await ws.close()

    async with ws:
        reply = await ws.request(
            {"op": "order.create", "args": [{"symbol": "BTCUSDT", "side": "Buy", "qty": "0.01"}]},
            timeout=5.0,
        )
        print(f"order accepted: {reply['data']['orderId']}")
        await ws.wait_closed()


async def feed(server: Any) -> None:
    """The venue: checks each login like Bybit, answers the order, sends two updates
    with a dropped connection between them (the client logs in again)."""
    signatures: list[str] = []
    ordered = asyncio.Event()

    @server.on_message
    async def venue(client: Any, frame: Any) -> None:
        op = frame.get("op")
        if op == "auth":
            _key, expires, signature = frame["args"]
            expected = hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(), "sha256")
            ok = signature == expected.hexdigest() and signature not in signatures
            signatures.append(signature)
            await client.send({"op": "auth", "success": ok, "ret_msg": "", "conn_id": "c"})
        elif op == "order.create":
            reply = {"orderId": "1321003749386327552"}
            await client.send({"reqId": frame["reqId"], "retCode": 0, "op": op, "data": reply})
            await client.send(update("New"))
            ordered.set()

    def update(status: str) -> dict[str, Any]:
        order = {"orderId": "1321003749386327552", "orderStatus": status}
        return {"topic": "order", "data": [order]}

    def subscribed(frames: list[Any]) -> bool:
        return any(isinstance(f, dict) and f.get("op") == "subscribe" for f in frames)

    client = await server.wait_for_client()
    await ordered.wait()  # answered, and the first update sent: now a network blip
    await client.drop()
    client = await server.wait_for_client(2)
    await client.wait_received(subscribed)
    await client.send(update("Filled"))
    assert len(set(signatures)) == 2 == len(signatures), "each login is signed afresh"


if __name__ == "__main__":
    if "WSEVENTS_URL" in os.environ:
        asyncio.run(main(os.environ["WSEVENTS_URL"]))
    else:
        from wsevents.testing import FakeServer

        async def offline() -> None:
            async with FakeServer() as server:
                await asyncio.gather(main(server.url), feed(server))

        asyncio.run(offline())
