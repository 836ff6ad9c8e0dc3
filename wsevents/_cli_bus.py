"""``wsevents publish`` and ``wsevents consume``: the Redis Streams bus from the command line.

``wsevents publish URL --redis REDIS_URL --name N --subscribe CH ...``
    Connects to the feed at URL and publishes everything it delivers into
    Redis Streams (``wsevents:<N>:<channel>``), until Ctrl-C or ``--count``
    messages.  Events of the feed and of the Redis connection go to stderr.

``wsevents consume --redis REDIS_URL --name N [--group G --consumer C] [--channel CH ...]``
    Reads the feed back and prints every message as one JSON line on stdout;
    lifecycle events go to stderr.  Without ``--group`` it reads from
    ``--start`` (default: now); with it, as a member of the consumer group.

Both need the extra ``wsevents[redis]``; this module imports ``wsevents.bus``
only when one of them runs.  ``wsevents.cli`` wires them in with
:func:`add_commands` and :func:`run`.  Exit status: 0 after ``--count`` or
Ctrl-C, 1 when the feed fails for good, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Final

import wsevents
from wsevents import ConfigError, WSEventsError
from wsevents._format import (
    describe_disconnect,
    describe_queue_full,
    one_line,
    positive_int,
    verbose_option,
)


__all__ = ["COMMANDS", "add_commands", "run"]

#: the commands this module adds
COMMANDS: Final = ("publish", "consume")
EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


def add_commands(commands: Any) -> None:
    """Add ``publish`` and ``consume`` to the CLI's subparsers.

    Args:
        commands: what ``ArgumentParser.add_subparsers()`` returned.
    """
    publish = commands.add_parser(
        "publish",
        help="publish a feed into Redis Streams (needs wsevents[redis])",
        description=(
            "Connect to URL and write every message and lifecycle event it delivers "
            "into Redis Streams wsevents:NAME:CHANNEL. Events go to stderr."
        ),
    )
    publish.set_defaults(command="publish")
    publish.add_argument("url", help="ws:// or wss:// URL of the feed")
    _redis_options(publish)
    publish.add_argument("-s", "--subscribe", action="append", default=[], metavar="CHANNEL",
                         help="subscribe to CHANNEL on every connect (repeatable)")
    publish.add_argument("--channel-key", default="channel", metavar="KEY",
                         help="key of the channel in JSON messages (default: channel)")
    trim = publish.add_mutually_exclusive_group()
    trim.add_argument("--maxlen", type=positive_int, metavar="N",
                      help="keep about N entries per stream")
    trim.add_argument("--max-age", type=_positive_float, metavar="SECONDS",
                      help="keep entries for about SECONDS (Redis 6.2+)")
    publish.add_argument("-n", "--count", type=positive_int, metavar="N",
                         help="exit after N messages were published")

    consume = commands.add_parser(
        "consume",
        help="print a feed published into Redis Streams as JSON lines (needs wsevents[redis])",
        description=(
            "Read the feed NAME from Redis Streams and print every message as one JSON "
            "line on stdout; lifecycle events go to stderr."
        ),
    )
    consume.set_defaults(command="consume")
    _redis_options(consume)
    consume.add_argument("-c", "--channel", action="append", default=[], metavar="CHANNEL",
                         help="read CHANNEL (repeatable; none: lifecycle events only)")
    consume.add_argument("--group", metavar="GROUP", help="read as a member of consumer GROUP")
    consume.add_argument("--consumer", metavar="NAME",
                         help="this consumer's name in the group (default: host-pid)")
    consume.add_argument("--start", default="$", metavar="ID",
                         help='where to start: "$" (now, default), "0" (everything) or an id')
    consume.add_argument("-n", "--count", type=positive_int, metavar="N",
                         help="exit after N messages")


def _redis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", required=True, metavar="REDIS_URL",
                        help="redis://, rediss:// or unix:// URL")
    parser.add_argument("--name", required=True, metavar="NAME", help="the feed's name")
    verbose_option(parser)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


async def run(args: argparse.Namespace) -> int:
    """Run ``publish`` or ``consume`` with parsed ``args``; returns the exit status."""
    try:
        import wsevents.bus  # noqa: F401 - the extra's presence
    except ImportError as exc:
        _event(f"wsevents {args.command} needs the extra wsevents[redis] ({exc})", prefix=False)
        return EXIT_USAGE
    if args.command == "publish":
        return await _publish(args)
    return await _consume(args)


def _event(text: str, *, prefix: bool = True) -> None:
    print(f"wsevents: {text}" if prefix else text, file=sys.stderr, flush=True)


def _bus_events(emitter: Any) -> None:
    emitter.on("bus_connect", lambda e: _event(f"redis connected: {e.url}"))
    emitter.on("bus_disconnect", lambda e: _event(f"redis lost: {one_line(e.error)}"))
    emitter.on("error", lambda e: _event(f"error: {one_line(f'{type(e).__name__}: {e}')}"))


async def _publish(args: argparse.Namespace) -> int:
    from wsevents.bus import RedisPublisher

    try:
        ws = wsevents.Connection(
            args.url,
            protocol=wsevents.JsonProtocol(channel_key=args.channel_key),
            subscriptions=args.subscribe,
        )
        publisher = RedisPublisher(args.redis, name=args.name, maxlen=args.maxlen,
                                   max_age=args.max_age)
    except ConfigError as exc:
        _event(f"wsevents publish: {one_line(exc)}", prefix=False)
        return EXIT_USAGE
    _bus_events(publisher)
    ws.on("connect", lambda e: _event(f"connected to {e.url}"))
    ws.on("disconnect", lambda e: _event(f"disconnected: {describe_disconnect(e)}"))
    ws.on("queue_full", lambda e: _event(f"queue_full: {describe_queue_full(e)}"))
    published = 0
    done = asyncio.Event()

    def count(_name: str, _payload: Any) -> None:
        nonlocal published
        if _name.startswith(wsevents.MESSAGE_PREFIX) or _name == wsevents.MESSAGE:
            published += 1
            if args.count is not None and published >= args.count:
                done.set()

    publisher.attach(ws)
    ws.add_observer(count)
    status = EXIT_OK
    try:
        await publisher.start()
        runner = asyncio.ensure_future(ws.run())
        waiter = asyncio.ensure_future(done.wait())
        await asyncio.wait([runner, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if runner.done():
            runner.result()
    except WSEventsError as exc:
        _event(f"wsevents publish: {one_line(exc)}", prefix=False)
        status = EXIT_FAILURE
    finally:
        await ws.close()
        await publisher.close()
    _event(f"published {publisher.stats.published} messages, dropped {publisher.stats.dropped}")
    return status


async def _consume(args: argparse.Namespace) -> int:
    from wsevents.bus import Consumer

    try:
        bus = Consumer(args.redis, name=args.name, channels=args.channel, group=args.group,
                       consumer=args.consumer, start=args.start)
    except ConfigError as exc:
        _event(f"wsevents consume: {one_line(exc)}", prefix=False)
        return EXIT_USAGE
    _bus_events(bus)
    printed = 0
    done = asyncio.Event()

    def on_message(message: Any) -> None:
        nonlocal printed
        if done.is_set():
            return
        sys.stdout.write(json.dumps(message, separators=(",", ":"), default=str) + "\n")
        sys.stdout.flush()
        printed += 1
        if args.count is not None and printed >= args.count:
            done.set()

    for channel in dict.fromkeys(args.channel):
        bus.on(f"message:{channel}", on_message)
    for name in ("connect", "disconnect", "reconnecting", "gap", "handover", "queue_full",
                 "closed"):
        bus.on(name, _lifecycle_printer(name))
    try:
        bus.start()
        await done.wait()
    finally:
        await bus.close()
    return EXIT_OK


def _lifecycle_printer(name: str) -> Any:
    def show(payload: Any) -> None:
        _event(f"feed {name}: {one_line(repr(payload))}")

    return show
