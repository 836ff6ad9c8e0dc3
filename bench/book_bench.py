#!/usr/bin/env python3
"""Order books under a burst: BookKeeper against a plain handler, same burst, same run.

    python bench/book_bench.py                    # 200,000 diffs, 3 interleaved reps
    python bench/book_bench.py --reps 5 --transport picows
    python bench/book_bench.py --n 20000 --reps 1 # a quick look

A server process (pinned to --server-cpu when ``taskset`` exists) plays Binance
combined-stream ``depthUpdate`` diffs of 10 levels each for --symbols symbols
whose books hold 1,000 levels (500 bids, 500 asks).  Every client run is a
fresh process (pinned to --client-cpu):

* ``plain``: ``ws.on("message:<sym>@depth@100ms", handler)``, a handler that
  counts: the per-message path of wsevents with ``BinanceProtocol``;
* ``book``: a :class:`wsevents.book.BookKeeper` on the same channels (the
  REST snapshot comes from the same seeded generator as the server's book),
  and a ``books.on("book:<SYM>")`` handler that counts: every diff parsed, sequence-checked,
  applied to a 1,000-level book, crossed-checked and emitted.

Both connections use ``overflow="block"``: a book must not lose a diff to the
delivery queue (a drop is a gap, and a resync).  Both runs first receive one
diff per symbol (the book run syncs every symbol
on it), then send ``go``; the server answers with the burst, pre-framed and
written in large chunks, then an end marker.  Timed from the first burst
message to the end marker: wall time (``perf_counter``) and CPU time
(``process_time``).  Reported: diffs per second, **ratio book / plain** per rep
(target >= 0.8), and CPU µs per diff of each (their difference is what applying
a diff costs; their ratio is the throughput ratio when the client is CPU-bound,
and the steadier figure on a shared machine).  Only the ratios travel between
machines.  Each rep also prints how many times the garbage collector ran per
generation during the burst: a few tens of young collections mean messages
were delivered as they were decoded; hundreds, and full collections, mean
they piled up in the delivery queue (picows, whose reads grow large enough to
trip the inline delivery's 50 ms yield), which costs CPU in both runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parent.parent
LEVELS_PER_SIDE = 500
DIFF_LEVELS = 10
START_ID = 1_000_000
MID_TICKS = 1_000_000  # 10000.00 in ticks of 0.01


def price(offset: int) -> str:
    ticks = MID_TICKS + offset
    return f"{ticks // 100}.{ticks % 100:02d}"


def symbols(count: int) -> list[str]:
    return [f"SYM{i}USDT" for i in range(count)]


def channel(symbol: str) -> str:
    return f"{symbol.lower()}@depth@100ms"


def initial_book(symbol: str) -> dict[str, Any]:
    """The book every symbol starts from (the client's REST snapshot)."""
    rng = random.Random(symbol)
    return {
        "lastUpdateId": START_ID,
        "bids": [[price(-k), f"{rng.randint(1, 9999) / 1000:.3f}"] for k in range(1, 501)],
        "asks": [[price(k), f"{rng.randint(1, 9999) / 1000:.3f}"] for k in range(1, 501)],
    }


def diffs(symbol_list: list[str], n: int, seed: int = 1) -> list[bytes]:
    """``n`` diff messages, round-robin over the symbols, 10 levels each: mostly
    size changes of existing levels, 15 % removals, re-inserted later."""
    rng = random.Random(seed)
    ids = dict.fromkeys(symbol_list, START_ID)
    out: list[bytes] = []
    for i in range(n):
        symbol = symbol_list[i % len(symbol_list)]
        bids: list[list[str]] = []
        asks: list[list[str]] = []
        for _ in range(DIFF_LEVELS):
            k = rng.randint(1, LEVELS_PER_SIDE)
            size = "0" if rng.random() < 0.15 else f"{rng.randint(1, 9999) / 1000:.3f}"
            if rng.random() < 0.5:
                bids.append([price(-k), size])
            else:
                asks.append([price(k), size])
        first = ids[symbol] + 1
        last = ids[symbol] = first + rng.randint(0, 2)
        data = {"e": "depthUpdate", "E": i, "s": symbol, "U": first, "u": last,
                "b": bids, "a": asks}
        out.append(json.dumps({"stream": channel(symbol), "data": data},
                              separators=(",", ":")).encode())
    return out


def frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


# -- server ----------------------------------------------------------------------------


async def serve(n: int, count: int) -> None:
    import websockets
    from websockets.asyncio.server import serve as ws_serve

    symbol_list = symbols(count)
    messages = diffs(symbol_list, n + count)
    warmup, burst = messages[:count], messages[count:]
    end = json.dumps({"stream": "end", "data": {"sent": n}}).encode()
    block = b"".join(frame(m) for m in burst) + frame(end)

    async def handler(ws: Any) -> None:
        try:
            for message in warmup:
                await ws.send(message.decode())
            while (await ws.recv()) != "go":  # subscribe requests come first
                pass
            transport = ws.transport
            view = memoryview(block)
            for off in range(0, len(view), 1 << 18):
                transport.write(view[off : off + (1 << 18)])
                await ws.drain()
            await ws.wait_closed()
        except websockets.ConnectionClosed:
            pass

    async with ws_serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None,
                        max_size=None) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


# -- client ----------------------------------------------------------------------------


def collections() -> list[int]:
    """How many times each generation of the garbage collector has run."""
    return [generation["collections"] for generation in gc.get_stats()]


async def client(url: str, mode: str, count: int, transport: str) -> dict[str, Any]:
    import wsevents
    from wsevents.book import BINANCE_SPOT, BookKeeper

    symbol_list = symbols(count)
    channels = [channel(s) for s in symbol_list]
    ws = wsevents.Connection(url, protocol=wsevents.BinanceProtocol(), subscriptions=channels,
                             transport=transport, ping_interval=None, overflow="block")
    state = {"count": 0, "warm": 0, "t0": 0.0, "c0": 0.0}
    done = asyncio.get_running_loop().create_future()
    warm = asyncio.get_running_loop().create_future()
    go_after = count

    def counted(_payload: Any) -> None:
        if state["warm"] < go_after:
            state["warm"] += 1
            if state["warm"] == go_after and not warm.done():
                warm.set_result(None)
            return
        state["count"] += 1
        if state["count"] == 1:
            state["t0"], state["c0"] = time.perf_counter(), time.process_time()
            state["gc0"] = collections()

    def end(_payload: Any) -> None:
        state["t1"], state["c1"] = time.perf_counter(), time.process_time()
        state["gc1"] = collections()
        if not done.done():
            done.set_result(None)

    ws.on("message:end", end)
    keeper = None
    if mode == "plain":
        for ch in channels:
            ws.on(f"message:{ch}", counted)
    else:
        async def snapshot(symbol: str) -> Any:
            return initial_book(symbol)

        keeper = BookKeeper(ws, BINANCE_SPOT, channels=channels, snapshot=snapshot)
        for symbol in symbol_list:
            keeper.on(f"book:{symbol}", counted)  # the first one is the synced book
        keeper.on("resync", lambda r: r.reason.value != "start" and print(r, file=sys.stderr))
    await ws.connect()
    await asyncio.wait_for(warm, 30)
    await ws.send("go")
    await asyncio.wait_for(done, 300)
    result = {
        "mode": mode,
        "diffs": state["count"],
        "seconds": state["t1"] - state["t0"],
        "cpu": state["c1"] - state["c0"],
        # the garbage collector's runs during the burst (young, full): many mean
        # that decoded messages piled up (queued rather than delivered inline)
        "gc": [b - a for a, b in zip(state["gc0"], state["gc1"], strict=True)],
    }
    if keeper is not None:
        live = [keeper.book(s) for s in symbol_list]
        result["levels"] = min(len(b) for b in live if b is not None)
        await keeper.aclose()
    await ws.close()
    return result


# -- driver ----------------------------------------------------------------------------


def pin(cpu: str) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpu] if taskset and cpu else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="diffs in the burst")
    ap.add_argument("--symbols", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--transport", default="websockets")
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(args.n, args.symbols))
        return
    if args.client:
        result = asyncio.run(client(args.url, args.client, args.symbols, args.transport))
        print("RESULT " + json.dumps(result), flush=True)
        return

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows: list[dict[str, Any]] = []
    for rep in range(args.reps):
        server = subprocess.Popen(
            [*pin(args.server_cpu), sys.executable, __file__, "--serve", "--n", str(args.n),
             "--symbols", str(args.symbols)],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline().split()[1])
            results = {}
            for mode in ("plain", "book") if rep % 2 == 0 else ("book", "plain"):
                out = subprocess.run(
                    [*pin(args.client_cpu), sys.executable, __file__, "--client", mode,
                     "--url", f"ws://127.0.0.1:{port}/", "--symbols", str(args.symbols),
                     "--transport", args.transport],
                    capture_output=True, text=True, env=env, timeout=600,
                )
                if out.returncode:
                    sys.exit(f"{mode} client failed:\n{out.stderr}")
                line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
                results[mode] = json.loads(line[7:])
                if out.stderr.strip():
                    print(out.stderr.strip(), file=sys.stderr)
        finally:
            server.terminate()
            server.wait()
        plain, book = results["plain"], results["book"]
        assert plain["diffs"] == book["diffs"] == args.n, (plain, book)
        row = {
            "rep": rep + 1,
            "plain_rate": plain["diffs"] / plain["seconds"],
            "book_rate": book["diffs"] / book["seconds"],
            "plain_cpu_us": 1e6 * plain["cpu"] / plain["diffs"],
            "book_cpu_us": 1e6 * book["cpu"] / book["diffs"],
            "levels": book["levels"],
            "plain_gc": plain["gc"],
            "book_gc": book["gc"],
        }
        row["ratio"] = row["book_rate"] / row["plain_rate"]
        rows.append(row)
        print(f"rep {rep + 1}: plain {row['plain_rate']:,.0f}/s {row['plain_cpu_us']:.2f} µs, "
              f"book {row['book_rate']:,.0f}/s {row['book_cpu_us']:.2f} µs, "
              f"ratio {row['ratio']:.2f}; gc runs per generation: plain {plain['gc']}, "
              f"book {book['gc']}", file=sys.stderr)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"\n## Order books: {args.n:,} diffs of {DIFF_LEVELS} levels, {args.symbols} books of "
          f"~{2 * LEVELS_PER_SIDE} levels, transport {args.transport}, {args.reps} reps "
          f"(median; loopback, server in another process)\n")
    print("| path | diffs/s | CPU µs/diff | ratio vs plain, wall (min-max) | ratio, CPU |")
    print("|---|---|---|---|---|")
    ratios = [r["ratio"] for r in rows]
    cpu_ratio = med("plain_cpu_us") / med("book_cpu_us")
    print(f"| plain handler (message:<ch>) | {med('plain_rate'):,.0f} | "
          f"{med('plain_cpu_us'):.2f} | 1.00 | 1.00 |")
    print(f"| BookKeeper + book:<SYM> handler | {med('book_rate'):,.0f} | "
          f"{med('book_cpu_us'):.2f} | **{med('ratio'):.2f}** ({min(ratios):.2f}-"
          f"{max(ratios):.2f}) | **{cpu_ratio:.2f}** |")
    print(f"\nApplying a diff costs {med('book_cpu_us') - med('plain_cpu_us'):.2f} µs of CPU "
          f"on top of the per-message path; target ratio >= 0.8: "
          f"{'met' if med('ratio') >= 0.8 else 'NOT met'} (wall), "
          f"{'met' if cpu_ratio >= 0.8 else 'NOT met'} (CPU); books held "
          f"{rows[-1]['levels']} levels or more at the end.  The CPU ratio is the steadier "
          f"figure on a shared machine.")


if __name__ == "__main__":
    main()
