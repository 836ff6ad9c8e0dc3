"""A bus consumer in its own process, for the tests that kill one with SIGKILL.

Usage: ``python -m tests.bus.consumer_process URL NAME GROUP CONSUMER STALL CHANNEL...``.
Prints ``READY`` once reading, then ``<channel> <seq>`` for every message as
its handler runs (flushed before the handler returns, so before the entry can
be acknowledged).  After STALL messages its handler hangs, so that the entry
it is in stays pending until the process is killed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from wsevents.bus import Consumer


async def main(
    url: str, name: str, group: str, consumer: str, stall: int, channels: list[str]
) -> None:
    bus = Consumer(url, name=name, group=group, consumer=consumer, channels=channels,
                   claim_after=0.5, block=0.05)
    out = sys.stdout

    handled = 0

    def handler(channel: str) -> Any:
        async def handle(message: dict[str, Any]) -> None:
            nonlocal handled
            out.write(f"{channel} {message['seq']}\n")
            out.flush()
            handled += 1
            if handled >= stall:
                await asyncio.Event().wait()  # hung: killed from outside

        return handle

    for channel in channels:
        bus.on(f"message:{channel}", handler(channel))
    await bus.wait_ready()
    out.write("READY\n")
    out.flush()
    await bus.run()


if __name__ == "__main__":
    url, name, group, consumer, stall, *channels = sys.argv[1:]
    asyncio.run(main(url, name, group, consumer, int(stall), channels))
