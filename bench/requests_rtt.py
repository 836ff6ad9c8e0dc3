"""Request round trips: wsevents' request path against raw websockets, same run.

The server runs in another process and answers every ``{"id", "method"}`` frame
with ``{"id", "status": 200, "result": {}}``.  Two clients, each on its own
connection, with the same reader loop shape:

* raw: ``websockets`` sending ``json.dumps`` frames and matching reply ids to
  futures by hand (a dict of futures, a timer per request);
* wsevents: ``Connection(protocol=BinanceApiProtocol()).request()``, the
  engine's whole request path (ids stamped by the protocol, replies matched by
  ``reply_id`` in the reader, the send path, ``PendingRequests``).

Both run with 1 request in flight (latency) and with 100 in flight
(throughput); the report gives round trips per second and the ratio
wsevents / raw (the issue's target: >= 0.9)::

    python bench/requests_rtt.py [--seconds 3] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import statistics
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

import wsevents
from wsevents.binance import BinanceApiProtocol


def serve(port_queue: Any) -> None:
    from websockets.asyncio.server import serve as ws_serve

    async def handler(ws: Any) -> None:
        async for raw in ws:
            request = json.loads(raw)
            await ws.send(json.dumps({"id": request["id"], "status": 200, "result": {}}))

    async def main() -> None:
        async with ws_serve(handler, "127.0.0.1", 0, compression=None) as server:
            port_queue.put(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


class Raw:
    """Raw websockets, ids matched by hand."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, tuple[asyncio.Future[Any], asyncio.TimerHandle]] = {}
        self.reader = asyncio.ensure_future(self.read())

    async def read(self) -> None:
        async for raw in self.ws:
            reply = json.loads(raw)
            entry = self.waiting.pop(reply["id"], None)
            if entry is not None:
                entry[1].cancel()
                entry[0].set_result(reply)

    async def request(self, method: str) -> Any:
        loop = asyncio.get_running_loop()
        key = next(self.ids)
        future = loop.create_future()
        timer = loop.call_later(10.0, future.cancel)
        self.waiting[key] = (future, timer)
        await self.ws.send(json.dumps({"id": key, "method": method}))
        return await future


class Wsevents:
    """wsevents' request path: ``Connection.request()``."""

    def __init__(self, ws: wsevents.Connection) -> None:
        self.ws = ws

    async def request(self, method: str) -> Any:
        return await self.ws.request({"method": method}, timeout=10.0)


async def measure(client: Any, in_flight: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.request("ping")
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - start)


async def run(url: str, seconds: float, reps: int) -> None:
    print("| in flight | raw websockets (rt/s) | wsevents request path (rt/s) | ratio |")
    print("| --- | --- | --- | --- |")
    for in_flight in (1, 100):
        raw_rates, ours_rates = [], []
        for _ in range(reps):
            async with connect(url, compression=None) as raw_ws:
                raw_client = Raw(raw_ws)
                raw_rates.append(await measure(raw_client, in_flight, seconds))
                await raw_ws.close()
                await raw_client.reader
            conn = wsevents.Connection(url, protocol=BinanceApiProtocol(), compression=None)
            async with conn:
                ours_rates.append(await measure(Wsevents(conn), in_flight, seconds))
        raw, ours = statistics.median(raw_rates), statistics.median(ours_rates)
        print(f"| {in_flight} | {raw:,.0f} | {ours:,.0f} | {ours / raw:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=10)
        asyncio.run(run(f"ws://127.0.0.1:{port}", args.seconds, args.reps))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
