"""``wsevents demo`` (layer L5): every event of a Connection, fired on purpose, offline.

A :class:`wsevents.Connection` runs against an embedded
:class:`~wsevents.testing.FakeServer` that plays a small exchange feed (numbered
trades and 1-minute candles, from a seeded random generator) through a scripted
scenario: a malformed frame, a TCP drop, a 1013 close whose downtime loses
trades (``gap``), a flapping server, a candle-aware proactive disconnect and
reconnect, a make-before-break ``handover()``, a slow handler overflowing its
queue, and the final close; then a :class:`wsevents.Pool` of 2,500 channels
over 3 shards under a venue's limits, through a blip and a paced return
(:mod:`wsevents._demo_pool`).  About 15 seconds, then a summary; :func:`run`
returns 0 when every event was seen.

The command line (:mod:`wsevents.cli`) parses the arguments and calls
:func:`run`; it also uses the one-line event descriptions below for
``wsevents tail``.  With the CLI, this is the only module of wsevents that prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sys
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Final, TextIO

import wsevents
from wsevents import (
    Closed,
    Connected,
    Disconnected,
    DisconnectReason,
    Gap,
    Handover,
    QueueFull,
    Reconnecting,
    State,
)
from wsevents._demo_pool import PoolAct
from wsevents._format import (
    describe_disconnect,
    describe_gap,
    describe_handover,
    describe_queue_full,
    describe_reconnecting,
    one_line,
)
from wsevents.policies import CandleAware, PolicyContext
from wsevents.testing import FakeServer


__all__ = ["DEMO_EVENTS", "run"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1

#: the event names of DESIGN.md that the demo makes fire
DEMO_EVENTS: Final = (
    "connect",
    "disconnect",
    "reconnecting",
    "message",
    "message:<channel>",
    "gap",
    "handover",
    "queue_full",
    "error",
    "closed",
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
    """The embedded exchange: numbered trades and closed 1-minute candles, on a FakeServer.

    Trades carry ``seq``, one counter for the ``trades`` channel, like an
    exchange's update ids: a client that sees #57 after #49 knows it missed 7.
    """

    def __init__(self, server: FakeServer, clock: _DemoClock, rng: random.Random) -> None:
        self.server = server
        self.clock = clock
        self.rng = rng
        self.prices = dict(_SYMBOLS)
        self.trade_id = 100_000
        self.seq = 0
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
        self.seq += 1
        now = self.clock.now()
        trade = {
            "seq": self.seq,
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

    def __init__(self, console: _Console, *, duration: float, seed: int) -> None:
        self.console = console
        self.unit = duration / 15.0
        self.seed = seed
        self.clock = _DemoClock(speed=20.0 / self.unit)  # a demo minute lasts 3 units
        self.policy = _CandlePolicy(self.clock)
        self.server = FakeServer()
        self.feed = _Feed(self.server, self.clock, random.Random(seed))
        self.counts: Counter[str] = Counter()
        self.slow = False
        self.queue_size = 32
        self.last_disconnect: Disconnected | None = None
        #: a connection is up (a handover's new one connects before the old one goes)
        self.up = False
        #: trades the gaps reported missing
        self.missed = 0
        self._changed = asyncio.Event()
        self._printed_at: dict[str, float] = {}
        self._skipped: Counter[str] = Counter()
        self._rate = (time.monotonic(), 0, 0.0)
        self.ws: wsevents.Connection | None = None
        self.pool_act = PoolAct(self.console.line, self.unit)

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
            # Track the trades' numbers: a skipped one is a `gap` event, and a
            # handover drops the trades both connections received by number.
            sequence={"trades": lambda trade: trade["seq"]},
        )
        ws.on("connect", self.on_connect)
        ws.on("disconnect", self.on_disconnect)
        ws.on("reconnecting", self.on_reconnecting)
        ws.on("message", self.on_message)
        ws.on("message:trades", self.on_trade)
        ws.on("message:candles", self.on_candle)
        ws.on("gap", self.on_gap)
        ws.on("handover", self.on_handover)
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
        if self.up:
            how = "the handover's new connection, subscribed while the old one still delivered"
        elif event.is_reconnect:
            how = f"reconnected after {event.downtime:.2f} s down; subscribed"
        else:
            how = "first connection; subscribed"
        self.up = True
        self.console.line("connect", f"{event.url} attempt {event.attempt}, {how}", "green", "bold")

    def on_disconnect(self, event: Disconnected) -> None:
        self._seen("disconnect")
        self.last_disconnect = event
        if event.reason is not DisconnectReason.HANDOVER:
            self.up = False
        styles = ("cyan",) if event.proactive else ("yellow", "bold")
        self.console.line("disconnect", describe_disconnect(event), *styles)

    def on_reconnecting(self, event: Reconnecting) -> None:
        self._seen("reconnecting")
        self.console.line("reconnecting", describe_reconnecting(event), "magenta")

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
        text = (
            f"#{trade['seq']:<4} {trade['symbol']} {trade['side']:<4} {trade['qty']:9.4f} "
            f"@ {trade['price']:10.2f}"
        )
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

    def on_gap(self, event: Gap) -> None:
        self._seen("gap")
        self.missed += event.missing
        self.console.line("gap", describe_gap(event), "yellow", "bold")

    def on_handover(self, event: Handover) -> None:
        self._seen("handover")
        self.console.line("handover", describe_handover(event), "green", "bold")

    def on_queue_full(self, event: QueueFull) -> None:
        self._seen("queue_full")
        self.console.line("queue_full", describe_queue_full(event), "red", "bold")

    def on_error(self, exc: Exception) -> None:
        self._seen("error")
        self.console.line("error", one_line(f"{type(exc).__name__}: {exc}", 110), "red")

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
            self.narrate("many connections: a Pool under a venue's limits")
            await asyncio.wait_for(self.pool_act.run(), 30)
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

        await self.step(
            "the server drops the TCP connection (no close frame): the client reconnects at once",
            drop,
            8,
        )
        await self.pause(1.2)

        async def try_again_later() -> None:
            gaps = self.counts["gap"]
            await feed.notice("maintenance: this server restarts now, come back in a moment")
            await self.reconnects_after(lambda: server.close_clients(1013, "try again later"))
            await self.until(lambda: self.counts["gap"] > gaps, 5)

        await self.step(
            "a channel-less notice, then close code 1013 (try again later): the client "
            f"waits server_unavailable_delay ({1.0 * self.unit:.1f} s); `gap` reports the "
            "trades it missed",
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
                    lambda: (
                        self.last_disconnect is not None
                        and self.last_disconnect.reason is DisconnectReason.POLICY
                    ),
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

        async def handover() -> None:
            await self.until(lambda: ws.connected, 5)
            gaps, handovers = self.counts["gap"], self.counts["handover"]
            await ws.handover()
            await self.until(lambda: self.counts["handover"] > handovers, 5)
            if self.counts["gap"] == gaps:
                self.console.line(
                    "scenario", "no gap: no trade missed, none delivered twice", "green"
                )

        await self.step(
            "handover(): a planned reconnect, make-before-break: open and subscribe "
            "a new connection, then close the old one",
            handover,
            8,
        )
        await self.pause(0.8)

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
            "and drops the oldest messages (received, so not a `gap`)",
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
            "gap": self.counts["gap"],
            "handover": self.counts["handover"],
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
        plural = "" if stats.duplicates_dropped == 1 else "s"
        console.plain(
            f"  sequence     {stats.gaps} gaps ({self.missed} trades missed while "
            f"disconnected), {stats.duplicates_dropped} duplicate{plural} dropped"
        )
        console.plain(
            f"  connections  {stats.connect_attempts} attempts, {stats.connects} connects "
            f"({stats.reconnects} reconnects), {stats.failed_attempts} failed attempts, "
            f"{stats.disconnects} disconnects ({stats.proactive_disconnects} proactive, "
            f"{stats.reactive_disconnects} reactive)"
        )
        console.plain(f"  pool         {self.pool_act.summary()}")
        missing = [name for name, count in seen.items() if not count]
        if missing:
            console.plain(console.paint(f"  not seen     {', '.join(missing)}", "red", "bold"))
            return EXIT_FAILURE
        if not self.pool_act.ok:
            console.plain(console.paint("  the pool act failed", "red", "bold"))
            return EXIT_FAILURE
        console.plain(
            f"  every event fired: {', '.join(DEMO_EVENTS)}. "
            "Next: `wsevents tail URL`, and examples/ in the repository."
        )
        return EXIT_OK


async def run(*, duration: float = 15.0, seed: int = 7, no_color: bool = False) -> int:
    """Run the demo on stdout; returns the exit status (0: every event fired).

    Args:
        duration: about how long the scenario lasts, in seconds (its pacing
            scales with it; the CLI accepts 4 to 600).
        seed: seed of the fake feed's random generator.
        no_color: no colours, even on a terminal.
    """
    stdout = sys.stdout
    colour = _wants_colour(stdout, no_color)
    live = _isatty(stdout) and os.environ.get("TERM") != "dumb"
    demo = _Demo(_Console(stdout, colour=colour, live=live), duration=duration, seed=seed)
    try:
        return await demo.run()
    except Exception:  # noqa: BLE001 - a bug: say so, with the traceback, and fail
        traceback.print_exc()
        print("wsevents demo: internal error (please report it)", file=sys.stderr)
        return EXIT_FAILURE
