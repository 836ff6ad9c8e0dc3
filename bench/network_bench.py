#!/usr/bin/env python3
"""The network users actually have: TLS, permessage-deflate and proxies, same run, ratios.

    python bench/network_bench.py                          # every scenario, 3 interleaved reps
    python bench/network_bench.py --scenarios wss,deflate --reps 5
    python bench/network_bench.py --n 20000 --reps 1       # a quick look

A burst of --n JSON messages of ~130 B (the messages of ``server.py``'s
``/burst``) is delivered to one handler, by each client configured the same way
for the scenario, and compared with **raw websockets doing the same thing in
the same repetition**:

* ``ws``: plain ``ws://`` (the reference of the main suite, for context);
* ``wss``: TLS on loopback, the server's certificate from a ``trustme`` CA that
  every client trusts;
* ``deflate``: permessage-deflate negotiated (the server accepts the clients'
  offer; every message compressed, context takeover on);
* ``http-proxy``, ``socks5``: ``ws://`` through a ``pproxy`` HTTP CONNECT / SOCKS5
  proxy process on loopback.

Clients: ``websockets`` (``async for msg in ws`` + ``json.loads``, the
reference), ``wsevents-sync`` (``ws.on("message:trades")``, default transport),
``wsevents-deflate-off`` (the same with ``compression=None``: what not offering
deflate gives against a server that would accept it),
``wsevents-picows-sync`` (``transport="picows"``), and ``wsevents-aiofastnet``
(``wsevents-sync`` with ``aiofastnet.install_policy()`` before ``asyncio.run``:
aiofastnet's C transports, TCP and TLS, under the default transport).  Every client run is a
fresh process pinned to --client-cpu; the server (and the proxy) run in other
processes pinned to --server-cpu.  The server pre-builds the frames (for
``deflate``, compressed once with the negotiated parameters) and writes them in
large chunks once the client says ``go``, so the client is the bottleneck.
Timed from ``go`` (the connection open) to the end sentinel: wall
(``perf_counter``) and CPU (``process_time``); the first connection of a
``deflate`` server waits while the server compresses the burst, so the driver
makes one unmeasured run of each client first.
Reported per scenario: messages per second, CPU µs per message, and the ratios
against raw websockets of the same scenario and repetition (medians).  Only the
ratios travel between machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from server import end_sentinel, frame_text, make_payload  # noqa: E402


SCENARIOS = ("ws", "wss", "deflate", "http-proxy", "socks5")
CLIENTS = (
    "websockets",
    "wsevents-sync",
    "wsevents-deflate-off",
    "wsevents-picows-sync",
    "wsevents-aiofastnet",
)
#: the issue's targets: (scenario, client) -> the ratio vs raw websockets required
TARGETS = {
    ("wss", "wsevents-sync"): 1.0,
    ("wss", "wsevents-picows-sync"): 2.0,
    ("deflate", "wsevents-picows-sync"): 1.8,
}


# -- server ----------------------------------------------------------------------------


def server_ssl(ca_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(ca_dir / "server.pem")
    return ctx


def client_ssl(ca_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(ca_dir / "ca.pem")
    return ctx


def make_ca(ca_dir: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(ca_dir / "ca.pem"))
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(ca_dir / "server.pem"))


def deflated(messages: list[bytes], extensions: list[Any]) -> bytes:
    """The frames of ``messages`` through the connection's negotiated extensions."""
    from websockets.frames import TEXT, Frame

    return b"".join(Frame(TEXT, m).serialize(mask=False, extensions=extensions) for m in messages)


async def serve(n: int, tls: Path | None, deflate: bool) -> None:
    import websockets
    from websockets.asyncio.server import serve as ws_serve

    ts = time.monotonic()
    messages = [make_payload(i, 130, ts).encode() for i in range(n)]
    plain = b"".join(frame_text(m) for m in messages)
    #: negotiated Sec-WebSocket-Extensions -> the pre-compressed burst
    blocks: dict[tuple[bool, int], bytes] = {}

    async def handler(ws: Any) -> None:
        try:
            block = plain
            extensions = ws.protocol.extensions
            if extensions:
                # The server's side of the agreement: its encoder's parameters.
                ext = extensions[0]
                agreed = (ext.local_no_context_takeover, ext.local_max_window_bits)
                block = blocks.get(agreed) or blocks.setdefault(
                    agreed, deflated(messages, extensions)
                )
                # Later connections: a fresh encoder for the end sentinel, which
                # any inflater continuing the stream decodes.
            while (await ws.recv()) != "go":
                pass
            transport = ws.transport
            view = memoryview(block)
            for off in range(0, len(view), 1 << 18):
                transport.write(view[off : off + (1 << 18)])
                await ws.drain()
            await ws.send(end_sentinel(n))
            await ws.wait_closed()
        except websockets.ConnectionClosed:
            pass

    async with ws_serve(
        handler,
        "127.0.0.1",
        0,
        ssl=server_ssl(tls) if tls else None,
        compression="deflate" if deflate else None,
        ping_interval=None,
        max_size=None,
        write_limit=1 << 20,
    ) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


# -- clients ---------------------------------------------------------------------------


async def client(
    url: str, variant: str, tls: Path | None, deflate: bool, proxy: str | None
) -> dict[str, Any]:
    state: dict[str, Any] = {"count": 0}
    ctx = client_ssl(tls) if tls else None

    def trade() -> None:
        state["count"] += 1

    def go() -> str:
        state["t0"], state["c0"] = time.perf_counter(), time.process_time()
        return "go"

    def end() -> None:
        state["t1"], state["c1"] = time.perf_counter(), time.process_time()

    if variant == "websockets":
        from websockets.asyncio.client import connect

        options: dict[str, Any] = {
            "compression": "deflate" if deflate else None,
            "proxy": proxy,
            "max_size": None,
        }
        if ctx is not None:
            options["ssl"] = ctx
        async with connect(url, **options) as ws:
            state["extensions"] = [type(e).__name__ for e in ws.protocol.extensions]
            await ws.send(go())
            async for msg in ws:
                data = json.loads(msg)
                if data["channel"] == "trades":
                    trade()
                else:
                    end()
                    break
    else:
        import wsevents

        transport = "picows" if "picows" in variant else "websockets"
        compression = None if variant.endswith("deflate-off") or not deflate else "deflate"
        ws = wsevents.Connection(
            url,
            transport=transport,
            compression=compression,
            proxy=proxy,
            ssl=ctx,
            ping_interval=None,
        )
        done = asyncio.get_running_loop().create_future()
        ws.on("message:trades", lambda _msg: trade())

        def control(_msg: Any) -> None:
            end()
            done.set_result(None)

        ws.on("message:control", control)
        await ws.connect()
        await ws.send(go())
        await asyncio.wait_for(done, 600)
        await ws.close()
    return {
        "count": state["count"],
        "seconds": state["t1"] - state["t0"],
        "cpu": state["c1"] - state["c0"],
        **({"extensions": state["extensions"]} if "extensions" in state else {}),
    }


# -- driver ----------------------------------------------------------------------------


def pin(cpu: str) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpu] if taskset and cpu else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: pproxy's main without uvloop (pproxy 2.7 fails to start on Python 3.12+ when
#: uvloop is installed: it asks uvloop's policy for a loop nobody set)
_PPROXY = "import sys; sys.modules['uvloop'] = None; from pproxy.server import main; main()"


@contextlib.contextmanager
def proxy_process(scheme: str, cpu: str):  # type: ignore[no-untyped-def]
    port = free_port()
    proc = subprocess.Popen(
        [*pin(cpu), sys.executable, "-c", _PPROXY, "-l", f"{scheme}://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"pproxy ({scheme}) did not start")
            time.sleep(0.05)
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def server_process(args: argparse.Namespace, scenario: str, ca_dir: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    cmd = [*pin(args.server_cpu), sys.executable, __file__, "--serve", "--n", str(args.n)]
    if scenario == "wss":
        cmd += ["--tls", str(ca_dir)]
    if scenario == "deflate":
        cmd += ["--deflate"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline().split()[1])
    finally:
        proc.terminate()
        proc.wait()


def run_client(
    args: argparse.Namespace,
    scenario: str,
    variant: str,
    port: int,
    ca_dir: Path,
    proxy: str | None,
    env: dict[str, str],
) -> dict[str, Any]:
    scheme = "wss" if scenario == "wss" else "ws"
    cmd = [
        *pin(args.client_cpu),
        sys.executable,
        __file__,
        "--client",
        variant,
        "--url",
        f"{scheme}://127.0.0.1:{port}/",
    ]
    if scenario == "wss":
        cmd += ["--tls", str(ca_dir)]
    if scenario == "deflate":
        cmd += ["--deflate"]
    if proxy:
        cmd += ["--proxy", proxy]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode or not lines:
        sys.exit(f"{scenario} {variant} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(lines[-1][7:])
    if result["count"] != args.n:
        sys.exit(f"{scenario} {variant}: {result['count']} of {args.n} messages")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=200_000, help="messages in the burst")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--only", default=",".join(CLIENTS), help="client variants")
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--tls", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--deflate", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--proxy", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(args.n, args.tls, args.deflate))
        return
    if args.client:
        if args.client.endswith("aiofastnet"):
            # aiofastnet's C transports (TCP and TLS) under the asyncio loop
            import aiofastnet

            aiofastnet.install_policy()
        result = asyncio.run(client(args.url, args.client, args.tls, args.deflate, args.proxy))
        print("RESULT " + json.dumps(result), flush=True)
        return

    scenarios = [s for s in args.scenarios.split(",") if s]
    variants = [v for v in args.only.split(",") if v]
    if "websockets" not in variants:
        variants.insert(0, "websockets")
    unknown = set(scenarios) - set(SCENARIOS) | set(variants) - set(CLIENTS)
    if unknown:
        sys.exit(f"unknown scenario or client: {', '.join(sorted(unknown))}")
    # the environment's proxies would apply to every client: none but ours
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT)
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ca_dir = Path(tmp)
        make_ca(ca_dir)
        for rep in range(args.reps):
            for scenario in scenarios:
                with contextlib.ExitStack() as stack:
                    proxy = None
                    if scenario in ("http-proxy", "socks5"):
                        scheme = "http" if scenario == "http-proxy" else "socks5"
                        proxy = stack.enter_context(proxy_process(scheme, args.server_cpu))
                    port = stack.enter_context(server_process(args, scenario, ca_dir, env))
                    # compression=None only differs from the default where deflate is on offer
                    run = [
                        v for v in variants if scenario == "deflate" or v != "wsevents-deflate-off"
                    ]
                    order = run if rep % 2 == 0 else run[::-1]
                    if scenario == "deflate":  # the server compresses the burst once
                        for v in run:
                            run_client(args, scenario, v, port, ca_dir, proxy, env)
                    results = {
                        v: run_client(args, scenario, v, port, ca_dir, proxy, env) for v in order
                    }
                base = results["websockets"]
                base_rate = args.n / base["seconds"]
                base_cpu = base["cpu"] / args.n
                for variant, res in results.items():
                    rate = args.n / res["seconds"]
                    cpu = res["cpu"] / args.n
                    rows.setdefault((scenario, variant), []).append(
                        {
                            "rate": rate,
                            "cpu_us": 1e6 * cpu,
                            "ratio": rate / base_rate,
                            "cpu_ratio": cpu / base_cpu,
                        }
                    )
                print(
                    f"rep {rep + 1} {scenario}: "
                    + ", ".join(f"{v} {rows[(scenario, v)][-1]['ratio']:.2f}" for v in results),
                    file=sys.stderr,
                    flush=True,
                )

    def med(key: tuple[str, str], field: str) -> float:
        return statistics.median(r[field] for r in rows[key])

    print(
        f"\n## Network: burst of {args.n:,} msgs (~130 B), {args.reps} interleaved reps "
        f"(median; loopback, server in another process)\n"
    )
    print(
        "| scenario | client | msgs/s | ratio vs raw websockets (min-max) | CPU µs/msg "
        "| CPU/msg vs raw websockets |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for scenario in scenarios:
        for variant in variants:
            key = (scenario, variant)
            if key not in rows:
                continue
            ratios = [r["ratio"] for r in rows[key]]
            print(
                f"| {scenario} | {variant} | {med(key, 'rate'):,.0f} | "
                f"{med(key, 'ratio'):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
                f"{med(key, 'cpu_us'):.2f} | {med(key, 'cpu_ratio'):.2f} |"
            )
    targets = [(k, v) for k, v in TARGETS.items() if k in rows]
    if targets:
        print("\n| target (issue #18) | required | measured | met |\n|---|---:|---:|---|")
        for (scenario, variant), need in targets:
            got = med((scenario, variant), "ratio")
            print(
                f"| {scenario}, {variant} vs raw websockets | >= {need:.2f}x | {got:.2f}x | "
                f"{'yes' if got >= need else 'no'} |"
            )
    if "ws" in scenarios and len(scenarios) > 1:
        print("\nEach client against its own plain ws:// run (msgs/s; CPU µs/msg):\n")
        others = [s for s in scenarios if s != "ws"]
        print("| client | " + " | ".join(others) + " |")
        print("|---|" + "---:|" * len(others))
        for v in variants:
            if (("ws", v)) not in rows:
                continue
            cells = [
                f"{med((s, v), 'rate') / med(('ws', v), 'rate'):.2f}x; "
                f"{med((s, v), 'cpu_us') / med(('ws', v), 'cpu_us'):.2f}x"
                for s in others
            ]
            print(f"| {v} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
