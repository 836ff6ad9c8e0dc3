"""Client-side harness: sinks (user-code stand-ins), timing, watchdog, CLI.

A client file in clients/ defines one or more *variants* and calls
``client_main(VARIANTS)``.  Each variant is a dict:

    VARIANTS = {
        "websockets": dict(
            stream=stream,          # (url, sink, opts) -> coroutine or plain function
            reconnect=reconnect,    # optional, same signature, must auto-reconnect
            packages=["websockets"],  # versions reported in the results
            label="raw websockets: async for msg in ws",
            uvloop=True,            # also benchmark under uvloop (asyncio variants)
            reconnect_note="...",   # what reconnect floor the system imposes
        ),
    }

The function is a coroutine function for asyncio systems (run in asyncio or
uvloop) or a plain function for thread/sync systems (run in the main thread).
It must deliver every JSON-decoded data message to user code, i.e. call

    sink.trade(d)      # the handler for channel "trades"
    sink.control(d)    # the handler for channel "control" (end sentinel)

directly (systems with their own routing register these as handlers), or
``sink.route(d)`` (a dict lookup on d["channel"]) for systems without routing.
It must return once ``sink.done`` is true: poll ``sink.done`` in a loop, await
``sink.wait()`` (asyncio), or register ``sink.on_finish(callback)``.  The
harness ends runs that stall (no message for --idle-timeout s after the first)
or overrun (--timeout) by calling ``sink.finish()`` itself and, for asyncio
systems, cancelling the task.

A client whose package is not installed calls ``skip_missing(exc, "pkg")``
from the ``except ImportError`` around its imports: ``--describe`` then
reports it as skipped (run.py prints a note) instead of failing.

Output: one line ``RESULT {json}`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import inspect
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any


perf = time.perf_counter
cpu = time.process_time
mono = time.monotonic


class Sink:
    """Counts messages delivered to user code; the end sentinel finishes it."""

    kind = "throughput"

    def __init__(self) -> None:
        self.count = 0
        self.done = False
        self.sent: int | None = None
        self.ended_by: str | None = None
        self.t0 = self.c0 = self.t1 = self.c1 = 0.0
        self._callbacks: list[Callable[[], Any]] = []
        self.routes = {"trades": self.trade, "control": self.control}
        self.extra: dict[str, Any] = {}

    # --- user-code stand-ins -------------------------------------------------
    def trade(self, d: Any) -> None:
        self.count += 1
        if self.count == 1:
            self.t0 = perf()
            self.c0 = cpu()

    def control(self, d: Any) -> None:
        if d.get("type") == "end":
            self.finish("sentinel", d.get("sent"))

    def route(self, d: dict) -> None:
        self.routes[d["channel"]](d)

    # --- completion ----------------------------------------------------------
    def finish(
        self, ended_by: str, sent: int | None = None, at: tuple[float, float] | None = None
    ) -> None:
        if self.done:
            return
        if at is None:
            self.t1, self.c1 = perf(), cpu()
        else:
            self.t1, self.c1 = at
        self.sent = sent
        self.ended_by = ended_by
        self.done = True
        for cb in self._callbacks:
            try:
                cb()
            except Exception:
                traceback.print_exc()

    def on_finish(self, cb: Callable[[], Any]) -> None:
        if self.done:
            cb()
        else:
            self._callbacks.append(cb)

    async def wait(self) -> None:
        ev = asyncio.Event()
        self.on_finish(ev.set)
        await ev.wait()

    def result(self) -> dict:
        wall = self.t1 - self.t0 if self.count else 0.0
        cpu_s = self.c1 - self.c0 if self.count else 0.0
        n = self.count
        res = {
            "delivered": n,
            "sent": self.sent,
            "lost": (self.sent - n) if self.sent is not None else None,
            "ended_by": self.ended_by,
            "wall_s": wall,
            "cpu_s": cpu_s,
            "rate": (n / wall) if wall > 0 else 0.0,
            "cpu_us_per_msg": (cpu_s / n * 1e6) if n else None,
            "cpu_util": (cpu_s / wall) if wall > 0 else None,
        }
        res.update(self.extra)
        return res


class LatencySink(Sink):
    """For /paced: also records one-way latency server-send -> user code."""

    kind = "paced"

    def __init__(self) -> None:
        super().__init__()
        self.lat: list[float] = []
        self.routes = {"trades": self.trade, "control": self.control}

    def trade(self, d: Any) -> None:
        now = mono()
        self.count += 1
        if self.count == 1:
            self.t0 = perf()
            self.c0 = cpu()
        ts = d["ts"] if isinstance(d, dict) else getattr(d, "ts", None)
        if ts is not None:
            self.lat.append(now - ts)

    def result(self) -> dict:
        res = super().result()
        lat = sorted(self.lat)
        if lat:

            def q(p: float) -> float:
                return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6

            res.update(
                lat_p50_us=q(0.50), lat_p90_us=q(0.90), lat_p99_us=q(0.99), lat_max_us=lat[-1] * 1e6
            )
        return res


class ReconnectSink(Sink):
    """For /reconnect: time from the server's drop to the first message of the next connection."""

    kind = "reconnect"

    def __init__(self) -> None:
        super().__init__()
        self.latencies: list[float] = []
        self.conns_seen: set[int] = set()
        self.routes = {"trades": self.trade, "control": self.control}

    def trade(self, d: Any) -> None:
        now = mono()
        self.count += 1
        if self.count == 1:
            self.t0 = perf()
            self.c0 = cpu()
        conn = d.get("conn", 0)
        if conn not in self.conns_seen:
            self.conns_seen.add(conn)
            if conn > 0 and d.get("drop_ts"):
                self.latencies.append(now - d["drop_ts"])

    def result(self) -> dict:
        res = super().result()
        lat = sorted(self.latencies)
        res["reconnects"] = len(lat)
        res["reconnect_ms"] = [x * 1e3 for x in self.latencies]
        if lat:
            res["reconnect_median_ms"] = lat[len(lat) // 2] * 1e3
            res["reconnect_min_ms"] = lat[0] * 1e3
            res["reconnect_max_ms"] = lat[-1] * 1e3
        return res


class SlowSink(Sink):
    """For the slow-consumer scenario: user code that busy-works ``work_s`` per message.

    The burst arrives much faster than it is consumed, so what the client does
    with the backlog shows: TCP backpressure (raw websockets: the server
    waits), a bounded queue (wsevents: drops, flat memory), or an unbounded
    one (memory grows).  Reported: peak RSS and the delivered fraction.
    """

    kind = "slow"
    work_s = 20e-6

    def trade(self, d: Any) -> None:
        Sink.trade(self, d)
        end = perf() + self.work_s
        while perf() < end:
            pass


SINKS = {"throughput": Sink, "paced": LatencySink, "reconnect": ReconnectSink, "slow": SlowSink}


class Watchdog:
    """Samples progress; finishes the sink on stall (after first msg) or overall timeout."""

    def __init__(
        self, sink: Sink, idle_timeout: float, timeout: float, on_trip: Callable[[], Any]
    ) -> None:
        self.sink = sink
        self.idle_timeout = idle_timeout
        self.timeout = timeout
        self.on_trip = on_trip
        self.start = perf()
        self.last_count = -1
        self.last_change = (perf(), cpu())

    def tick(self) -> bool:
        """Return True when the run must be ended."""
        s = self.sink
        if s.done:
            return True
        now = perf()
        if s.count != self.last_count:
            self.last_count = s.count
            self.last_change = (now, cpu())
        elif s.count > 0 and now - self.last_change[0] > self.idle_timeout:
            s.finish("idle-timeout", at=self.last_change)
            self.on_trip()
            return True
        if now - self.start > self.timeout:
            s.finish("timeout", at=self.last_change if s.count else None)
            self.on_trip()
            return True
        return False


def vm_kb(field: str = "VmHWM") -> int:
    """Peak (VmHWM) or current (VmRSS) resident set of this process's own image, KiB.

    Unlike getrusage().ru_maxrss this is not inflated by the parent's RSS
    (Linux carries the pre-exec mm's high-water mark into ru_maxrss, and with
    vfork that is the *parent's* mm)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def versions(pkgs: list[str]) -> dict[str, str]:
    out = {}
    for p in pkgs:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "?"
    return out


def _run_async(fn, url, sink, opts, loop_kind: str, idle_timeout: float, timeout: float) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(fn(url, sink, opts))
        wd = Watchdog(sink, idle_timeout, timeout, task.cancel)

        async def watch() -> None:
            while not wd.tick():
                await asyncio.sleep(0.05)

        w = asyncio.ensure_future(watch())
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            w.cancel()
        if not sink.done:
            sink.finish("returned")

    if loop_kind == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            r.run(main())
    else:
        asyncio.run(main())


def _run_sync(fn, url, sink, opts, idle_timeout: float, timeout: float) -> None:
    stop = threading.Event()
    wd = Watchdog(sink, idle_timeout, timeout, lambda: None)

    def watch() -> None:
        while not stop.is_set() and not wd.tick():
            time.sleep(0.05)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    try:
        fn(url, sink, opts)
    finally:
        stop.set()
    if not sink.done:
        sink.finish("returned")


def skip_missing(exc: ImportError, package: str) -> None:
    """Exit a client file whose optional package is missing (see the module docstring)."""
    note = f"{package} not installed ({exc})"
    if "--describe" in sys.argv:
        print(json.dumps({"__skipped__": note}))
        sys.exit(0)
    print(f"SKIPPED: {note}", file=sys.stderr)
    sys.exit(3)


def client_main(variants: dict[str, dict]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--describe", action="store_true")
    ap.add_argument("--variant", default=next(iter(variants), None))
    ap.add_argument("--scenario", default="throughput", choices=list(SINKS))
    ap.add_argument("--url")
    ap.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop", "thread"])
    ap.add_argument("--opt", action="append", default=[], help="k=v passed to the client in opts")
    ap.add_argument("--idle-timeout", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--profile", default="", help="cprofile:PATH or pyinstrument:PATH")
    args = ap.parse_args()

    if args.describe:
        out = {}
        for name, v in variants.items():
            is_async = inspect.iscoroutinefunction(v["stream"])
            out[name] = {
                "label": v.get("label", name),
                "mode": "asyncio" if is_async else "thread",
                "uvloop": bool(v.get("uvloop", is_async)) and is_async,
                "scenarios": v.get("scenarios")
                or (
                    ["throughput", "paced", "slow"] + (["reconnect"] if v.get("reconnect") else [])
                ),
                "url_params": v.get("url_params", {}),
                "packages": v.get("packages", []),
                "versions": versions(v.get("packages", [])),
                "reconnect_note": v.get("reconnect_note", ""),
                "note": v.get("note", ""),
                "default": v.get("default", True),
            }
        print(json.dumps(out))
        return

    v = variants[args.variant]
    fn = v["reconnect"] if args.scenario == "reconnect" else v["stream"]
    opts = dict(kv.split("=", 1) for kv in args.opt)
    sink = SINKS[args.scenario]()
    if "work_us" in opts:
        sink.work_s = float(opts["work_us"]) / 1e6

    prof = None
    if args.profile:
        kind, _, ppath = args.profile.partition(":")
        if kind == "cprofile":
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        elif kind == "pyinstrument":
            from pyinstrument import Profiler

            prof = Profiler(interval=0.0005, async_mode="disabled")
            prof.start()

    error = None
    try:
        if inspect.iscoroutinefunction(fn):
            _run_async(fn, args.url, sink, opts, args.loop, args.idle_timeout, args.timeout)
        else:
            _run_sync(fn, args.url, sink, opts, args.idle_timeout, args.timeout)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
        if not sink.done:
            sink.finish("error")

    if prof is not None:
        kind, _, ppath = args.profile.partition(":")
        if kind == "cprofile":
            import io
            import pstats

            prof.disable()
            prof.dump_stats(ppath + ".prof")
            buf = io.StringIO()
            st = pstats.Stats(prof, stream=buf)
            st.sort_stats("tottime").print_stats(30)
            st.sort_stats("cumulative").print_stats(30)
            with open(ppath + ".txt", "w") as f:
                f.write(buf.getvalue())
        else:
            prof.stop()
            with open(ppath + ".txt", "w") as f:
                f.write(prof.output_text(unicode=False, color=False, show_all=False))

    res = sink.result()
    res.update(
        variant=args.variant,
        scenario=args.scenario,
        loop=args.loop if inspect.iscoroutinefunction(fn) else "thread",
        error=error,
        self_maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        vmhwm_kb=vm_kb("VmHWM"),
        pid=os.getpid(),
    )
    sys.stdout.flush()
    print("RESULT " + json.dumps(res), flush=True)
    # Some libraries leave non-daemon threads behind; don't let them hang the run.
    sys.stderr.flush()
    os._exit(0)
