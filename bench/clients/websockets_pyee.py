"""(b) raw websockets + pyee AsyncIOEventEmitter: ee.emit(f"message:{d['channel']}", d).

sync: handlers are plain functions (called inline by emit).
async: handlers are coroutine functions; pyee wraps each call in
asyncio.ensure_future (one Task per message), add_done_callback, and a set.
"""

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing
from websockets.asyncio.client import connect


try:
    from pyee.asyncio import AsyncIOEventEmitter
except ImportError as exc:
    skip_missing(exc, "pyee")


async def _pump(url, sink, ee):
    async with connect(url) as ws:
        async for msg in ws:
            d = json.loads(msg)
            ee.emit(f"message:{d['channel']}", d)
            if sink.done:
                break


async def stream_sync(url, sink, opts):
    ee = AsyncIOEventEmitter()
    ee.on("message:trades", sink.trade)
    ee.on("message:control", sink.control)
    await _pump(url, sink, ee)


async def stream_async(url, sink, opts):
    ee = AsyncIOEventEmitter()

    @ee.on("message:trades")
    async def on_trade(d):
        sink.trade(d)

    @ee.on("message:control")
    async def on_control(d):
        sink.control(d)

    async with connect(url) as ws:
        async for msg in ws:
            d = json.loads(msg)
            ee.emit(f"message:{d['channel']}", d)
            # the end sentinel's handler runs later, as its own task
            if sink.done or d["channel"] == "control":
                break
    await ee.wait_for_complete()
    sink.extra["pending_tasks_at_end"] = len(ee._waiting)


VARIANTS = {
    "pyee-sync": dict(
        stream=stream_sync,
        packages=["websockets", "pyee"],
        label="websockets + pyee emit -> sync handler",
    ),
    "pyee-async": dict(
        stream=stream_async,
        packages=["websockets", "pyee"],
        label="websockets + pyee emit -> async handler (Task per msg)",
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
