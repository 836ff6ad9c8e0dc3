"""(h) aiohttp ClientSession.ws_connect: `async for msg in ws` + json.loads(msg.data)."""

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing


try:
    import aiohttp
except ImportError as exc:
    skip_missing(exc, "aiohttp")

TEXT = aiohttp.WSMsgType.TEXT


async def stream(url, sink, opts):
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            async for msg in ws:
                if msg.type == TEXT:
                    sink.route(json.loads(msg.data))
                    if sink.done:
                        break


VARIANTS = {
    "aiohttp": dict(
        stream=stream,
        packages=["aiohttp"],
        label="aiohttp ws_connect `async for msg in ws` + json.loads",
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
