"""(f) o2-sdk O2WebSocket pointed at the bench server.

O2WebSocket(NetworkConfig(ws_url=...)): a listener task does ws.recv() ->
json.loads -> routes on data["action"] -> put_nowait into each subscriber's
asyncio.Queue(maxsize=1000) (dropped with a WARNING when full) ->
stream_trades() does `_wait_for_message` (fast path get_nowait when the queue is
non-empty, else two ensure_future tasks + asyncio.wait) and yields
TradeUpdate.from_dict(msg) for the matching market_id.
The server is asked (wait_sub=1) to wait for the subscribe message, since
messages arriving before stream_trades() registers its queue are discarded.
TradeUpdate keeps none of our fields, so for paced/reconnect the server puts
"conn|drop_ts|ts" in onchain_timestamp; the end sentinel has seen_timestamp "END"
and the sent count in onchain_timestamp.
"""

import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing


try:
    from o2_sdk.config import NetworkConfig
    from o2_sdk.websocket import O2WebSocket
except ImportError as exc:
    skip_missing(exc, "o2-sdk")

MARKET = "0x01"


async def _run(url, sink, decode_fields):
    ws = O2WebSocket(NetworkConfig(api_base="", ws_url=url, fuel_rpc="", faucet_url=None))
    await ws.connect()
    try:
        async for upd in ws.stream_trades(MARKET):
            if upd.seen_timestamp == "END":
                sink.control({"type": "end", "sent": int(upd.onchain_timestamp)})
                break
            if decode_fields:
                conn, drop_ts, ts = upd.onchain_timestamp.split("|")
                sink.trade({"conn": int(conn), "drop_ts": float(drop_ts), "ts": float(ts)})
            else:
                sink.trade(upd)
    finally:
        await ws.disconnect()


async def stream(url, sink, opts):
    await _run(url, sink, sink.kind == "paced")


async def stream_unbounded(url, sink, opts):
    """PATCHED: subscriber queues unbounded, to measure the dispatch path without drops."""
    import asyncio

    def _register_queue(self, key):
        q = asyncio.Queue(maxsize=0)
        self._subscriber_queues.setdefault(key, []).append(q)
        return q

    O2WebSocket._register_queue = _register_queue
    await _run(url, sink, sink.kind == "paced")


async def reconnect(url, sink, opts):
    await _run(url, sink, True)


VARIANTS = {
    "o2-sdk": dict(
        stream=stream,
        reconnect=reconnect,
        packages=["o2-sdk", "websockets"],
        url_params={"wait_sub": "1", "o2": "1"},
        label="o2-sdk O2WebSocket.stream_trades() (TradeUpdate objects)",
        reconnect_note=(
            "fixed 1.0 s sleep before every reconnect attempt (self._reconnect_delay, reset to 1.0 "
            "on each successful connect, x2 up to 60 s on failures); not configurable"
        ),
    ),
    "o2-sdk-unbounded-patched": dict(
        stream=stream_unbounded,
        packages=["o2-sdk", "websockets"],
        url_params={"wait_sub": "1", "o2": "1"},
        label="o2-sdk, monkeypatched unbounded subscriber queue (no drops)",
        scenarios=["throughput"],
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
