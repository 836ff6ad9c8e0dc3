"""Issue 14's benchmarks: the cost of receive timestamps + latency, and the replay server.

Two measurements, each in the same run as its reference, medians of ``--reps``
interleaved repetitions, every client in a fresh process:

1. Throughput of ``wsevents-sync`` (one plain handler on ``message:trades``) on a
   burst of 200,000 messages of ~130 B from ``bench/server.py``: with
   ``timestamps=True, event_time="ts"`` ("on") against the same configuration
   without them ("off"), on both transports.  Each repetition is one client
   process per transport (and per code): a warm-up burst, then off, on, on,
   off, each on a new connection, so that each on/off pair is measured back to
   back (a shared machine's load drifts less within a pair); the ratios are
   medians over the pairs.  With ``--baseline DIR`` (a
   checkout of the code before issue 14, e.g. ``git archive <commit> | tar -x
   -C DIR``), also "before": the same client on that code, to show that "off"
   did not change, and "before, on": that code with timestamps and latency on
   (its on / off ratio, to compare with this code's in the same run).
   Target: on / off >= 0.95.
2. The replay server: ``wsevents replay FILE --speed 0`` (a recording of
   200,000 such frames) to a raw picows client (``WSListener.on_ws_frame``,
   counting frames), against ``bench/server.py``'s pre-framed burst to the same
   client.  Target: >= 300,000 msg/s.

::

    python bench/observe_bench.py [--reps 3] [--n 200000] [--baseline /tmp/wsevents-before]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
#: the client on CPU 0, the servers on CPU 1 (as bench/run.py), when taskset exists
TASKSET = shutil.which("taskset")


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return [TASKSET, "-c", str(cpu), *argv] if TASKSET else argv

CLIENT = r"""
import asyncio, json, os, sys, time
variants, transport, url, n = sys.argv[1].split(","), sys.argv[2], sys.argv[3], int(sys.argv[4])
import wsevents

async def burst(variant, n):
    options = {"transport": transport}
    if variant == "on":
        options.update(timestamps=True, event_time="ts")
    ws = wsevents.Connection(url.replace("n=N", f"n={n}"), max_reconnect_attempts=0, **options)
    done = asyncio.get_running_loop().create_future()
    count = 0
    first = []
    def trade(message):
        nonlocal count
        count += 1
        if count == 1:
            first.extend((time.perf_counter(), time.process_time()))
        elif count == n and not done.done():
            done.set_result((time.perf_counter(), time.process_time()))
    ws.on("message:trades")(trade)
    await ws.connect()
    end, cpu_end = await asyncio.wait_for(done, 120)
    elapsed = end - first[0]; cpu = cpu_end - first[1]
    timed = n - 1  # from the first message to the last
    if variant == "on":
        assert ws.stats.latency["trades"].count > 0
    await ws.close()
    return {"variant": variant, "rate": timed / elapsed, "cpu_us": cpu / timed * 1e6}

async def main():
    await burst("off", n // 4)  # warm-up, not reported
    print(json.dumps([await burst(variant, n) for variant in variants]))

asyncio.run(main())
"""

PICOWS = r"""
import asyncio, json, sys, time
from picows import WSListener, WSMsgType, ws_connect
url, n = sys.argv[1], int(sys.argv[2])

class Listener(WSListener):
    def __init__(self):
        self.count = 0
        self.start = None
        self.end = None
    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT:
            if self.start is None:
                self.start = time.perf_counter()
            self.count += 1
            if self.count == n:
                self.end = time.perf_counter()
                transport.send_close()
                transport.disconnect()
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

async def main():
    listener = Listener()
    transport, _ = await ws_connect(lambda: listener, url)
    await asyncio.wait_for(transport.wait_disconnected(), 120)
    print(json.dumps({"rate": (n - 1) / (listener.end - listener.start)}))

asyncio.run(main())
"""


def start_server(python: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        pinned(1, [python, str(BENCH / "server.py"), "--port", "0"]),
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(line.split()[1])


def run_client(code: str, args: list[str], pythonpath: str) -> Any:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    out = subprocess.run(
        pinned(0, [sys.executable, "-c", code, *args]), capture_output=True, text=True, env=env,
        timeout=300, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def record_burst(path: Path, n: int) -> None:
    """A recording of one connection with n burst-like frames."""
    from wsevents.record import Recorder

    with Recorder(path) as recorder:
        recorder.opened(1, 0)
        for i in range(n):
            message = {"channel": "trades", "seq": i, "p": "123.45", "q": "0.01",
                       "ts": 1.7e12 + i, "pad": "x" * 40}  # fmt: skip
            recorder.frame(1, i * 1000, json.dumps(message, separators=(",", ":")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--baseline", help="a checkout of the code before issue 14")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    args = parser.parse_args()
    here = str(ROOT)
    server, port = start_server(sys.executable)
    results: dict[str, list[dict[str, float]]] = {}
    try:
        url = f"ws://127.0.0.1:{port}/burst?n={args.n}&size=130"
        bursts = f"ws://127.0.0.1:{port}/burst?n=N&size=130"
        for rep in range(args.reps):
            if args.skip_throughput:
                break
            for transport in ("websockets", "picows"):
                codes = [("", here)]
                if args.baseline:
                    codes.append(("before", args.baseline))
                for code, path in codes:
                    # one process: a warm-up, then off, on, on, off (pairs next in time)
                    runs = run_client(CLIENT, ["off,on,on,off", transport, bursts,
                                               str(args.n)], path)  # fmt: skip
                    for got in runs:
                        variant = f"{code}-{got['variant']}" if code else got["variant"]
                        variant = {"before-off": "before"}.get(variant, variant)
                        results.setdefault(f"{transport}/{variant}", []).append(got)
                        print(f"rep {rep} {transport}/{variant}: {got['rate']:,.0f} msg/s, "
                              f"{got['cpu_us']:.3f} µs/msg", flush=True)  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            recording = Path(tmp) / "burst.jsonl"
            record_burst(recording, args.n)
            for rep in range(0 if args.skip_replay else args.reps):
                got = run_client(PICOWS, [url, str(args.n)], here)
                results.setdefault("picows<-bench server", []).append(got)
                replay = subprocess.Popen(
                    pinned(1, [sys.executable, "-m", "wsevents", "replay", str(recording),
                               "--speed", "0"]),
                    stdout=subprocess.PIPE, text=True, cwd=ROOT,
                    env=dict(os.environ, PYTHONPATH=here),
                )  # fmt: skip
                try:
                    assert replay.stdout is not None
                    replay_url = replay.stdout.readline().strip()
                    got = run_client(PICOWS, [replay_url, str(args.n)], here)
                finally:
                    replay.terminate()
                    replay.wait(10)
                results.setdefault("picows<-wsevents replay", []).append(got)
                print(f"rep {rep} replay: {got['rate']:,.0f} msg/s", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    report(results)


def report(results: dict[str, list[dict[str, float]]]) -> None:
    def median(key: str, field: str = "rate") -> float:
        return statistics.median(r[field] for r in results[key])

    def ratio(a: str, b: str) -> float:
        pairs = zip(results[a], results[b], strict=True)
        return statistics.median(x["rate"] / y["rate"] for x, y in pairs)

    def cpu(a: str, b: str) -> str:
        """CPU per message of ``a`` over ``b``'s, median over the pairs, as a change."""
        pairs = zip(results[a], results[b], strict=True)
        change = statistics.median(x["cpu_us"] / y["cpu_us"] for x, y in pairs) - 1
        return f"CPU {change * 100:+.1f} %"

    pins = "client on CPU 0, servers on CPU 1" if TASKSET else "not pinned"
    print(f"\n_{time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"2 cores shared with other work, {pins}_\n")
    print("| measurement | median msg/s (min-max) | CPU µs/msg | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for transport in ("websockets", "picows"):
        off = f"{transport}/off"
        if off not in results:
            continue
        for variant in ("off", "on", "before", "before-on"):
            key = f"{transport}/{variant}"
            if key not in results:
                continue
            rates = [r["rate"] for r in results[key]]
            before = f"{transport}/before"
            if variant == "off":
                what = "1.00 (reference)"
            elif variant == "on":
                what = f"{ratio(key, off):.3f} on/off, {cpu(key, off)}"
            elif variant == "before":
                what = f"{ratio(off, key):.3f} off/before, {cpu(off, key)}"
            else:
                what = f"{ratio(key, before):.3f} on/off before, {cpu(key, before)}"
            print(f"| {key} | {median(key):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
                  f"| {median(key, 'cpu_us'):.2f} | {what} |")  # fmt: skip
    for key in ("picows<-bench server", "picows<-wsevents replay"):
        if key in results:
            rates = [r["rate"] for r in results[key]]
            extra = ""
            if key.endswith("replay"):
                extra = f"{ratio(key, 'picows<-bench server'):.2f} vs bench server"
            spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
            print(f"| {key} | {median(key):,.0f} ({spread}) | | {extra} |")


if __name__ == "__main__":
    main()
