#!/usr/bin/env python3
"""wsevents.bus against raw redis-py, same machine, same run (ratios, not absolutes).

Starts its own Redis/Valkey server (the test suite's binary, on a unix socket,
no persistence) and ``bench/server.py``, then measures, in interleaved
repetitions:

1. **Publish cost**: a 200,000-message burst (~130 B) received by raw
   websockets (``async for`` + ``json.loads``: the reference), by a
   ``Connection`` with one sync handler, and by the same with a
   ``RedisPublisher`` attached (until everything is in Redis).  Client CPU per
   message (``time.process_time``; Redis and the feed run in other processes).
   Targets: publishing adds <= 1.0x the receive path's CPU; receive + publish
   <= 2x raw websockets' receive alone.  For scale: raw redis-py, one ``XADD``
   per message pipelined 100 at a time.
2. **Group of one**: 200,000 messages already in the stream, read by a
   ``Consumer`` (group of one, sync handler): messages/s (target >= 100 k/s);
   for scale, a raw redis-py ``XREADGROUP`` + ``XACK`` loop over the same entries.
3. **Latency**: the feed paced at 10,000 msg/s for 3 s, stamped with the
   send time; publisher and consumer in this process: feed -> consumer
   handler, p50 <= 1 ms and p99 <= 5 ms.  The reference, interleaved in each
   repetition: the same path with raw websockets and raw redis-py (each frame
   ``XADD``-ed as it arrives, read back by ``XREAD BLOCK``); in the same run,
   the connection's own handler (one hop less) and, for scale, one raw
   ``XADD`` round trip.  ``--busy N`` runs N busy-looping processes beside
   it, as on a shared machine.

Usage: ``python bench/bus_bench.py [--n 200000] [--reps 3] [--quick]
[--only publish|group|latency] [--busy N]``
(needs ``pip install -e '.[redis,test]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import redis.asyncio as aioredis
import websockets


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import wsevents  # noqa: E402
from tests.bus.redis_server import RedisServer  # noqa: E402
from wsevents.bus import Consumer, RedisPublisher  # noqa: E402


def start_feed() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "bench", "server.py"), "--prebuild", "200000:130"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(line.split()[1])


async def raw_receive(url: str) -> tuple[int, float]:
    cpu = time.process_time()
    n = 0
    loads = json.loads
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        async for frame in ws:
            msg = loads(frame)
            if msg["channel"] == "control":
                break
            n += 1
    return n, time.process_time() - cpu


async def wsevents_receive(url: str, redis_url: str | None, name: str) -> tuple[int, float]:
    cpu = time.process_time()
    ws = wsevents.Connection(url, reconnect_on_clean_close=False, max_reconnect_attempts=1)
    count = 0
    done = asyncio.Event()

    def trade(_msg: Any) -> None:
        nonlocal count
        count += 1

    ws.on("message:trades", trade)
    ws.on("message:control", lambda _m: done.set())
    publisher = None
    if redis_url is not None:
        # block: nothing dropped when the shared machine's Redis falls behind the burst
        publisher = RedisPublisher(redis_url, name=name, overflow="block")
        publisher.attach(ws)
        await publisher.start()
    await ws.connect()
    await done.wait()
    if publisher is not None:
        await publisher.flush()
    cpu = time.process_time() - cpu
    await ws.close()
    if publisher is not None:
        assert publisher.stats.published == count + 1, publisher.stats
        await publisher.close()
    return count, cpu


async def raw_xadd(redis_url: str, n: int) -> float:
    """Client CPU of one XADD per message, pipelined 100 at a time (the issue's reference)."""
    client = aioredis.Redis.from_url(redis_url)
    payload = json.dumps({"channel": "trades", "seq": 0, "p": "123.45", "q": "0.01",
                          "pad": "x" * 60})
    cpu = time.process_time()
    for _start in range(0, n, 100):
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.xadd("raw:xadd", {"d": payload, "t": "0"})
        await pipe.execute()
    cpu = time.process_time() - cpu
    await client.delete("raw:xadd")
    await client.aclose()
    return cpu / n


async def fill(redis_url: str, name: str, n: int) -> None:
    publisher = RedisPublisher(redis_url, name=name)

    class Source:
        def add_observer(self, fn: Any) -> None:
            self.fn = fn

    source = Source()
    publisher.attach(source)
    for seq in range(n):
        source.fn("message:trades", {"channel": "trades", "seq": seq, "p": "123.45",
                                     "q": "0.01", "pad": "x" * 60})
        if seq % 10_000 == 9_999:
            await publisher.flush()
    await publisher.flush()
    await publisher.close()


async def group_of_one(redis_url: str, name: str, n: int) -> float:
    bus = Consumer(redis_url, name=name, channels=["trades"], group="g", start="0", count=100)
    done = asyncio.Event()
    count = 0

    def handle(_msg: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    bus.on("message:trades", handle)
    t0 = time.perf_counter()
    bus.start()
    await done.wait()
    elapsed = time.perf_counter() - t0
    await bus.close()
    return n / elapsed


async def raw_group(redis_url: str, name: str, n: int) -> float:
    client = aioredis.Redis.from_url(redis_url)
    key = f"wsevents:{name}:trades"
    await client.xgroup_create(key, "raw", id="0")
    count = 0
    t0 = time.perf_counter()
    while count < n:
        found = await client.xreadgroup("raw", "c", {key: ">"}, count=100, block=1000)
        for _key, entries in found:
            ids = []
            for entry_id, fields in entries:
                count += len(json.loads(fields[b"d"]))
                ids.append(entry_id)
            await client.xack(key, "raw", *ids)
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return n / elapsed


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``values`` (seconds), in milliseconds."""
    values = sorted(values)
    return values[len(values) // 2] * 1000, values[int(len(values) * 0.99)] * 1000


async def latency(url: str, redis_url: str, name: str,
                  group: str | None = None) -> tuple[list[float], list[float]]:
    """Feed -> consumer handler through the bus, and feed -> the connection's own handler
    (the floor: one hop less) in the same run."""
    ws = wsevents.Connection(url, reconnect_on_clean_close=False, max_reconnect_attempts=1)
    publisher = RedisPublisher(redis_url, name=name)
    publisher.attach(ws)
    bus = Consumer(redis_url, name=name, channels=["trades", "control"], block=1.0, group=group)
    lat: list[float] = []
    hop: list[float] = []
    done = asyncio.Event()
    now = time.monotonic
    bus.on("message:trades", lambda m: lat.append(now() - m["ts"]))
    bus.on("message:control", lambda _m: done.set())
    ws.on("message:trades", lambda m: hop.append(now() - m["ts"]))
    await publisher.start()
    await bus.wait_ready()
    await ws.connect()
    await asyncio.wait_for(done.wait(), 60)
    await ws.close()
    await publisher.close()
    await bus.close()
    return lat, hop


async def raw_latency(url: str, redis_url: str, key: str) -> list[float]:
    """The same path with nothing but websockets and redis-py: each frame ``XADD``-ed
    as it arrives (what arrives during a round trip goes in the next pipeline),
    read back by ``XREAD BLOCK`` on another connection, decoded, stamped."""
    pub = aioredis.Redis.from_url(redis_url, single_connection_client=True)
    sub = aioredis.Redis.from_url(redis_url, single_connection_client=True)
    await sub.delete(key)
    lat: list[float] = []
    frames: list[Any] = []
    wake = asyncio.Event()

    async def write() -> None:
        while True:
            await wake.wait()
            wake.clear()
            pipe = pub.pipeline(transaction=False)
            for frame in frames:
                pipe.xadd(key, {"d": frame})
            frames.clear()
            await pipe.execute()

    async def read() -> None:
        last = "0-0"
        now, loads = time.monotonic, json.loads
        while True:
            found = await sub.xread({key: last}, count=100, block=1000)
            for _key, entries in found:
                for _entry_id, fields in entries:
                    msg = loads(fields[b"d"])
                    if msg["channel"] == "control":
                        return
                    lat.append(now() - msg["ts"])
                last = entries[-1][0]

    reader = asyncio.ensure_future(read())
    writer = asyncio.ensure_future(write())
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        async for frame in ws:
            frames.append(frame)
            wake.set()
    await asyncio.wait_for(reader, 60)
    writer.cancel()
    await asyncio.wait([writer])
    await pub.delete(key)
    await pub.aclose()
    await sub.aclose()
    return lat


async def raw_round_trip(redis_url: str, samples: int = 3000) -> tuple[float, float]:
    """For scale: p50 / p99 of one raw redis-py XADD round trip, one every 0.5 ms."""
    client = aioredis.Redis.from_url(redis_url, single_connection_client=True)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        await client.xadd("raw:rtt", {"r": "x", "d": "[[1,2,{}]]"})
        times.append(time.perf_counter() - t0)
        await asyncio.sleep(0.0005)  # the pace of the probe
    await client.delete("raw:rtt")
    await client.aclose()
    return percentiles(times)


def busy(n: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """``n`` processes spinning on a core each for at most ``seconds`` (a shared machine)."""
    code = (f"import time\nend = time.monotonic() + {seconds:f}\n"
            "while time.monotonic() < end:\n    sum(range(10000))\n")
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


async def latency_section(port: int, redis_url: str, reps: int, duration: float,
                          spinners: int) -> None:
    paced = f"ws://127.0.0.1:{port}/paced?rate=10000&duration={duration}&size=130"
    rows: dict[str, list[tuple[float, float]]] = {"raw": [], "bus": [], "hop": [], "rtt": []}
    load = busy(spinners, reps * (2 * duration + 6) + 30)
    try:
        for rep in range(reps):
            rows["raw"].append(percentiles(await raw_latency(paced, redis_url, f"raw:lat{rep}")))
            lat, hop = await latency(paced, redis_url, f"lat{rep}")
            rows["bus"].append(percentiles(lat))
            rows["hop"].append(percentiles(hop))
            rows["rtt"].append(await raw_round_trip(redis_url, 1000))
    finally:
        for proc in load:
            proc.kill()
            proc.wait(10)
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
           for k, v in rows.items()}
    where = f", {spinners} busy-looping processes beside it" if spinners else ""
    print(f"## End-to-end latency, feed -> handler, 10,000 msg/s for {duration:g} s "
          f"(median of {reps}{where})")
    print("| path | p50 ms | p99 ms | p50 ratio | p99 ratio |")
    print("|---|---:|---:|---:|---:|")
    r50, r99 = med["raw"]
    names = {
        "raw": "raw websockets -> redis-py XADD -> XREAD -> handler (reference)",
        "bus": "Connection -> RedisPublisher -> Consumer handler",
        "hop": "the same run: the Connection's own handler (one hop, no Redis)",
        "rtt": "for scale: one raw redis-py XADD round trip",
    }
    for key, label in names.items():
        m50, m99 = med[key]
        print(f"| {label} | {m50:.3f} | {m99:.3f} | {m50 / r50:.2f}x | {m99 / r99:.2f}x |")
    b50, b99 = med["bus"]
    print(f"\nbus p50 {b50:.3f} ms (target ≤ 1: {'met' if b50 <= 1 else 'NOT met'}), "
          f"p99 {b99:.3f} ms (target ≤ 5: {'met' if b99 <= 5 else 'NOT met'}); per repetition "
          "(p50/p99 ms): " + ", ".join(
              f"{k} " + " ".join(f"{a:.2f}/{b:.2f}" for a, b in v) for k, v in rows.items()))


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 repetition, 50,000 messages")
    ap.add_argument("--only", choices=["publish", "group", "latency"],
                    help="run one section")
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="latency beside N busy-looping processes (a shared machine)")
    args = ap.parse_args()
    n, reps = (50_000, 1) if args.quick else (args.n, args.reps)
    redis = RedisServer()
    redis.start()
    feed, port = start_feed()
    burst = f"ws://127.0.0.1:{port}/burst?n={n}&size=130"
    try:
        if args.only in (None, "publish"):
            raw, plain, published, xadd = [], [], [], []
            for rep in range(reps):
                count, cpu = await raw_receive(burst)
                raw.append(cpu / count)
                count, cpu = await wsevents_receive(burst, None, "none")
                plain.append(cpu / count)
                count, cpu = await wsevents_receive(burst, redis.url, f"pub{rep}")
                published.append(cpu / count)
                xadd.append(await raw_xadd(redis.url, 20_000))
            r, p, w, x = (statistics.median(v) * 1e6 for v in (raw, plain, published, xadd))
            print(f"## Publish cost ({n:,}-message burst, median of {reps};"
                  " client CPU per message)")
            print("| path | µs/msg | ratio |")
            print("|---|---:|---:|")
            print(f"| raw websockets receive (reference) | {r:.2f} | 1.00x |")
            print(f"| wsevents receive, sync handler | {p:.2f} | {p / r:.2f}x |")
            print(f"| wsevents receive + RedisPublisher | {w:.2f} | {w / r:.2f}x |")
            print(f"| raw redis-py: one XADD per message, pipelined by 100 | {x:.2f} |"
                  f" {x / r:.2f}x |")
            added = (w - p) / p
            print(f"\npublishing adds {added:.2f}x the receive path's CPU (target ≤ 1.00x: "
                  f"{'met' if added <= 1.0 else 'NOT met'}); receive + publish = {w / r:.2f}x raw "
                  f"websockets (target ≤ 2.00x: {'met' if w / r <= 2.0 else 'NOT met'})\n")

        if args.only in (None, "group"):
            rates, raw_rates = [], []
            for rep in range(reps):
                await fill(redis.url, f"grp{rep}", n)
                rates.append(await group_of_one(redis.url, f"grp{rep}", n))
                raw_rates.append(await raw_group(redis.url, f"grp{rep}", n))
            g, rg = statistics.median(rates), statistics.median(raw_rates)
            print(f"## Consumer group of one, sync handler ({n:,} messages, median of {reps})")
            verdict = "met" if g >= 100_000 else "NOT met"
            print(f"Consumer: {g:,.0f} msg/s (target ≥ 100,000: {verdict});"
                  f" raw redis-py XREADGROUP+XACK over the same entries: {rg:,.0f} msg/s"
                  f" ({g / rg:.2f}x)\n")

        if args.only in (None, "latency"):
            duration = 1 if args.quick else 3
            await latency_section(port, redis.url, reps, duration, args.busy)
    finally:
        feed.terminate()
        feed.wait(10)
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
