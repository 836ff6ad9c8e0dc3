#!/usr/bin/env python3
"""The chaos soak's feed server, in its own process (``bench/soak.py`` starts it).

Usage: ``python bench/soak_server.py --port P --base B --log DIR [--send-limit N PER]``

A :class:`wsevents.testing.FakeServer` that numbers messages per channel, like
an exchange: every ``--tick`` seconds each known channel's counter moves on by
one (subscribed or not: numbers published while nobody held the channel are
missed, and a client must report them as a gap) and the message
``{"channel": c, "seq": n, "conn": "<pid>.<client id>"}`` goes to every open
connection subscribed to ``c``, through one sender task per connection (a
client that pushes back slows only itself).  Counters start at ``--base``: the
soak restarts the server after a SIGKILL with a base above the last ``AT``
it read plus a margin larger than one publication, so numbers never go back.

Control: one JSON command per line on stdin, answered on stdout:

* ``{"op": "close", "code": 1011, "pick": 3}``: close the ``pick``-th (modulo)
  open connection with that code;
* ``{"op": "refuse", "status": 429, "retry_after": 1, "count": 2}``: refuse the
  next handshakes;
* ``{"op": "burst", "n": 500, "prefix": "a"}``: publish ``n`` numbers at once
  on every channel whose name starts with ``prefix``;
* ``{"op": "quiesce"}``: stop publishing, let every sender drain, print
  ``LAST <channel> <seq>`` for each channel, then ``QUIESCED``.

Stdout also carries ``PORT <n>`` once listening, ``FIRST <channel> <seq>``
the first time this process sends a channel, and ``AT <n>``, the highest
number given so far, after each publication (a restart starts above it).
Every connection attempt's time (``time.monotonic()``, system-wide) is
appended to ``DIR/attempts`` and every broken send limit to
``DIR/violations``, flushed every tick, so that a SIGKILL loses at most one
tick of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from wsevents.testing import FakeClient, FakeServer


class Feed:
    """The numbered channels and one sender per connection."""

    def __init__(self, server: FakeServer, base: int, log: Path) -> None:
        self.server = server
        self.counters: dict[str, int] = {}
        self.base = base
        self.queues: dict[FakeClient, asyncio.Queue[str | None]] = {}
        self.senders: set[asyncio.Task[None]] = set()
        self.first_sent: set[str] = set()
        self.last_sent: dict[str, int] = {}
        self.publishing = True
        self.log = log
        self._attempts_written = 0
        self._violations_written = 0

    def next_numbers(self, channel: str, n: int) -> list[int]:
        start = self.counters.get(channel, self.base)
        self.counters[channel] = start + n
        return list(range(start + 1, start + n + 1))

    def known_channels(self) -> set[str]:
        names = set(self.counters)
        for client in self.server.clients:
            names |= client.subscriptions
        return names

    def publish(self, channels: set[str], n: int) -> None:
        for channel in sorted(channels):
            numbers = self.next_numbers(channel, n)
            for client in self.server.clients:
                if channel not in client.subscriptions or client.closed:
                    continue
                queue = self.queues.get(client)
                if queue is None:
                    queue = self.queues[client] = asyncio.Queue()
                    task = asyncio.create_task(self._send(client, queue))
                    self.senders.add(task)
                    task.add_done_callback(self.senders.discard)
                conn = f"{os.getpid()}.{client.id}"
                for seq in numbers:
                    queue.put_nowait(json.dumps({"channel": channel, "seq": seq, "conn": conn}))
                if channel not in self.first_sent:
                    self.first_sent.add(channel)
                    print(f"FIRST {channel} {numbers[0]}", flush=True)
                self.last_sent[channel] = numbers[-1]
        if self.counters:
            print(f"AT {max(self.counters.values())}", flush=True)

    async def _send(self, client: FakeClient, queue: asyncio.Queue[str | None]) -> None:
        try:
            while True:
                frame = await queue.get()
                if frame is None or client.closed:
                    return
                await client.websocket.send(frame)
        except Exception:
            return
        finally:
            self.queues.pop(client, None)

    def flush_logs(self) -> None:
        attempts = self.server.attempts
        if len(attempts) > self._attempts_written:
            # loop.time() is time.monotonic(): system-wide, comparable across processes
            with (self.log / "attempts").open("a") as f:
                f.writelines(f"{t:.6f}\n" for t in attempts[self._attempts_written :])
            self._attempts_written = len(attempts)
        violations = self.server.violations
        if len(violations) > self._violations_written:
            with (self.log / "violations").open("a") as f:
                f.writelines(f"{v!r}\n" for v in violations[self._violations_written :])
            self._violations_written = len(violations)

    async def run(self, tick: float) -> None:
        while True:
            if self.publishing:
                self.publish(self.known_channels(), 1)
            self.flush_logs()
            await asyncio.sleep(tick)  # the feed's pace, not synchronisation

    async def quiesce(self, timeout: float = 10.0) -> None:
        self.publishing = False
        for queue in list(self.queues.values()):
            queue.put_nowait(None)
        if self.senders:
            await asyncio.wait(list(self.senders), timeout=timeout)
        for channel, seq in sorted(self.last_sent.items()):
            print(f"LAST {channel} {seq}", flush=True)
        print("QUIESCED", flush=True)


async def control(feed: Feed) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command: dict[str, Any] = json.loads(line)
        op = command["op"]
        server = feed.server
        if op == "close":
            clients = [c for c in server.clients if not c.closed]
            if clients:
                client = clients[command["pick"] % len(clients)]
                asyncio.create_task(client.close(command["code"], "soak"))  # noqa: RUF006
        elif op == "refuse":
            headers = (
                {"Retry-After": str(command["retry_after"])} if "retry_after" in command else None
            )
            server.refuse(command["status"], headers=headers, count=command["count"])
        elif op == "burst":
            channels = {c for c in feed.known_channels() if c.startswith(command["prefix"])}
            feed.publish(channels, command["n"])
        elif op == "quiesce":
            await feed.quiesce()
        print(f"OK {op}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--base", type=int, default=0)
    parser.add_argument("--tick", type=float, default=0.02)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--compression", choices=("deflate", "none"), default="deflate")
    parser.add_argument("--send-limit", type=float, nargs=2, default=None)
    args = parser.parse_args()
    limit = (int(args.send_limit[0]), args.send_limit[1]) if args.send_limit else None
    server = FakeServer(
        port=args.port,
        client_rate_limit=limit,
        close_timeout=0.5,
        compression=None if args.compression == "none" else "deflate",
    )
    await server.start()
    feed = Feed(server, args.base, args.log)
    print(f"PORT {server.port}", flush=True)
    ticking = asyncio.create_task(feed.run(args.tick))
    await control(feed)
    ticking.cancel()
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
