"""(g) dccd WebSocketBase subclass consuming stream_raw().

stream_raw(): `async with websockets.connect(url, close_timeout=1) as ws:
async for raw in ws: yield raw` inside a reconnect loop -- one async-generator
hop per message on top of raw websockets.  No routing: the user routes.
Reconnect: a clean close (1000) ends `async for` without an exception and
reconnects at once; any error (1011, 1006, refused, 503) sleeps
dccd.transport.ws._INITIAL_DELAY = 1.0 s, doubling to 60 s (module constants,
no API to change them).
"""

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing


try:
    from dccd.transport.ws import WebSocketBase
except ImportError as exc:
    skip_missing(exc, "dccd")


class BenchWS(WebSocketBase):
    pass


async def stream(url, sink, opts):
    ws = BenchWS(url)
    agen = ws.stream_raw()
    try:
        async for raw in agen:
            sink.route(json.loads(raw))
            if sink.done:
                ws.stop()
                break
    finally:
        await agen.aclose()


VARIANTS = {
    "dccd": dict(
        stream=stream,
        reconnect=stream,
        packages=["dccd", "websockets"],
        label="dccd WebSocketBase.stream_raw() + json.loads",
        reconnect_note=(
            "clean close 1000: immediate; errors (1011/1006/503): sleep 1.0 s doubling to 60 s "
            "(module constants _INITIAL_DELAY/_MAX_DELAY, not configurable)"
        ),
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
