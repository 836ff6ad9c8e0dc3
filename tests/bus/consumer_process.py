"""A bus consumer in its own process, for the tests that kill one with SIGKILL.

Usage: ``python -m tests.bus.consumer_process URL NAME GROUP CONSUMER CHANNEL...``.
Prints ``READY`` once reading, then ``<channel> <seq>`` for every message as
its handler runs (flushed before the handler returns, so before the entry can
be acknowledged).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from wsevents.bus import Consumer


async def main(url: str, name: str, group: str, consumer: str, channels: list[str]) -> None:
    bus = Consumer(url, name=name, group=group, consumer=consumer, channels=channels,
                   claim_after=0.5, block=0.05)
    out = sys.stdout

    def handler(channel: str) -> Any:
        def handle(message: dict[str, Any]) -> None:
            out.write(f"{channel} {message['seq']}\n")
            out.flush()

        return handle

    for channel in channels:
        bus.on(f"message:{channel}", handler(channel))
    await bus.wait_ready()
    out.write("READY\n")
    out.flush()
    await bus.run()


if __name__ == "__main__":
    url, name, group, consumer, *channels = sys.argv[1:]
    asyncio.run(main(url, name, group, consumer, channels))
