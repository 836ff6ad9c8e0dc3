"""The ``wsevents`` command line (layer L5): ``wsevents demo`` and ``wsevents tail URL``.

``wsevents demo``
    Runs a :class:`wsevents.Connection` against an embedded
    :class:`~wsevents.testing.FakeServer` that plays a small exchange feed
    (trades and 1-minute candles, from a seeded random generator), through a
    scripted scenario in which every event fires: a malformed frame, a TCP
    drop, a 1013 close, a flapping server, a candle-aware proactive disconnect
    and reconnect, a slow handler overflowing its queue, and the final close.
    Offline, about 15 seconds (``--duration``), then a summary; exit status 0
    when every event was seen.

``wsevents tail URL``
    Streams the messages of a feed as JSON lines on stdout, with connection
    events on stderr, reconnecting like the library does.  Exit status: 0 after
    ``--count`` messages or Ctrl-C, 1 when the connection fails for good (a
    refused handshake, ``--max-attempts`` exhausted), 2 for a usage or
    configuration error (a bad URL, header or channel).

This is the only module of wsevents that prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import shutil
import sys
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, TextIO

import wsevents
from wsevents import (
    Closed,
    ConfigError,
    Connected,
    Disconnected,
    DisconnectReason,
    QueueFull,
    Reconnecting,
    State,
    WSEventsError,
)
from wsevents.binance import BinanceProtocol
from wsevents.policies import CandleAware, PolicyContext
from wsevents.testing import FakeServer


__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2

#: the event names of DESIGN.md that the demo makes fire
_DEMO_EVENTS: Final = (
    "connect",
    "disconnect",
    "reconnecting",
    "message",
    "message:<channel>",
    "queue_full",
    "error",
    "closed",
)


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
            return asyncio.run(_demo(args))
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
            "candles, through drops, a 1013 close, a flapping server, a candle-aware "
            "proactive reconnect and a slow handler. Offline; colours when stdout is "
            "a terminal (NO_COLOR disables them)."
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
    _verbose_option(demo)

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
        "-n", "--count", type=_positive_int, metavar="N", help="exit after N messages"
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
        "--max-attempts",
        type=_positive_int,
        metavar="N",
        help="give up after N consecutive failed attempts (default: retry forever)",
    )
    _verbose_option(tail)
    return parser


def _verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the library's messages on stderr (-vv: debug)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


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


def _one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (white space collapsed), shortened to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# -- tail ----------------------------------------------------------------------------


async def _tail(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        protocol: wsevents.Protocol
        if args.protocol == "binance":
            if args.channel_key is not None:
                raise ConfigError("--channel-key", args.channel_key, "applies to --protocol json")
            protocol = BinanceProtocol()
        else:
            protocol = wsevents.JsonProtocol(channel_key=args.channel_key or "channel")
        ws = wsevents.Connection(
            args.url,
            protocol=protocol,
            subscriptions=args.subscribe,
            headers=dict(args.header) or None,
            max_reconnect_attempts=args.max_attempts,
        )
    except ConfigError as exc:
        print(f"wsevents tail: {_one_line(exc)}", file=err)
        return EXIT_USAGE
    tail = _Tail(ws, count=args.count, channels=args.filter)
    try:
        await ws.run()
    except WSEventsError as exc:
        print(f"wsevents tail: {_one_line(exc)}", file=err)
        return EXIT_FAILURE
    finally:
        await ws.close()
    if tail.broken_pipe:
        _silence_stdout()
    return EXIT_OK


class _Tail:
    """The handlers of ``wsevents tail``: messages to stdout, events to stderr."""

    def __init__(self, ws: wsevents.Connection, *, count: int | None, channels: list[str]) -> None:
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
        self._event(f"connected to {event.url} (attempt {event.attempt}{again})")

    def on_disconnect(self, event: Disconnected) -> None:
        if event.reason is DisconnectReason.SHUTDOWN:
            return
        self._event(f"disconnected: {_describe_disconnect(event)}")

    def on_reconnecting(self, event: Reconnecting) -> None:
        self._event(f"reconnecting: {_describe_reconnecting(event)}")

    def on_queue_full(self, event: QueueFull) -> None:
        self._event(f"queue_full: {_describe_queue_full(event)}")

    def on_error(self, exc: Exception) -> None:
        self._event(f"error: {_one_line(f'{type(exc).__name__}: {exc}')}")

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


def _describe_disconnect(event: Disconnected) -> str:
    text = event.reason.value
    if event.code is not None:
        text += f" {event.code}"
    if event.reason_text:
        text += f' "{_one_line(event.reason_text, 60)}"'
    kind = "proactive" if event.proactive else "reactive"
    return f"{text} ({kind}, up {event.uptime:.2f} s)"


def _describe_reconnecting(event: Reconnecting) -> str:
    text = f"attempt {event.attempt} in {event.delay:.2f} s ({event.reason.value})"
    if event.error is not None:
        text += f": {_one_line(event.error, 160)}"
    return text


def _describe_queue_full(event: QueueFull) -> str:
    where = f" on {event.channel}" if event.channel else ""
    return (
        f"{event.dropped} dropped{where} ({event.total_dropped} in all), "
        f"queue of {event.size} full, {event.overflow}"
    )


# -- demo: output ----------------------------------------------------------------------

_CODES: Final = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


def _wants_colour(stream: TextIO, no_color: bool) -> bool:
    """Colours on a terminal, unless ``--no-color``, ``NO_COLOR`` or ``TERM=dumb``."""
    return (
        not no_color
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
        and _isatty(stream)
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False


class _Console:
    """Timestamped, labelled lines, and a live status line on a terminal."""

    def __init__(self, stream: TextIO, *, colour: bool, live: bool) -> None:
        self.stream = stream
        self.colour = colour
        self.live = live
        self.started = time.monotonic()
        self._status = ""

    def paint(self, text: str, *styles: str) -> str:
        if not self.colour or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def line(self, label: str, text: str, *styles: str) -> None:
        stamp = self.paint(f"{time.monotonic() - self.started:6.2f}s", "dim")
        self._write(f"{stamp}  {self.paint(f'{label:<15}', *styles)} {text}\n")

    def plain(self, text: str) -> None:
        self._write(text + "\n")

    def status(self, text: str) -> None:
        # One terminal line at most: "\r" + erase only reach the cursor's line.
        width = shutil.get_terminal_size().columns - 1
        self._status = text if len(text) <= width else text[: max(0, width - 3)] + "..."
        if self.live:
            self._emit("\r\x1b[2K" + self.paint(self._status, "dim"))

    def end_status(self) -> None:
        if self.live and self._status:
            self._emit("\r\x1b[2K")
        self._status = ""

    def _write(self, text: str) -> None:
        if self.live and self._status:
            text = "\r\x1b[2K" + text + self.paint(self._status, "dim")
        self._emit(text)

    def _emit(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


# -- demo: the fake exchange ---------------------------------------------------------

#: demo candles: guard window and lead, in demo seconds (a demo minute is 3 s at 15 s)
_STAY_BEFORE: Final = 15.0
_STAY_AFTER: Final = 10.0
_LEAD: Final = 10.0
_SYMBOLS: Final = {"BTCUSDT": 42_000.0, "ETHUSDT": 2_300.0}
#: where the demo's clock starts: a fixed instant, so a seed replays the same feed
_DEMO_EPOCH: Final = datetime(2025, 1, 6, 12, 0, 20, tzinfo=timezone.utc)


class _DemoClock:
    """Demo wall-clock time: starts at a fixed instant and runs ``speed`` times faster."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return _DEMO_EPOCH + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)


class _CandlePolicy:
    """CandleAware("1m") on the demo clock, switched on only for its part of the scenario.

    Waits answered by ``should_reconnect`` are demo seconds; the connection
    waits in real seconds, hence the division by the clock's speed.
    """

    def __init__(self, clock: _DemoClock) -> None:
        self.candle = CandleAware(
            "1m", stay_before=_STAY_BEFORE, stay_after=_STAY_AFTER, lead=_LEAD
        )
        self.clock = clock
        self.enabled = False

    def should_disconnect(self, ctx: PolicyContext) -> bool:
        return self.enabled and self.candle.should_disconnect(ctx)

    def should_reconnect(self, ctx: PolicyContext) -> bool | float:
        answer = self.candle.should_reconnect(ctx)
        if answer is True or answer is False:
            return answer
        return answer / self.clock.speed


class _Feed:
    """The embedded exchange: trades and closed 1-minute candles, on a FakeServer."""

    def __init__(self, server: FakeServer, clock: _DemoClock, rng: random.Random) -> None:
        self.server = server
        self.clock = clock
        self.rng = rng
        self.prices = dict(_SYMBOLS)
        self.trade_id = 100_000
        self.sent = 0
        self._candle = CandleAware("1m", stay_before=0, stay_after=0)
        self._next_close = self._candle.next_close(clock.now())
        self._bars: dict[str, dict[str, Any]] = {}

    async def run(self, tick: float) -> None:
        """One trade every ``tick`` seconds; candles published right at their close."""
        next_trade = time.monotonic()
        while True:
            await self.close_candles()
            if time.monotonic() >= next_trade:
                await self.trade()
                next_trade = max(next_trade + tick, time.monotonic())
            until_close = (self._next_close - self.clock.now()).total_seconds() / self.clock.speed
            await asyncio.sleep(max(0.0, min(next_trade - time.monotonic(), until_close)))

    async def trade(self) -> None:
        rng = self.rng
        symbol = rng.choice(list(self.prices))
        price = self.prices[symbol] = round(self.prices[symbol] * math.exp(rng.gauss(0, 6e-4)), 2)
        qty = round(rng.expovariate(1.0) * (0.05 if symbol == "BTCUSDT" else 0.8), 4) + 0.0001
        self.trade_id += 1
        now = self.clock.now()
        trade = {
            "symbol": symbol,
            "id": self.trade_id,
            "price": price,
            "qty": qty,
            "side": rng.choice(("buy", "sell")),
            "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        bar = self._bars.get(symbol)
        if bar is None:
            bar = self._bars[symbol] = {"open": price, "high": price, "low": price, "volume": 0.0,
                                        "trades": 0}  # fmt: skip
        bar["high"] = max(bar["high"], price)
        bar["low"] = min(bar["low"], price)
        bar["close"] = price
        bar["volume"] += qty
        bar["trades"] += 1
        self.sent += await self.server.publish("trades", trade, only_subscribed=True)

    async def close_candles(self) -> None:
        now = self.clock.now()
        while now >= self._next_close:
            close = self._next_close
            for symbol, last in self.prices.items():
                bar = self._bars.pop(symbol, None) or {
                    "open": last, "high": last, "low": last, "close": last, "volume": 0.0,
                    "trades": 0,
                }  # fmt: skip
                candle = {
                    "symbol": symbol,
                    "interval": "1m",
                    "open_time": (close - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
                    **bar,
                    "volume": round(bar["volume"], 4),
                    "closed": True,
                }
                self.sent += await self.server.publish("candles", candle, only_subscribed=True)
            self._next_close = close + timedelta(minutes=1)

    async def burst(self, n: int) -> None:
        for _ in range(n):
            await self.trade()

    async def malformed(self) -> None:
        # A frame cut short: not valid JSON.
        await self.server.send_raw('{"channel":"trades","symbol":"BTCUSDT","price":4201')

    async def notice(self, text: str) -> None:
        # A message without a channel: delivered on `message` only.
        await self.server.send_raw(json.dumps({"notice": text}))


# -- demo: the client and the scenario --------------------------------------------------


class _Demo:
    """One run of ``wsevents demo``."""

    def __init__(self, args: argparse.Namespace, console: _Console) -> None:
        self.console = console
        self.unit = args.duration / 15.0
        self.seed = args.seed
        self.clock = _DemoClock(speed=20.0 / self.unit)  # a demo minute lasts 3 units
        self.policy = _CandlePolicy(self.clock)
        self.server = FakeServer()
        self.feed = _Feed(self.server, self.clock, random.Random(args.seed))
        self.counts: Counter[str] = Counter()
        self.slow = False
        self.queue_size = 32
        self.last_disconnect: Disconnected | None = None
        self._changed = asyncio.Event()
        self._printed_at: dict[str, float] = {}
        self._skipped: Counter[str] = Counter()
        self._rate = (time.monotonic(), 0, 0.0)
        self.ws: wsevents.Connection | None = None

    # -- setup ---------------------------------------------------------------------

    def connection(self) -> wsevents.Connection:
        u = self.unit
        ws = wsevents.Connection(
            self.server.url,
            subscriptions=["trades", "candles"],
            backoff=wsevents.ExponentialBackoff(initial=0.2 * u, maximum=2.0 * u, jitter=0.0),
            stable_after=0.6 * u,
            server_unavailable_delay=1.0 * u,
            should_disconnect=self.policy,
            should_reconnect=self.policy,
            check_interval=0.025,
            queue_size=self.queue_size,
            overflow="drop_oldest",
            close_timeout=1.0,
            open_timeout=5.0,
            utc_now=self.clock.now,
        )
        ws.on("connect", self.on_connect)
        ws.on("disconnect", self.on_disconnect)
        ws.on("reconnecting", self.on_reconnecting)
        ws.on("message", self.on_message)
        ws.on("message:trades", self.on_trade)
        ws.on("message:candles", self.on_candle)
        ws.on("queue_full", self.on_queue_full)
        ws.on("error", self.on_error)
        ws.on("closed", self.on_closed)
        return ws

    # -- handlers ------------------------------------------------------------------

    def _seen(self, name: str) -> None:
        self.counts[name] += 1
        self._changed.set()

    def on_connect(self, event: Connected) -> None:
        self._seen("connect")
        how = (
            f"reconnected after {event.downtime:.2f} s down"
            if event.is_reconnect
            else "first connection"
        )
        self.console.line(
            "connect", f"{event.url} attempt {event.attempt}, {how}; subscribed", "green", "bold"
        )

    def on_disconnect(self, event: Disconnected) -> None:
        self._seen("disconnect")
        self.last_disconnect = event
        styles = ("cyan",) if event.proactive else ("yellow", "bold")
        self.console.line("disconnect", _describe_disconnect(event), *styles)

    def on_reconnecting(self, event: Reconnecting) -> None:
        self._seen("reconnecting")
        self.console.line("reconnecting", _describe_reconnecting(event), "magenta")

    def on_message(self, message: Any) -> None:
        self._seen("message")
        if isinstance(message, dict) and "channel" not in message:
            self.console.line("message", json.dumps(message), "bold")

    async def on_trade(self, trade: dict[str, Any]) -> None:
        self._seen("message:trades")
        if self.slow:
            await asyncio.sleep(0.02 * self.unit)  # a strategy that cannot keep up
        if not self._due("message:trades", 0.6):
            return
        more = self._skipped.pop("message:trades", 0)
        text = f"{trade['symbol']} {trade['side']:<4} {trade['qty']:9.4f} @ {trade['price']:10.2f}"
        if more:
            text += self.console.paint(f"  (+{more} more)", "dim")
        self.console.line("message:trades", text)

    def on_candle(self, candle: dict[str, Any]) -> None:
        self._seen("message:candles")
        opened = candle["open_time"][11:16]
        self.console.line(
            "message:candles",
            f"{candle['symbol']} 1m {opened} O {candle['open']:.2f} H {candle['high']:.2f} "
            f"L {candle['low']:.2f} C {candle['close']:.2f} V {candle['volume']:.4f} "
            f"({candle['trades']} trades)",
            "blue",
            "bold",
        )

    def on_queue_full(self, event: QueueFull) -> None:
        self._seen("queue_full")
        self.console.line("queue_full", _describe_queue_full(event), "red", "bold")

    def on_error(self, exc: Exception) -> None:
        self._seen("error")
        self.console.line("error", _one_line(f"{type(exc).__name__}: {exc}", 110), "red")

    def on_closed(self, event: Closed) -> None:
        self._seen("closed")
        self.console.line("closed", event.reason, "bold")

    def _due(self, channel: str, every: float) -> bool:
        """Print at most one line every ``every`` seconds per channel; count the rest."""
        now = time.monotonic()
        if now - self._printed_at.get(channel, -math.inf) < every:
            self._skipped[channel] += 1
            return False
        self._printed_at[channel] = now
        return True

    # -- waiting -------------------------------------------------------------------

    async def until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` (re-checked on every event, and every 50 ms)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def pause(self, units: float) -> None:
        """Let the feed run for a while, so that a human can follow (pacing only)."""
        await asyncio.sleep(units * self.unit)

    def narrate(self, text: str) -> None:
        self.console.line("scenario", self.console.paint(text, "bold"), "bold")

    async def step(self, text: str, action: Callable[[], Awaitable[None]], timeout: float) -> None:
        self.narrate(text)
        try:
            await asyncio.wait_for(action(), timeout * max(self.unit, 1.0))
        except (TimeoutError, asyncio.TimeoutError):
            self.console.line("scenario", "(this step took too long; going on)", "yellow")

    # -- the status line -------------------------------------------------------------

    async def show_status(self) -> None:
        while True:
            self.console.status(self.status_text())
            await asyncio.sleep(0.1)

    def status_text(self) -> str:
        ws = self.ws
        if ws is None:
            return ""
        stats = ws.stats
        now = time.monotonic()
        then, received, rate = self._rate
        if now - then >= 0.5:
            rate = (stats.messages_received - received) / (now - then)
            self._rate = (now, stats.messages_received, rate)
        demo_time = self.clock.now().strftime("%H:%M:%S")
        return (
            f"[{ws.state.name}] {rate:5.1f} msg/s | reconnects {stats.reconnects} | "
            f"dropped {stats.messages_dropped} | queue {stats.queue_depth}/{self.queue_size} | "
            f"demo clock {demo_time}"
        )

    # -- the scenario ----------------------------------------------------------------

    async def run(self) -> int:
        console = self.console
        try:
            await self.server.start()
        except OSError as exc:
            print(f"wsevents demo: cannot start the embedded server on 127.0.0.1: {exc}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_FAILURE
        feed = asyncio.get_running_loop().create_task(self.feed.run(0.12), name="demo-feed")
        status = asyncio.get_running_loop().create_task(self.show_status(), name="demo-status")
        ws = self.ws = self.connection()
        try:
            console.line(
                "demo",
                f"FakeServer on {self.server.url} plays trades and 1m candles for "
                f"{', '.join(_SYMBOLS)} (seed {self.seed}); a demo minute lasts "
                f"{60 / self.clock.speed:.1f} s",
                "bold",
            )
            await asyncio.wait_for(self.scenario(ws), max(60.0, 4 * 15 * self.unit))
        except (TimeoutError, asyncio.TimeoutError):
            console.line("scenario", "the scenario took too long: stopping", "yellow")
        finally:
            await ws.close()
            for task in (feed, status):
                task.cancel()
            await asyncio.wait({feed, status}, timeout=2.0)
            console.end_status()
            await self.server.stop()
        return self.summary()

    async def scenario(self, ws: wsevents.Connection) -> None:
        server, feed = self.server, self.feed
        await ws.connect()
        await self.pause(1.4)

        async def malformed() -> None:
            errors = self.counts["error"]
            await feed.malformed()
            await self.until(lambda: self.counts["error"] > errors, 5)

        await self.step("the feed sends a malformed frame: an `error` event", malformed, 5)
        await self.pause(0.8)

        async def drop() -> None:
            await self.reconnects_after(server.drop)

        await self.step("the server drops the TCP connection (no close frame)", drop, 8)
        await self.pause(1.2)

        async def try_again_later() -> None:
            await feed.notice("maintenance: this server restarts now, come back in a moment")
            await self.reconnects_after(lambda: server.close_clients(1013, "try again later"))

        await self.step(
            "a channel-less notice, then close code 1013 (try again later): "
            f"the client waits server_unavailable_delay ({1.0 * self.unit:.1f} s)",
            try_again_later,
            8,
        )
        await self.pause(1.0)

        async def flap() -> None:
            accepted = server.connections
            server.accept_then_close(1011, "overloaded", count=3)
            await server.close_clients(1012, "service restart")
            await self.until(lambda: server.connections >= accepted + 4 and ws.connected, 15)

        await self.step(
            "the server flaps: it accepts then closes 3 times, and the backoff grows", flap, 12
        )
        await self.pause(1.0)

        async def candle_window() -> None:
            candle_wait = 3 * 60 / self.clock.speed + 2.0
            self.policy.enabled = True
            try:
                await self.until(
                    lambda: self.last_disconnect is not None
                    and self.last_disconnect.reason is DisconnectReason.POLICY,
                    candle_wait,
                )
                connects = self.counts["connect"]
                await self.until(lambda: self.counts["connect"] > connects, candle_wait)
                candles = self.counts["message:candles"]
                await self.until(lambda: self.counts["message:candles"] > candles, candle_wait)
            finally:
                self.policy.enabled = False
                if ws.state is State.PAUSED:
                    await ws.resume()

        await self.step(
            "CandleAware('1m'): disconnect in the quiet middle of the candle, "
            "reconnect before it closes, receive the close",
            candle_window,
            30,
        )
        await self.pause(0.6)

        async def overflow() -> None:
            reports = self.counts["queue_full"]
            self.slow = True
            try:
                await feed.burst(6 * self.queue_size)
                await self.until(lambda: self.counts["queue_full"] > reports, 5)
                await self.until(lambda: ws.stats.queue_depth == 0, 10)
            finally:
                self.slow = False

        await self.step(
            f"a slow handler meets a burst: the queue ({self.queue_size}) overflows "
            "and drops the oldest messages",
            overflow,
            12,
        )
        await self.pause(0.8)
        self.narrate("close(): the end")
        await ws.close()

    async def reconnects_after(self, fault: Callable[[], Awaitable[None]]) -> None:
        """Cause ``fault`` and wait until the client is connected again."""
        connects = self.counts["connect"]
        await fault()
        await self.until(lambda: self.counts["connect"] > connects, 15)

    # -- the end -----------------------------------------------------------------------

    def summary(self) -> int:
        console = self.console
        stats = self.ws.stats if self.ws is not None else wsevents.Stats()
        elapsed = time.monotonic() - console.started
        seen = {
            "connect": self.counts["connect"],
            "disconnect": self.counts["disconnect"],
            "reconnecting": self.counts["reconnecting"],
            "message": self.counts["message"],
            "message:<channel>": self.counts["message:trades"] + self.counts["message:candles"],
            "queue_full": self.counts["queue_full"],
            "error": self.counts["error"],
            "closed": self.counts["closed"],
        }
        console.plain("")
        console.plain(console.paint(f"summary after {elapsed:.1f} s", "bold"))
        console.plain(
            "  events       "
            + ", ".join(f"{name} x{count}" for name, count in seen.items() if count)
            + f" (message:trades x{self.counts['message:trades']}, "
            f"message:candles x{self.counts['message:candles']})"
        )
        console.plain(
            f"  messages     received {stats.messages_received}, delivered "
            f"{stats.messages_delivered}, dropped {stats.messages_dropped} "
            f"(queue peak {stats.queue_peak}/{self.queue_size}), decode errors "
            f"{stats.decode_errors}"
        )
        console.plain(
            f"  connections  {stats.connect_attempts} attempts, {stats.connects} connects "
            f"({stats.reconnects} reconnects), {stats.failed_attempts} failed attempts, "
            f"{stats.disconnects} disconnects ({stats.proactive_disconnects} proactive, "
            f"{stats.reactive_disconnects} reactive)"
        )
        missing = [name for name, count in seen.items() if not count]
        if missing:
            console.plain(console.paint(f"  not seen     {', '.join(missing)}", "red", "bold"))
            return EXIT_FAILURE
        console.plain(
            f"  every event fired: {', '.join(_DEMO_EVENTS)}. "
            "Next: `wsevents tail URL`, and examples/ in the repository."
        )
        return EXIT_OK


async def _demo(args: argparse.Namespace) -> int:
    stdout = sys.stdout
    colour = _wants_colour(stdout, args.no_color)
    live = _isatty(stdout) and os.environ.get("TERM") != "dumb"
    demo = _Demo(args, _Console(stdout, colour=colour, live=live))
    try:
        return await demo.run()
    except Exception:  # noqa: BLE001 - a bug: say so, with the traceback, and fail
        traceback.print_exc()
        print("wsevents demo: internal error (please report it)", file=sys.stderr)
        return EXIT_FAILURE
