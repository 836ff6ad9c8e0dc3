#!/usr/bin/env python3
"""Memory per idle connection: open --n idle connections (server path /idle) in one
process with default client settings, report (RSS after - RSS before) / n.

RSS "before" is taken after imports and one warm-up connection (opened and
closed), so that lazy imports and first-use allocations are not charged to the
idle connections.  RSS is VmRSS from /proc/self/status.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def open_websockets(url, n):
    from websockets.asyncio.client import connect

    w = await connect(url)
    await w.close()
    gc.collect()
    before = rss_kb()
    conns = []
    for i in range(0, n, 100):
        conns += await asyncio.gather(*(connect(url) for _ in range(min(100, n - i))))
    return before, conns, lambda: asyncio.gather(*(c.close() for c in conns))


async def open_wsevents(url, n):
    """wsevents.Connection with default options; each one runs its reader,
    dispatcher and ticker tasks (what an idle connection costs in practice)."""
    import wsevents

    w = wsevents.Connection(url)
    await w.connect()
    await w.close()
    gc.collect()
    before = rss_kb()
    conns = []
    for i in range(0, n, 100):
        batch = [wsevents.Connection(url) for _ in range(min(100, n - i))]
        await asyncio.gather(*(c.connect() for c in batch))
        conns += batch
    return before, conns, lambda: asyncio.gather(*(c.close() for c in conns))


async def open_wsevents_pool(url, n):
    """One wsevents.Pool of n shards (one channel each): the shards share the pool's
    dispatcher; each runs its runner task (reader included)."""
    import wsevents

    w = wsevents.Pool(url, subscriptions=["warm"], max_channels=1)
    await w.connect()
    await w.close()
    gc.collect()
    before = rss_kb()
    pool = wsevents.Pool(url, max_channels=1)
    await pool.connect()
    for i in range(0, n, 100):
        await pool.subscribe(*(f"c{j}" for j in range(i, min(n, i + 100))))
        await pool.connect()
    return before, pool.shards, pool.close


async def open_picows(url, n):
    from picows import WSListener, ws_connect

    tr, _ = await ws_connect(WSListener, url)
    tr.disconnect()
    await tr.wait_disconnected()
    gc.collect()
    before = rss_kb()
    conns = []
    for i in range(0, n, 100):
        conns += await asyncio.gather(
            *(ws_connect(WSListener, url) for _ in range(min(100, n - i)))
        )

    async def close():
        for t, _ in conns:
            t.disconnect()

    return before, conns, close


async def open_aiohttp(url, n):
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # default limit=100
    w = await session.ws_connect(url)
    await w.close()
    gc.collect()
    before = rss_kb()
    conns = []
    for i in range(0, n, 100):
        conns += await asyncio.gather(*(session.ws_connect(url) for _ in range(min(100, n - i))))

    async def close():
        await asyncio.gather(*(c.close() for c in conns))
        await session.close()

    return before, conns, close


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, default=1000)
    openers = {
        "websockets": open_websockets,
        "wsevents": open_wsevents,
        "wsevents-pool": open_wsevents_pool,
        "picows": open_picows,
        "aiohttp": open_aiohttp,
    }
    ap.add_argument("--system", default="websockets", choices=list(openers))
    args = ap.parse_args()
    try:
        before, conns, close = await openers[args.system](args.url, args.n)
    except ImportError as exc:
        print(f"{args.system} not installed ({exc})", file=sys.stderr)
        sys.exit(3)
    await asyncio.sleep(1.0)
    gc.collect()
    after = rss_kb()
    n = len(conns)
    await close()
    print(
        "RESULT "
        + json.dumps(
            dict(
                system=args.system,
                n=n,
                rss_before_kb=before,
                rss_after_kb=after,
                kb_per_conn=(after - before) / n,
            )
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
