"""The ``wsevents`` command line (layer L5): ``wsevents demo`` and ``wsevents tail URL``.

``wsevents demo``
    Runs a :class:`wsevents.Connection` against an embedded
    :class:`~wsevents.testing.FakeServer` that plays a small exchange feed
    (numbered trades and 1-minute candles, from a seeded random generator),
    through a scripted scenario in which every event fires: a malformed frame,
    a TCP drop, a 1013 close that misses trades (``gap``), a flapping server, a
    candle-aware proactive disconnect and reconnect, a make-before-break
    ``handover()``, a slow handler overflowing its queue, and the final close.
    Offline, about 15 seconds (``--duration``), then a summary; exit status 0
    when every event was seen.  The scenario lives in :mod:`wsevents._demo`.

``wsevents tail URL``
    Streams the messages of a feed as JSON lines on stdout, with connection
    events on stderr, reconnecting like the library does.  Exit status: 0 after
    ``--count`` messages or Ctrl-C, 1 when the connection fails for good (a
    refused handshake, ``--max-attempts`` exhausted), 2 for a usage or
    configuration error (a bad URL, header or channel).  More ``--subscribe``
    channels than one connection carries (``--max-channels``, or the
    protocol's cap) are spread over a :class:`wsevents.Pool`.

With :mod:`wsevents._demo`, this is the only module of wsevents that prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Final

import wsevents
from wsevents import (
    Closed,
    ConfigError,
    Connected,
    Disconnected,
    DisconnectReason,
    QueueFull,
    Reconnecting,
    WSEventsError,
    _cli_bus,
    _cli_obs,
    _demo,
)
from wsevents._format import (
    describe_disconnect,
    describe_queue_full,
    describe_reconnecting,
    one_line,
    positive_int,
    verbose_option,
)
from wsevents.binance import BinanceProtocol


__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return _exit_status(exc.code)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    with _library_logging(args.verbose):
        try:
            if args.command == "tail":
                return asyncio.run(_tail(args))
            if args.command in _cli_bus.COMMANDS:
                return asyncio.run(_cli_bus.run(args))
            if args.command in _cli_obs.COMMANDS:
                return asyncio.run(_cli_obs.run(args))
            return asyncio.run(
                _demo.run(duration=args.duration, seed=args.seed, no_color=args.no_color)
            )
        except KeyboardInterrupt:
            return EXIT_OK


# -- arguments -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsevents",
        description="Event-driven asyncio WebSocket client for long-lived feeds.",
    )
    parser.add_argument("--version", action="version", version=f"wsevents {wsevents.__version__}")
    parser.set_defaults(command=None, verbose=0)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="watch every event fire against an embedded fake exchange (offline, ~15 s)",
        description=(
            "Run a client against an embedded FakeServer playing trades and 1-minute "
            "candles, through drops, a 1013 close that misses trades (gap), a flapping "
            "server, a candle-aware proactive reconnect, a make-before-break handover "
            "and a slow handler. Offline; colours when stdout is a terminal (NO_COLOR "
            "disables them)."
        ),
    )
    demo.set_defaults(command="demo")
    demo.add_argument(
        "--duration",
        type=_demo_duration,
        default=15.0,
        metavar="SECONDS",
        help="about how long the demo runs (default: 15, at least 4)",
    )
    demo.add_argument("--seed", type=int, default=7, help="seed of the fake feed (default: 7)")
    demo.add_argument("--no-color", action="store_true", help="no colours, even on a terminal")
    verbose_option(demo)

    tail = commands.add_parser(
        "tail",
        help="stream a feed's messages as JSON lines (events on stderr)",
        description=(
            "Connect to URL and print every message as one JSON line on stdout; "
            "connection events go to stderr. Reconnects like the library does. "
            "Exit status: 0 after --count messages or Ctrl-C, 1 when the connection "
            "fails for good, 2 for a usage or configuration error."
        ),
    )
    tail.set_defaults(command="tail")
    tail.add_argument("url", help="ws:// or wss:// URL")
    tail.add_argument(
        "-s",
        "--subscribe",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="subscribe to CHANNEL on every connect (repeatable)",
    )
    tail.add_argument(
        "--protocol",
        choices=("json", "binance"),
        default="json",
        help="json: channel under --channel-key, {op: subscribe} frames (default); "
        "binance: combined streams, SUBSCRIBE requests",
    )
    tail.add_argument(
        "--channel-key",
        default=None,
        metavar="KEY",
        help="key (or dotted path) of the channel in JSON messages (default: channel)",
    )
    tail.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="NAME:VALUE",
        help="extra handshake header (repeatable)",
    )
    tail.add_argument(
        "-n", "--count", type=positive_int, metavar="N", help="exit after N messages"
    )
    tail.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="print only messages of CHANNEL (repeatable)",
    )
    tail.add_argument(
        "--max-channels",
        type=positive_int,
        metavar="N",
        help="channels one connection may carry (default: the protocol's, 1024 for "
        "binance); more subscriptions are spread over a pool of connections",
    )
    tail.add_argument(
        "--max-attempts",
        type=positive_int,
        metavar="N",
        help="give up after N consecutive failed attempts (default: retry forever)",
    )
    tail.add_argument(
        "--proxy",
        metavar="URL",
        help="connect through this proxy (http://, https://, socks5://, socks5h://, "
        "with user:pass@ if needed); 'none': no proxy (default: the environment's)",
    )
    tail.add_argument(
        "--transport",
        choices=["websockets", "picows"],
        help="the WebSocket client underneath (default: websockets)",
    )
    verbose_option(tail)
    _cli_obs.add_tail_options(tail)
    _cli_bus.add_commands(commands)
    _cli_obs.add_commands(commands)
    return parser


def _demo_duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 4 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 4 and 600 seconds")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or any(ch.isspace() for ch in name):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:VALUE")
    return name, value


def _exit_status(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    return EXIT_USAGE


@contextlib.contextmanager
def _library_logging(verbose: int) -> Iterator[None]:
    """The CLI reports events itself: the library's log lines only with ``-v``."""
    logger = logging.getLogger("wsevents")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    else:
        handler = logging.NullHandler()
    logger.handlers = [handler]
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]


# -- tail ----------------------------------------------------------------------------


async def _tail(args: argparse.Namespace) -> int:
    err = sys.stderr
    metrics = None
    try:
        metrics = _cli_obs.start_metrics(args)
        protocol: wsevents.Protocol
        if args.protocol == "binance":
            if args.channel_key is not None:
                raise ConfigError("--channel-key", args.channel_key, "applies to --protocol json")
            protocol = BinanceProtocol()
        else:
            protocol = wsevents.JsonProtocol(channel_key=args.channel_key or "channel")
        options: dict[str, Any] = {
            "protocol": protocol,
            "subscriptions": args.subscribe,
            "headers": dict(args.header) or None,
            "max_reconnect_attempts": args.max_attempts,
            "proxy": True if args.proxy is None else None if args.proxy == "none" else args.proxy,
            "transport": args.transport,
            **_cli_obs.tail_options(args),
        }
        cap = args.max_channels or protocol.max_channels
        ws: wsevents.Connection | wsevents.Pool
        if cap is not None and len(dict.fromkeys(args.subscribe)) > cap:
            # More channels than one connection carries: a pool of them.
            ws = wsevents.Pool(args.url, max_channels=cap, **options)
        else:
            ws = wsevents.Connection(args.url, **options)
        metrics.watch(ws)
    except ConfigError as exc:
        if metrics is not None:
            metrics.stop()
        print(f"wsevents tail: {one_line(exc)}", file=err)
        return EXIT_USAGE
    tail = _Tail(ws, count=args.count, channels=args.filter)
    try:
        await ws.run()
    except WSEventsError as exc:
        print(f"wsevents tail: {one_line(exc)}", file=err)
        return EXIT_FAILURE
    finally:
        await ws.close()
        metrics.stop()
    if tail.broken_pipe:
        _silence_stdout()
    return EXIT_OK


class _Tail:
    """The handlers of ``wsevents tail``: messages to stdout, events to stderr."""

    def __init__(
        self,
        ws: wsevents.Connection | wsevents.Pool,
        *,
        count: int | None,
        channels: list[str],
    ) -> None:
        self.ws = ws
        self.count = count
        self.printed = 0
        self.broken_pipe = False
        if channels:
            for channel in dict.fromkeys(channels):
                ws.on(f"message:{channel}", self.on_message)
        else:
            ws.on("message", self.on_message)
        ws.on("connect", self.on_connect)
        ws.on("disconnect", self.on_disconnect)
        ws.on("reconnecting", self.on_reconnecting)
        ws.on("queue_full", self.on_queue_full)
        ws.on("error", self.on_error)
        ws.on("closed", self.on_closed)

    async def on_message(self, message: Any) -> None:
        if self.broken_pipe or (self.count is not None and self.printed >= self.count):
            return  # what is still queued after --count or a closed pipe
        line = json.dumps(message, separators=(",", ":"), default=str)
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `wsevents tail ... | head`
            self.broken_pipe = True
            await self.ws.close()
            return
        self.printed += 1
        if self.count is not None and self.printed >= self.count:
            await self.ws.close()

    @staticmethod
    def _event(text: str) -> None:
        print(f"wsevents: {text}", file=sys.stderr, flush=True)

    def on_connect(self, event: Connected) -> None:
        again = f", reconnected after {event.downtime:.1f} s" if event.is_reconnect else ""
        shard = "" if event.shard is None else f"shard {event.shard} "
        self._event(f"{shard}connected to {event.url} (attempt {event.attempt}{again})")

    def on_disconnect(self, event: Disconnected) -> None:
        if event.reason is DisconnectReason.SHUTDOWN:
            return
        shard = "" if event.shard is None else f"shard {event.shard} "
        self._event(f"{shard}disconnected: {describe_disconnect(event)}")

    def on_reconnecting(self, event: Reconnecting) -> None:
        self._event(f"reconnecting: {describe_reconnecting(event)}")

    def on_queue_full(self, event: QueueFull) -> None:
        self._event(f"queue_full: {describe_queue_full(event)}")

    def on_error(self, exc: Exception) -> None:
        self._event(f"error: {one_line(f'{type(exc).__name__}: {exc}')}")

    def on_closed(self, event: Closed) -> None:
        # A fatal error is printed once, by _tail(), as the last line.
        if event.error is None and event.reason != "close() called":
            self._event(f"closed: {event.reason}")


def _silence_stdout() -> None:
    # Python's documented recipe: stdout's pipe is gone, so the flush at exit
    # would fail again; point the descriptor at devnull.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
