#!/usr/bin/env python3
"""Benchmarks of wsevents.Pool (issue #12), as ratios against raw websockets (or a
single wsevents.Connection) measured in the same run:

* idle: 1,000 shards of one pool idle in one process, KiB per shard, against
  1,000 raw websockets connections (``bench/idle_conns.py``);
* paced: 1,000 connections x 10 msg/s in one process (10,000 msg/s in all),
  CPU per message of a 1,000-shard pool against 1,000 raw websockets
  connections each reading with ``json.loads``;
* burst: 200,000 messages through a 4-shard pool (50,000 per shard) against
  the same 200,000 through one ``Connection``, messages per second.

Each measurement runs in a fresh client process (pinned to CPU 0 with
``taskset`` when available; the server, ``bench/server.py``, on CPU 1); the
repetitions are interleaved and the median ratio is reported.

    python bench/pool_bench.py --reps 3 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
TASKSET = shutil.which("taskset")


def pin(cpu: str) -> list[str]:
    return [TASKSET, "-c", cpu] if TASKSET else []


# -- the client side (one measurement per process) --------------------------------------


async def paced_websockets(url: str, n: int, warm: float, window: float) -> dict:
    from websockets.asyncio.client import connect

    count = 0

    async def read(ws) -> None:
        nonlocal count
        async for frame in ws:
            json.loads(frame)
            count += 1

    conns = []
    for i in range(0, n, 100):
        conns += await asyncio.gather(*(connect(url) for _ in range(min(100, n - i))))
    readers = [asyncio.ensure_future(read(ws)) for ws in conns]
    result = await _measure(lambda: count, warm, window)
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    return result


async def paced_pool(url: str, n: int, warm: float, window: float) -> dict:
    import wsevents

    count = 0

    def on_message(_message: object) -> None:
        nonlocal count
        count += 1

    pool = wsevents.Pool(url, subscriptions=[f"c{i}" for i in range(n)], max_channels=1)
    pool.on("message", on_message)
    await pool.connect()
    result = await _measure(lambda: count, warm, window)
    await pool.close()
    return result


async def _measure(count, warm: float, window: float) -> dict:
    await asyncio.sleep(warm)
    c0, t0 = count(), time.process_time()
    await asyncio.sleep(window)
    c1, t1 = count(), time.process_time()
    return {
        "messages": c1 - c0,
        "cpu_s": t1 - t0,
        "cpu_us_per_msg": (t1 - t0) * 1e6 / max(1, c1 - c0),
    }


async def burst(url: str, shards: int, per_shard: int) -> dict:
    import wsevents

    total = shards * per_shard
    count = 0
    done = asyncio.get_running_loop().create_future()
    first = 0.0

    def on_trade(_message: object) -> None:
        nonlocal count, first
        if not count:
            first = time.perf_counter()
        count += 1
        if count == total and not done.done():
            done.set_result(time.perf_counter())

    if shards == 1:
        emitter = wsevents.Connection(url, subscriptions=["c0"])
    else:
        emitter = wsevents.Pool(url, subscriptions=[f"c{i}" for i in range(shards)], max_channels=1)
    emitter.on("message:trades", on_trade)
    cpu0 = time.process_time()
    await emitter.connect()
    end = await asyncio.wait_for(done, 120)
    cpu = time.process_time() - cpu0
    await emitter.close()
    return {
        "messages": count,
        "seconds": end - first,
        "msgs_per_s": count / (end - first),
        "cpu_s": cpu,
    }


def client_main(args: argparse.Namespace) -> None:
    if args.what == "paced-websockets":
        result = asyncio.run(paced_websockets(args.url, args.n, args.warm, args.window))
    elif args.what == "paced-pool":
        result = asyncio.run(paced_pool(args.url, args.n, args.warm, args.window))
    else:
        result = asyncio.run(burst(args.url, args.shards, args.per_shard))
    print("RESULT " + json.dumps(result), flush=True)


# -- the driver ---------------------------------------------------------------------------


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [*pin("1"), sys.executable, str(HERE / "server.py"), "--prebuild", "50000:130,200000:130"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("PORT "):
            return proc, int(line.split()[1])
    raise RuntimeError("bench server did not start")


def run(argv: list[str], timeout: float = 300) -> dict:
    out = subprocess.run(
        [*pin("0"), sys.executable, *argv], capture_output=True, text=True, timeout=timeout
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"no result from {argv}:\n{out.stdout}\n{out.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--what", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--per-shard", type=int, default=50000)
    ap.add_argument("--warm", type=float, default=1.5)
    ap.add_argument("--window", type=float, default=4.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenarios", default="idle,paced,burst")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    if args.client:
        client_main(args)
        return
    scenarios = args.scenarios.split(",")
    proc, port = start_server()
    base = f"ws://127.0.0.1:{port}"
    me = str(Path(__file__).resolve())
    results: dict[str, list] = {s: [] for s in scenarios}
    try:
        for rep in range(args.reps):
            if "idle" in scenarios:
                pair = {}
                for system in ("websockets", "wsevents-pool"):
                    pair[system] = run(
                        [
                            str(HERE / "idle_conns.py"),
                            "--url",
                            f"{base}/idle",
                            "--n",
                            str(args.n),
                            "--system",
                            system,
                        ]
                    )
                results["idle"].append(pair)
                print(f"rep {rep} idle: {pair}", file=sys.stderr)
            if "paced" in scenarios:
                url = f"{base}/paced?rate=10&duration={args.warm + args.window + 3}&size=130"
                pair = {}
                for what in ("paced-websockets", "paced-pool"):
                    pair[what] = run(
                        [
                            me,
                            "--client",
                            "--what",
                            what,
                            "--url",
                            url,
                            "--n",
                            str(args.n),
                            "--warm",
                            str(args.warm),
                            "--window",
                            str(args.window),
                        ]
                    )
                results["paced"].append(pair)
                print(f"rep {rep} paced: {pair}", file=sys.stderr)
            if "burst" in scenarios:
                pair = {}
                total = args.shards * args.per_shard
                pair["connection"] = run(
                    [
                        me,
                        "--client",
                        "--what",
                        "burst",
                        "--url",
                        f"{base}/burst?n={total}&size=130",
                        "--shards",
                        "1",
                        "--per-shard",
                        str(total),
                    ]
                )
                pair["pool"] = run(
                    [
                        me,
                        "--client",
                        "--what",
                        "burst",
                        "--url",
                        f"{base}/burst?n={args.per_shard}&size=130",
                        "--shards",
                        str(args.shards),
                        "--per-shard",
                        str(args.per_shard),
                    ]
                )
                results["burst"].append(pair)
                print(f"rep {rep} burst: {pair}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(10)
    report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


TIMES, LE, GE, MICRO = "\u00d7", "\u2264", "\u2265", "\u00b5"


def report(results: dict, args: argparse.Namespace) -> None:
    med = statistics.median
    version = sys.version.split()[0]
    print(
        f"_{os.cpu_count()} cores, loopback, Python {version}, "
        f"medians of {args.reps} interleaved reps_\n"
    )
    print("| target (issue #12) | required | measured | met |")
    print("| --- | ---: | ---: | --- |")

    def row(what: str, required: str, measured: str, met: bool) -> None:
        print(f"| {what} | {required} | {measured} | {'yes' if met else 'no'} |")

    idle = results.get("idle")
    if idle:
        kib = med(r["wsevents-pool"]["kb_per_conn"] for r in idle)
        raw = med(r["websockets"]["kb_per_conn"] for r in idle)
        what = f"{args.n} pool shards idle in one process, KiB each (raw websockets: {raw:.1f})"
        row(what, f"{LE} 16", f"{kib:.1f}", kib <= 16)
    paced = results.get("paced")
    if paced:
        ratio = med(
            r["paced-pool"]["cpu_us_per_msg"] / r["paced-websockets"]["cpu_us_per_msg"]
            for r in paced
        )
        pool_us = med(r["paced-pool"]["cpu_us_per_msg"] for r in paced)
        raw_us = med(r["paced-websockets"]["cpu_us_per_msg"] for r in paced)
        what = (
            f"{args.n} connections {TIMES} 10 msg/s: CPU per message vs {args.n} raw "
            f"websockets connections ({pool_us:.1f} vs {raw_us:.1f} {MICRO}s)"
        )
        row(what, f"{LE} 1.00{TIMES}", f"{ratio:.2f}{TIMES}", ratio <= 1.0)
    burst = results.get("burst")
    if burst:
        ratio = med(r["pool"]["msgs_per_s"] / r["connection"]["msgs_per_s"] for r in burst)
        pool = med(r["pool"]["msgs_per_s"] for r in burst)
        one = med(r["connection"]["msgs_per_s"] for r in burst)
        total = args.shards * args.per_shard
        what = (
            f"{total:,}-message burst through a {args.shards}-shard pool vs one "
            f"`Connection` ({pool:,.0f} vs {one:,.0f} msg/s)"
        )
        row(what, f"{GE} 0.95{TIMES}", f"{ratio:.2f}{TIMES}", ratio >= 0.95)


if __name__ == "__main__":
    main()
