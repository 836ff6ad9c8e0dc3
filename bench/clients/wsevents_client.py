"""wsevents (this repository), the system under test.

    ws = wsevents.Connection(url)
    ws.on("message:trades")(handler)        # or @ws.on("message:trades")
    await ws.run()                          # returns once close() is done

The sink's end sentinel (channel "control") finishes the run: its callback
schedules ``ws.close()``, and ``run()`` returns when the connection is closed.

Variants:
  wsevents-sync     one plain-function handler on "message:trades" (the sink itself)
  wsevents-async    one coroutine-function handler on "message:trades"
  wsevents-async-io, wsevents-async-io-block
                    (slow consumer only) an async handler that awaits once per
                    message, so the reader keeps reading while it works: the
                    bounded queue (10,000, drop_oldest / block) takes the backlog
  wsevents-message  one handler on the generic "message" event, user routes (extra)
  wsevents-stream   `async for msg in ws.stream("message:trades")` (extra)
  wsevents-orjson   wsevents-sync with decoder="orjson" (throughput only, needs orjson)
  wsevents-handover-ready
                    wsevents-sync with dedup_key set: handover armed, none happening:
                    what the feature costs outside a handover's overlap (extra)
  wsevents-sequence wsevents-sync with sequence tracking on "trades" (extra)
  wsevents-picows-sync, wsevents-picows-async
                    wsevents-sync / wsevents-async with transport="picows" (needs picows)
  wsevents-picows-orjson
                    wsevents-picows-sync with decoder="orjson" (throughput only)
  wsevents-picows-recv
                    wsevents-picows-sync without the frame-callback path: every
                    frame through picows.websockets' recv() (extra, for A/B)
  wsevents-recv     wsevents-sync without the frame-callback path: every frame
                    through websockets' recv() (extra, for A/B)
"""

import asyncio
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing


try:
    import wsevents
except ImportError as exc:
    skip_missing(exc, "wsevents")

PACKAGES = ["wsevents", "websockets", "pyee", "attrs"]
_tasks: set = set()


def _connection(url, sink, **options):
    ws = wsevents.Connection(url, **options)
    sink.extra["wsevents_file"] = wsevents.__file__

    def stop():
        task = asyncio.ensure_future(ws.close())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    sink.on_finish(stop)
    return ws


async def stream_sync(url, sink, opts, **options):
    ws = _connection(url, sink, **options)
    ws.on("message:trades")(sink.trade)
    ws.on("message:control")(sink.control)
    await ws.run()
    sink.extra.update(_stats(ws))


async def stream_async(url, sink, opts, **options):
    ws = _connection(url, sink, **options)

    @ws.on("message:trades")
    async def on_trade(msg):
        sink.trade(msg)

    @ws.on("message:control")
    async def on_control(msg):
        sink.control(msg)

    await ws.run()
    sink.extra.update(_stats(ws))


async def _stream_io(url, sink, opts, **options):
    ws = _connection(url, sink, **options)

    @ws.on("message:trades")
    async def on_trade(msg):
        sink.trade(msg)
        await asyncio.sleep(0)  # stands for awaited I/O: the reader runs meanwhile

    ws.on("message:control")(sink.control)
    await ws.run()
    sink.extra.update(_stats(ws))


async def stream_io(url, sink, opts):
    await _stream_io(url, sink, opts)


async def stream_io_block(url, sink, opts):
    await _stream_io(url, sink, opts, overflow="block")


async def stream_message(url, sink, opts):
    ws = _connection(url, sink)
    ws.on("message")(sink.route)
    await ws.run()
    sink.extra.update(_stats(ws))


async def stream_iter(url, sink, opts):
    ws = _connection(url, sink)
    trades = ws.stream("message:trades", maxsize=10_000)
    control = asyncio.ensure_future(_controls(ws, sink))
    runner = asyncio.ensure_future(ws.run())
    try:
        async for msg in trades:
            sink.trade(msg)
    finally:
        control.cancel()
    await runner
    sink.extra.update(_stats(ws))


async def _controls(ws, sink):
    async for msg in ws.stream("message:control"):
        sink.control(msg)


async def stream_orjson(url, sink, opts):
    await stream_sync(url, sink, opts, decoder="orjson")


async def stream_handover_ready(url, sink, opts):
    await stream_sync(url, sink, opts, dedup_key=lambda msg: msg["seq"])


async def stream_sequence(url, sink, opts):
    await stream_sync(url, sink, opts, sequence={"trades": lambda msg: msg["seq"]})


async def stream_picows_sync(url, sink, opts):
    await stream_sync(url, sink, opts, transport="picows")


async def stream_picows_async(url, sink, opts):
    await stream_async(url, sink, opts, transport="picows")


async def stream_picows_recv(url, sink, opts):
    from wsevents._picows import PicowsTransport

    await stream_sync(url, sink, opts, transport=PicowsTransport(receiver=False))


async def stream_picows_orjson(url, sink, opts):
    await stream_sync(url, sink, opts, transport="picows", decoder="orjson")


async def stream_recv(url, sink, opts):
    from wsevents._transport import WebsocketsTransport

    await stream_sync(url, sink, opts, transport=WebsocketsTransport(receiver=False))


async def reconnect_picows(url, sink, opts):
    await stream_sync(url, sink, opts, stable_after=0.01, transport="picows")


async def reconnect(url, sink, opts):
    # stable_after: the server drops each connection after ~30 ms, so with the
    # default (30 s) consecutive drops climb the backoff (full jitter, 0.5 s
    # doubling to 30 s).  A connection that was up once reconnects at once.
    await stream_sync(url, sink, opts, stable_after=0.01)


def _stats(ws):
    s = ws.stats
    return {
        "messages_dropped": s.messages_dropped,
        "queue_peak": s.queue_peak,
        "reconnects": s.reconnects,
    }


def _has(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


VARIANTS = {
    "wsevents-sync": dict(
        stream=stream_sync,
        reconnect=reconnect,
        packages=PACKAGES,
        label="wsevents ws.on('message:trades') sync handler",
        reconnect_note=(
            "a connection that was up reconnects at once (backoff first=0); consecutive drops "
            "within stable_after (default 30 s) back off 0.5 s x2 up to 30 s, full jitter; "
            "measured with stable_after=0.01; after 1013: server_unavailable_delay (30 s)"
        ),
    ),
    "wsevents-async": dict(
        stream=stream_async,
        packages=PACKAGES,
        label="wsevents ws.on('message:trades') async handler",
    ),
    "wsevents-async-io": dict(
        stream=stream_io,
        packages=PACKAGES,
        label="wsevents async handler awaiting I/O (queue 10,000, drop_oldest)",
        scenarios=["slow"],
    ),
    "wsevents-async-io-block": dict(
        stream=stream_io_block,
        packages=PACKAGES,
        label="wsevents async handler awaiting I/O, overflow='block'",
        scenarios=["slow"],
    ),
    "wsevents-handover-ready": dict(
        stream=stream_handover_ready,
        packages=PACKAGES,
        label="wsevents-sync with dedup_key (handover armed, outside any overlap)",
        scenarios=["throughput"],
        default=False,
    ),
    "wsevents-sequence": dict(
        stream=stream_sequence,
        packages=PACKAGES,
        label="wsevents-sync with sequence tracking on 'trades'",
        scenarios=["throughput"],
        default=False,
    ),
    "wsevents-message": dict(
        stream=stream_message,
        packages=PACKAGES,
        label="wsevents ws.on('message') sync handler, user routes",
        scenarios=["throughput"],
        default=False,
    ),
    "wsevents-stream": dict(
        stream=stream_iter,
        packages=PACKAGES,
        label="wsevents `async for msg in ws.stream('message:trades')`",
        scenarios=["throughput"],
        default=False,
    ),
}
if _has("orjson"):
    VARIANTS["wsevents-orjson"] = dict(
        stream=stream_orjson,
        packages=[*PACKAGES, "orjson"],
        label="wsevents sync handler, decoder='orjson'",
        scenarios=["throughput"],
    )

VARIANTS["wsevents-recv"] = dict(
    stream=stream_recv,
    packages=PACKAGES,
    label="wsevents-sync with every frame on websockets' recv() (no frame-callback path)",
    scenarios=["throughput"],
    default=False,
)

if _has("picows"):
    VARIANTS["wsevents-picows-sync"] = dict(
        stream=stream_picows_sync,
        reconnect=reconnect_picows,
        packages=[*PACKAGES, "picows", "aiofastnet"],
        label="wsevents transport='picows', sync handler",
        reconnect_note="as wsevents-sync",
    )
    VARIANTS["wsevents-picows-async"] = dict(
        stream=stream_picows_async,
        packages=[*PACKAGES, "picows", "aiofastnet"],
        label="wsevents transport='picows', async handler",
    )
    if _has("orjson"):
        VARIANTS["wsevents-picows-orjson"] = dict(
            stream=stream_picows_orjson,
            packages=[*PACKAGES, "picows", "aiofastnet", "orjson"],
            label="wsevents transport='picows', sync handler, decoder='orjson'",
            scenarios=["throughput"],
        )
    VARIANTS["wsevents-picows-recv"] = dict(
        stream=stream_picows_recv,
        packages=[*PACKAGES, "picows", "aiofastnet"],
        label="wsevents-picows-sync with every frame on picows.websockets' recv()",
        scenarios=["throughput"],
        default=False,
    )

if __name__ == "__main__":
    client_main(VARIANTS)
