#!/usr/bin/env python3
"""Micro-benchmarks (no network): per-message cost of JSON decoders and of
dispatch styles, on the bench message (~130 B).  Median of 7 runs of 200k calls.

    ${BENCH_VENV:-$HOME/.cache/wsevents-bench-venv}/bin/python micro_dispatch.py
"""

import asyncio
import json
import statistics
import time

from pyee.asyncio import AsyncIOEventEmitter


MSG = (
    '{"channel": "trades", "action": "subscribe_trades", "market_id": "0x01", "seq": 123456, '
    '"p": "123.45", "q": "0.01", "ts": 2438.305331, "pad": "xxxxxx"}'
)
N = 200_000


def per_call(fn, n=N, reps=7):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(n)
        out.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(out)


def decoders():
    res = {}

    def loop_json(n, loads=json.loads, s=MSG):
        for _ in range(n):
            loads(s)

    res["json.loads(str)"] = per_call(loop_json)
    b = MSG.encode()

    def loop_json_b(n, loads=json.loads, s=b):
        for _ in range(n):
            loads(s)

    res["json.loads(bytes)"] = per_call(loop_json_b)
    try:
        import orjson

        def loop_orjson(n, loads=orjson.loads, s=b):
            for _ in range(n):
                loads(s)

        res["orjson.loads(bytes)"] = per_call(loop_orjson)
    except ImportError:
        pass
    try:
        import msgspec

        dec = msgspec.json.Decoder()

        def loop_msgspec(n, loads=dec.decode, s=b):
            for _ in range(n):
                loads(s)

        res["msgspec.json.Decoder().decode(bytes)"] = per_call(loop_msgspec)
    except ImportError:
        pass
    return res


async def dispatch():
    d = json.loads(MSG)
    res = {}
    count = 0

    def handler(m):
        nonlocal count
        count += 1

    async def ahandler(m):
        nonlocal count
        count += 1

    def direct(n):
        for _ in range(n):
            handler(d)

    res["direct call"] = per_call(direct)

    routes = {"trades": (handler,)}

    def dict_route(n):
        for _ in range(n):
            for h in routes.get(d["channel"], ()):
                h(d)

    res["dict route -> tuple of sync handlers"] = per_call(dict_route)

    ee = AsyncIOEventEmitter()
    ee.on("message:trades", handler)

    def pyee_sync(n):
        for _ in range(n):
            ee.emit(f"message:{d['channel']}", d)

    res["pyee emit -> sync handler"] = per_call(pyee_sync)

    # async handlers: include draining the created tasks (that is where the cost lands)
    aroutes = {"trades": (ahandler,)}
    out = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(N):
            for h in aroutes["trades"]:
                await h(d)
        out.append((time.perf_counter() - t) / N * 1e6)
    res["dict route -> await async handler inline"] = statistics.median(out)

    ee2 = AsyncIOEventEmitter()
    ee2.on("message:trades", ahandler)
    out = []
    for _ in range(5):
        t = time.perf_counter()
        for i in range(N):
            ee2.emit(f"message:{d['channel']}", d)
            if i % 2000 == 1999:  # like one burst read: let the tasks run
                await asyncio.sleep(0)
        await ee2.wait_for_complete()
        out.append((time.perf_counter() - t) / N * 1e6)
    res["pyee emit -> async handler (Task per call, drained)"] = statistics.median(out)

    loop = asyncio.get_running_loop()
    out = []
    tasks = set()
    for _ in range(5):
        t = time.perf_counter()
        for i in range(N):
            task = loop.create_task(ahandler(d))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if i % 2000 == 1999:
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        out.append((time.perf_counter() - t) / N * 1e6)
    res["bare loop.create_task(async handler) (drained)"] = statistics.median(out)

    q = asyncio.Queue()
    out = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(N):
            q.put_nowait(d)
            await asyncio.wait_for(q.get(), 1.0)
        out.append((time.perf_counter() - t) / N * 1e6)
    res["queue.put_nowait + await wait_for(queue.get(), 1.0) (kstlib stream)"] = statistics.median(
        out
    )
    out = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(N):
            q.put_nowait(d)
            await q.get()
        out.append((time.perf_counter() - t) / N * 1e6)
    res["queue.put_nowait + await queue.get() (item ready)"] = statistics.median(out)
    return res


if __name__ == "__main__":
    for k, v in decoders().items():
        print(f"| {k} | {v:.2f} |")
    for k, v in asyncio.run(dispatch()).items():
        print(f"| {k} | {v:.2f} |")
