"""(a) raw websockets asyncio client -- the practical ceiling.

throughput: `async for msg in ws: d = json.loads(msg)` + a dict lookup on
d["channel"] (sink.route) standing in for minimal user-side routing.
reconnect: the `async for ws in connect(...)` iterator.
"""

import itertools
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import websockets
from harness import client_main
from websockets.asyncio.client import connect


CONTROL_PREFIX = '{"channel": "control"'


async def stream(url, sink, opts):
    async with connect(url) as ws:
        async for msg in ws:
            sink.route(json.loads(msg))
            if sink.done:
                break


_raw_decode = json.JSONDecoder().raw_decode


def _loads(s):
    """json.loads without its two whitespace regex scans (what wsevents' JsonProtocol does)."""
    try:
        obj, end = _raw_decode(s)
    except ValueError:
        return json.loads(s)
    return obj if end == len(s) else json.loads(s)


async def stream_fastjson(url, sink, opts):
    """Reference only: the same loop with wsevents' json.loads equivalent."""
    async with connect(url) as ws:
        async for msg in ws:
            sink.route(_loads(msg))
            if sink.done:
                break


async def stream_nojson(url, sink, opts):
    """Reference only: no JSON decode, just count (shows the json.loads share)."""
    async with connect(url) as ws:
        async for msg in ws:
            if msg.startswith(CONTROL_PREFIX):
                sink.control(json.loads(msg))
                break
            sink.trade(msg)


async def _reconnect(url, sink, **kw):
    async for ws in connect(url, **kw):
        try:
            async for msg in ws:
                sink.route(json.loads(msg))
                if sink.done:
                    return
        except websockets.ConnectionClosed:
            continue


async def reconnect_default(url, sink, opts):
    await _reconnect(url, sink)


async def reconnect_zero(url, sink, opts):
    await _reconnect(url, sink, reconnect_delays=lambda: itertools.repeat(0.0))


VARIANTS = {
    "websockets": dict(
        stream=stream,
        reconnect=reconnect_default,
        packages=["websockets"],
        label="raw websockets `async for msg in ws` + json.loads",
        reconnect_note=(
            "`async for ws in connect()`: reconnects at once after a connection that had opened; "
            "only failed attempts back off: random()*5 s, then 3.1 s x1.618 up to 90 s "
            "(env WEBSOCKETS_BACKOFF_*, or reconnect_delays= in 17.x)"
        ),
    ),
    "websockets-zero-backoff": dict(
        stream=stream,
        reconnect=reconnect_zero,
        packages=["websockets"],
        label="websockets connect(reconnect_delays=repeat(0))",
        reconnect_note=(
            "reconnect_delays=lambda: itertools.repeat(0.0): no floor at all (hot retry loop)"
        ),
        scenarios=["reconnect"],
    ),
    "websockets-fastjson": dict(
        stream=stream_fastjson,
        packages=["websockets"],
        label="raw websockets + json.loads without the whitespace scans (reference)",
        scenarios=["throughput"],
        default=False,
    ),
    "websockets-nojson": dict(
        stream=stream_nojson,
        packages=["websockets"],
        label="raw websockets, no json.loads (reference)",
        scenarios=["throughput"],
        default=False,
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
