"""(e) kstlib WebSocketManager.

It runs a background receive task (`async for message in ws` -> json.loads ->
stats -> on_message callback -> put_nowait into a bounded asyncio.Queue,
default 1000, hard max 10000; when full the message is dropped and a WARNING
is logged *per message*).  stream() pulls with
`await asyncio.wait_for(queue.get(), timeout=1.0)` per message.
No channel routing: the user routes (sink.route).

Variants:
  kstlib-stream            async for d in ws.stream(), default queue (1000)
  kstlib-stream-unbounded  same, queue_size=0 (unbounded)
  kstlib-on_message        on_message callback; nobody drains the queue, so after
                           1000 messages every message is dropped from the queue
                           with a WARNING log line (to stderr via logging.lastResort)
  kstlib-on_message-unbounded  on_message with queue_size=0: every message is
                           also retained in the never-drained queue (memory grows)
"""

import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing


try:
    from kstlib.websocket import WebSocketManager
    from kstlib.websocket.models import ReconnectStrategy
except ImportError as exc:
    skip_missing(exc, "kstlib")


def _qs(opts, default):
    return (
        int(opts.get("queue_size", default))
        if opts.get("queue_size", default) is not None
        else None
    )


async def _stream(url, sink, opts, queue_size):
    ws = WebSocketManager(url, auto_reconnect=False, queue_size=queue_size)
    await ws.connect()
    try:
        async for d in ws.stream():
            sink.route(d)
            if sink.done:
                break
    finally:
        sink.extra["queue_left"] = ws._message_queue.qsize()
        await ws.close()


async def stream(url, sink, opts):
    await _stream(url, sink, opts, None)


async def stream_unbounded(url, sink, opts):
    await _stream(url, sink, opts, 0)


async def _on_message(url, sink, opts, queue_size):
    ws = WebSocketManager(url, auto_reconnect=False, on_message=sink.route, queue_size=queue_size)
    await ws.connect()
    await sink.wait()
    sink.extra["queue_left"] = ws._message_queue.qsize()
    await ws.close()


async def on_message(url, sink, opts):
    await _on_message(url, sink, opts, None)


async def on_message_unbounded(url, sink, opts):
    await _on_message(url, sink, opts, 0)


async def reconnect(url, sink, opts):
    # As low as it allows: reconnect_delay=0 (hard min 0.0) or strategy IMMEDIATE.
    # max_reconnect_attempts: the default (10) is counted across reconnects until
    # the connection has been up for stable_connection_time (default 60 s), so a
    # run of >10 quick drops kills the manager; 100 is the hard max.
    ws = WebSocketManager(
        url,
        reconnect_strategy=ReconnectStrategy.IMMEDIATE,
        reconnect_delay=0.0,
        max_reconnect_attempts=int(opts.get("max_reconnect_attempts", 100)),
        queue_size=0,
    )
    await ws.connect()
    try:
        async for d in ws.stream():
            sink.route(d)
            if sink.done:
                break
    finally:
        await ws.force_close()


VARIANTS = {
    "kstlib-stream": dict(
        stream=stream,
        reconnect=reconnect,
        packages=["kstlib", "websockets"],
        label="kstlib WebSocketManager `async for d in ws.stream()` (queue 1000)",
        reconnect_note=(
            "first reconnect attempt is immediate; retries of failed attempts wait "
            "reconnect_delay*2^(n-1) (default 1 s, may be 0) or nothing with IMMEDIATE; "
            "gives up after max_reconnect_attempts (default 10, hard max 100) quick drops; "
            "close code 1013 forces server_unavailable_delay (default 30 s, hard min 10 s)"
        ),
    ),
    "kstlib-stream-unbounded": dict(
        stream=stream_unbounded,
        packages=["kstlib", "websockets"],
        label="kstlib stream(), queue_size=0 (unbounded)",
    ),
    "kstlib-on_message": dict(
        stream=on_message,
        packages=["kstlib", "websockets"],
        label="kstlib on_message callback (queue 1000 never drained)",
    ),
    "kstlib-on_message-unbounded": dict(
        stream=on_message_unbounded,
        packages=["kstlib", "websockets"],
        label="kstlib on_message, queue_size=0 (retains every msg)",
        default=False,
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
