#!/usr/bin/env python3
"""Loopback WebSocket load server for the client benchmarks (websockets 17.x, asyncio).

One server process serves every scenario; the scenario is chosen by the URL path
and query of each connection, so a client only needs a URL:

  /burst?n=200000&size=130[&sid=S][&wait_sub=1][&duration=0]
      Sends n JSON text messages as fast as the socket accepts them, then an
      end sentinel, then closes with 1000.  Frames are pre-built once per
      (n, size) and written straight to the transport in large chunks, so the
      server costs ~nothing per message and the client is always the
      bottleneck.  `ts` in these messages is the generation time, not the send
      time.  With duration>0 the pre-built block is repeated until `duration`
      seconds have passed (seq restarts each block).
      sid: a second connection with the same sid gets no data (it is held
      open silently) -- protects lossy auto-reconnecting clients from a replay.
      wait_sub=1: wait for one client message (a subscribe) before sending.

  /paced?rate=20000&duration=5&size=130[&burst=1][&sid=S][&wait_sub=1]
      Sends `rate` msgs/s for `duration` s, each built at send time with
      ts=time.monotonic() (CLOCK_MONOTONIC is system wide, so the client can
      compute one-way delivery latency).  Messages are written one by one
      (one write per message); `burst` messages are sent per tick.

  /reconnect?sid=S&k=50&r=20&drop=1011|rst|eof|1000&idle_ms=30&down_ms=0&size=130
      Per session id: connections 0..r-1 each get k messages (seq 0..k-1,
      with `conn` = connection index and `drop_ts` = monotonic time of the
      previous drop), then after idle_ms the server drops the connection:
        1011 -> close frame 1011 (internal error), then close handshake
        1000 -> normal close
        eof  -> TCP FIN without a close frame (client sees 1006)
        rst  -> TCP RST (SO_LINGER 0 + abort)
      For down_ms after each drop, handshakes for this sid get HTTP 503
      (exercises the clients' retry/backoff floors).
      Connection r gets one message then the end sentinel; later connections
      get the sentinel only.

  /idle   Sends nothing, keeps the connection until the client leaves.

Message: {"channel": "trades", "action": "subscribe_trades", "market_id": "0x01",
          "seq": i, "p": "123.45", "q": "0.01", "ts": ..., "pad": "..."}
("action"/"market_id" make it routable by o2-sdk; "pad" reaches `size` bytes.)
End sentinel: {"channel": "control", "type": "end", "sent": N, ...}.

Prints "PORT <port>" on stdout once listening.  Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import struct
import time
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.asyncio.server import serve


MARKET = "0x01"


def make_payload(seq: int, size: int, ts: float | None = None, o2: bool = False, **extra) -> str:
    """One data message of about `size` bytes (never less than the bare message).

    o2=True adds "onchain_timestamp": "conn|drop_ts|ts" -- o2-sdk turns messages
    into TradeUpdate objects that keep only that field of ours.
    """
    if ts is None:
        ts = time.monotonic()
    base = (
        f'{{"channel": "trades", "action": "subscribe_trades", "market_id": "{MARKET}", '
        f'"seq": {seq:d}, "p": "123.45", "q": "0.01", "ts": {ts:.6f}'
    )
    for key, val in extra.items():
        base += f', "{key}": {json.dumps(val)}'
    if o2:
        conn, drop_ts = extra.get("conn", 0), extra.get("drop_ts", 0.0)
        base += f', "onchain_timestamp": "{conn}|{drop_ts}|{ts:.6f}"'
    pad = size - len(base) - len(', "pad": ""}')
    if pad > 0:
        return base + ', "pad": "' + ("x" * pad) + '"}'
    return base + "}"


def end_sentinel(sent: int) -> str:
    return json.dumps(
        {
            "channel": "control",
            "type": "end",
            "sent": sent,
            # o2-sdk only delivers "subscribe_trades" actions, as TradeUpdate,
            # whose seen_timestamp field we use as the end marker.
            "action": "subscribe_trades",
            "market_id": MARKET,
            "seen_timestamp": "END",
            "onchain_timestamp": str(sent),
        }
    )


def frame_text(payload: bytes) -> bytes:
    """Unmasked server->client FIN text frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


_BLOCKS: dict[tuple[int, int], bytes] = {}


def burst_block(n: int, size: int) -> bytes:
    key = (n, size)
    blk = _BLOCKS.get(key)
    if blk is None:
        ts = time.monotonic()
        blk = b"".join(frame_text(make_payload(i, size, ts).encode()) for i in range(n))
        _BLOCKS[key] = blk
    return blk


class Sessions:
    def __init__(self) -> None:
        self.state: dict[str, dict] = {}

    def get(self, sid: str) -> dict:
        st = self.state.get(sid)
        if st is None:
            st = self.state[sid] = {"conn": 0, "drop_ts": 0.0, "down_until": 0.0, "rejected": 0}
        return st


SESSIONS = Sessions()


def qparams(path: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(path)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return parts.path.rstrip("/") or "/", q


async def write_raw(ws, data: bytes, chunk: int = 1 << 18) -> None:
    tr = ws.transport
    mv = memoryview(data)
    for off in range(0, len(mv), chunk):
        tr.write(mv[off : off + chunk])
        await ws.drain()


async def maybe_wait_sub(ws, q: dict) -> None:
    if q.get("wait_sub") == "1":
        try:
            await asyncio.wait_for(ws.recv(), timeout=10)
        except asyncio.TimeoutError:
            pass


async def do_burst(ws, q: dict) -> None:
    n = int(q.get("n", 200000))
    size = int(q.get("size", 130))
    duration = float(q.get("duration", 0))
    sid = q.get("sid")
    if sid:
        st = SESSIONS.get(sid)
        st["conn"] += 1
        if st["conn"] > 1:  # replay protection: hold silently
            await ws.wait_closed()
            return
    blk = burst_block(n, size)
    await maybe_wait_sub(ws, q)
    sent = 0
    if duration > 0:
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            await write_raw(ws, blk)
            sent += n
    else:
        await write_raw(ws, blk)
        sent = n
    await ws.send(end_sentinel(sent))
    await ws.close(1000, "done")


async def do_paced(ws, q: dict) -> None:
    rate = float(q.get("rate", 20000))
    duration = float(q.get("duration", 5))
    size = int(q.get("size", 130))
    burst = int(q.get("burst", 1))
    o2 = q.get("o2") == "1"
    await maybe_wait_sub(ws, q)
    tr = ws.transport
    total = int(rate * duration)
    t0 = time.monotonic()
    sent = 0
    while sent < total:
        now = time.monotonic()
        due = min(total, int((now - t0) * rate) + burst)
        while sent < due:
            tr.write(frame_text(make_payload(sent, size, o2=o2).encode()))
            sent += 1
        await ws.drain()
        # next message due at t0 + sent/rate
        delay = t0 + sent / rate - time.monotonic()
        await asyncio.sleep(delay if delay > 0 else 0)
    await ws.send(end_sentinel(sent))
    await ws.close(1000, "done")


async def do_reconnect(ws, q: dict) -> None:
    sid = q.get("sid", "default")
    k = int(q.get("k", 50))
    r = int(q.get("r", 20))
    drop = q.get("drop", "1011")
    idle_ms = float(q.get("idle_ms", 30))
    down_ms = float(q.get("down_ms", 0))
    size = int(q.get("size", 130))
    o2 = q.get("o2") == "1"
    st = SESSIONS.get(sid)
    conn = st["conn"]
    await maybe_wait_sub(ws, q)
    st["conn"] += 1
    tr = ws.transport
    if conn > r:
        await ws.send(end_sentinel(0))
        await ws.close(1000, "done")
        return
    if conn == r:
        tr.write(
            frame_text(make_payload(0, size, o2=o2, conn=conn, drop_ts=st["drop_ts"]).encode())
        )
        await ws.send(end_sentinel(r * k + 1))
        await ws.close(1000, "done")
        return
    for i in range(k):
        tr.write(
            frame_text(make_payload(i, size, o2=o2, conn=conn, drop_ts=st["drop_ts"]).encode())
        )
    await ws.drain()
    await asyncio.sleep(idle_ms / 1000)
    now = time.monotonic()
    st["drop_ts"] = now
    st["down_until"] = now + down_ms / 1000
    if drop == "rst":
        sock = tr.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tr.abort()
    elif drop == "eof":
        tr.close()
    elif drop == "1000":
        await ws.close(1000, "bench normal close")
    else:
        await ws.close(int(drop), "bench drop")


async def handler(ws) -> None:
    path, q = qparams(ws.request.path)
    try:
        if path == "/burst":
            await do_burst(ws, q)
        elif path == "/paced":
            await do_paced(ws, q)
        elif path == "/reconnect":
            await do_reconnect(ws, q)
        elif path == "/idle":
            await ws.wait_closed()
        else:
            await ws.close(1008, "unknown path")
    except websockets.ConnectionClosed:
        pass


def process_request(connection, request):
    path, q = qparams(request.path)
    if path == "/reconnect":
        st = SESSIONS.get(q.get("sid", "default"))
        if time.monotonic() < st["down_until"]:
            st["rejected"] += 1
            return connection.respond(503, "down for the benchmark\n")
    return None


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--prebuild", default="", help="comma list of n:size blocks to build at start")
    args = ap.parse_args()
    for spec in filter(None, args.prebuild.split(",")):
        n, size = spec.split(":")
        burst_block(int(n), int(size))
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None)
        )
    async with serve(
        handler,
        args.host,
        args.port,
        compression=None,
        ping_interval=None,
        max_size=None,
        write_limit=1 << 20,
        process_request=process_request,
        backlog=4096,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
