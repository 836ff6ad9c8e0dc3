"""A feed server in its own process, for the tests that kill, stop and restart it.

Usage: ``python feed_process.py PORT [PING_INTERVAL]`` (0 picks a free port;
with a ping interval the server pings its clients and closes on a 0.3 s
pong timeout).  It prints
``PORT <n>`` once it listens, then streams ``{"channel": "ticks", "n": i}``
to every client, one message every millisecond, numbering from 0 for each
connection.
"""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def stream(connection: ServerConnection) -> None:
    n = 0
    try:
        while True:
            await connection.send(json.dumps({"channel": "ticks", "n": n}))
            n += 1
            await asyncio.sleep(0.001)  # the feed's pace, not synchronisation
    except ConnectionClosed:
        pass


async def main(port: int, ping_interval: float | None) -> None:
    async with serve(
        stream, "127.0.0.1", port, ping_interval=ping_interval, ping_timeout=0.3
    ) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"PORT {bound}", flush=True)  # noqa: T201 - the parent reads the port
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None))
