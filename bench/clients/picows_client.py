"""(c) picows -- Cython asyncio WebSocket client (callback per frame).

picows: native WSListener.on_ws_frame + json.loads(frame payload), route on channel.
picows-compat: picows' websockets-compatible API (`from picows.websockets import connect`),
same user code as raw websockets.
picows uses aiofastnet (a faster transport, pulled in as a dependency) when installed.
"""

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing


try:
    from picows import WSListener, WSMsgType, ws_connect
except ImportError as exc:
    skip_missing(exc, "picows")


class Listener(WSListener):
    def __init__(self, sink):
        self.sink = sink

    def on_ws_frame(self, transport, frame):
        mt = frame.msg_type
        if mt == WSMsgType.TEXT:
            self.sink.route(json.loads(frame.get_payload_as_utf8_text()))
            if self.sink.done:
                transport.send_close()
                transport.disconnect()
        elif mt == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif mt == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())


async def _stream(url, sink, opts, **kw):
    transport, _ = await ws_connect(lambda: Listener(sink), url, **kw)
    await transport.wait_disconnected()


async def stream(url, sink, opts):
    await _stream(url, sink, opts)


async def stream_noafn(url, sink, opts):
    await _stream(url, sink, opts, use_aiofastnet=False)


async def stream_compat(url, sink, opts):
    from picows.websockets import connect

    async with connect(url) as ws:
        async for msg in ws:
            sink.route(json.loads(msg))
            if sink.done:
                break


VARIANTS = {
    "picows": dict(
        stream=stream,
        packages=["picows", "aiofastnet"],
        label="picows WSListener.on_ws_frame + json.loads",
    ),
    "picows-no-aiofastnet": dict(
        stream=stream_noafn,
        packages=["picows"],
        label="picows, use_aiofastnet=False (plain asyncio transport)",
        default=False,
    ),
    "picows-compat": dict(
        stream=stream_compat,
        packages=["picows"],
        label="picows.websockets compat API `async for msg in ws`",
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
