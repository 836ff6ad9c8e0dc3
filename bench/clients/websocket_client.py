"""(d) websocket-client WebSocketApp (thread/blocking) with an on_message callback.

websocket-client: run_forever() in the main thread, on_message -> json.loads -> route.
websocket-client-to-asyncio: run_forever() in a thread, each decoded message handed
to an asyncio loop with loop.call_soon_threadsafe (what an asyncio app must do).
reconnect: run_forever(reconnect=SECONDS) -- a fixed sleep before every reconnect;
0 disables reconnecting, so the floor is "any positive value" (annotated int, a
float works).
"""

import asyncio
import json
import sys
import threading
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import client_main, skip_missing


try:
    import websocket
except ImportError as exc:
    skip_missing(exc, "websocket-client")

RECONNECT_S = 0.001


def _app(url, sink):
    def on_message(app, msg):
        sink.route(json.loads(msg))
        if sink.done:
            app.close()

    app = websocket.WebSocketApp(url, on_message=on_message)
    sink.on_finish(lambda: setattr(app, "keep_running", False))
    return app


def stream(url, sink, opts):
    _app(url, sink).run_forever()


def stream_skiputf8(url, sink, opts):
    _app(url, sink).run_forever(skip_utf8_validation=True)


def reconnect(url, sink, opts):
    _app(url, sink).run_forever(reconnect=float(opts.get("reconnect", RECONNECT_S)))


async def stream_to_asyncio(url, sink, opts):
    loop = asyncio.get_running_loop()
    route = sink.route

    def on_message(app, msg):
        loop.call_soon_threadsafe(route, json.loads(msg))
        if sink.done:
            app.close()

    app = websocket.WebSocketApp(url, on_message=on_message)
    th = threading.Thread(target=app.run_forever, daemon=True)
    th.start()
    await sink.wait()
    app.keep_running = False


VARIANTS = {
    "websocket-client": dict(
        stream=stream,
        reconnect=reconnect,
        packages=["websocket-client"],
        label="websocket-client WebSocketApp on_message (sync, own thread)",
        reconnect_note=(
            "run_forever(reconnect=s): fixed time.sleep(s) before every reconnect, no backoff; "
            "0 disables reconnect; measured with 0.001 s"
        ),
    ),
    "websocket-client-skiputf8": dict(
        stream=stream_skiputf8,
        packages=["websocket-client"],
        label="websocket-client, run_forever(skip_utf8_validation=True)",
        note="default validation is a pure-Python per-byte DFA unless wsaccel is installed",
    ),
    "websocket-client-to-asyncio": dict(
        stream=stream_to_asyncio,
        packages=["websocket-client"],
        label="websocket-client thread -> asyncio via call_soon_threadsafe",
        uvloop=False,
        default=False,
    ),
}

if __name__ == "__main__":
    client_main(VARIANTS)
