#!/usr/bin/env python3
"""Run wsevents' loopback WebSocket client benchmarks; print markdown tables.

Normally started through bench/run.sh (which prepares the venv):

    bench/run.sh                         # everything: throughput, paced, reconnect, idle
    bench/run.sh --quick                 # throughput of websockets, wsevents-sync, wsevents-async
    bench/run.sh --scenarios throughput --only websockets,wsevents-sync,picows --reps 5
    bench/run.sh --list                  # discovered clients/variants, and the skipped ones
    bench/run.sh --quick --profile cprofile   # + one profiled run per wsevents variant

Every client runs in its own process pinned to one core (--client-cpu, default 0),
the server in another process pinned to the other core (--server-cpu, default 1);
pinning needs `taskset` (util-linux) and is skipped with a note without it.
Repetitions are interleaved (rep 1 of every system, then rep 2, ... in a shuffled
order per rep) and ratios are taken against raw websockets *in the same rep*;
tables show medians over reps.  Peak RSS and whole-process CPU come from
os.wait4() on the client process (the same rusage /usr/bin/time -v prints).

Adding a system = adding one file to clients/ (see harness.py for the contract).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path


HERE = Path(__file__).resolve().parent
CLIENTS = HERE / "clients"
BASELINE = ("websockets", "asyncio")
TIME_V = ["/usr/bin/time", "-v"] if os.path.exists("/usr/bin/time") else []
TASKSET = shutil.which("taskset")
QUICK_ONLY = "websockets,wsevents-sync,wsevents-async"
MACHINE_NOTE = "loopback, server in another process"
SKIPPED: list[str] = []


def pin(cpu: str) -> list[str]:
    return [TASKSET, "-c", cpu] if TASKSET else []


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def discover(py: str) -> list[dict]:
    metas = []
    for f in sorted(CLIENTS.glob("*.py")):
        if f.name.startswith("_"):
            continue
        p = subprocess.run([py, str(f), "--describe"], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            log(f"!! {f.name}: --describe failed: {p.stderr.strip()[-500:]}")
            continue
        described = json.loads(p.stdout.strip().splitlines()[-1])
        if "__skipped__" in described:
            SKIPPED.append(f"{f.name}: {described['__skipped__']}")
            continue
        for name, meta in described.items():
            meta.update(name=name, file=str(f))
            metas.append(meta)
    return metas


class Server:
    def __init__(self, py: str, cpu: str, prebuild: str) -> None:
        self.proc = subprocess.Popen(
            [*pin(cpu), py, str(HERE / "server.py"), "--prebuild", prebuild],
            stdout=subprocess.PIPE,
            stderr=open(HERE / "results" / "server.stderr.log", "a"),
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base = f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_client(py, meta, scenario, url, loop, cpu, timeout, idle_timeout, extra=()) -> dict:
    # /usr/bin/time (a small C program) forks+execs the client, so its "Maximum
    # resident set size" is the client's own peak; os.wait4's ru_maxrss is not
    # usable here: Linux carries the pre-exec mm's high-water mark into
    # ru_maxrss, and Python spawns with vfork, so it includes run.py's own RSS.
    cmd = [
        *pin(cpu),
        *TIME_V,
        py,
        meta["file"],
        "--variant",
        meta.get("variant", meta["name"]),
        "--scenario",
        scenario,
        "--url",
        url,
        "--loop",
        loop,
        "--idle-timeout",
        str(idle_timeout),
        "--timeout",
        str(timeout),
        *extra,
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        env = {**os.environ, **meta["env"]} if meta.get("env") else None
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        killer = threading.Timer(timeout + 30, p.kill)
        killer.start()
        _, status, ru = os.wait4(p.pid, 0)
        killer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    time_rss_kb = None
    if TIME_V and "\tCommand being timed:" in stderr:
        stderr, _, tv = stderr.partition("\tCommand being timed:")
        for line in tv.splitlines():
            if "Maximum resident set size" in line:
                time_rss_kb = int(line.rsplit(":", 1)[1])
    res: dict = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
    if not res:
        res = {"error": f"no RESULT (rc={p.returncode})", "delivered": 0, "rate": 0.0}
    ab = meta.get("ab_path")
    if ab and not str(res.get("wsevents_file", "")).startswith(ab):
        res["error"] = f"--ab: imported {res.get('wsevents_file')} instead of {ab}"
    res.update(
        name=meta["name"],
        loop=res.get("loop", loop),
        rc=p.returncode,
        peak_rss_mb=(time_rss_kb or res.get("vmhwm_kb") or ru.ru_maxrss) / 1024,
        time_v_maxrss_kb=time_rss_kb,
        wait4_maxrss_kb=ru.ru_maxrss,
        proc_cpu_s=ru.ru_utime + ru.ru_stime,
        proc_elapsed_s=elapsed,
        stderr_lines=stderr.count("\n"),
    )
    if res.get("error") or p.returncode:
        res["stderr_tail"] = stderr[-1500:]
    return res


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


DASH = "\u2013"  # en dash, for ranges and missing values in the tables


def fmt(x, spec=",.0f", none=DASH):
    return none if x is None else format(x, spec)


def pct(fraction):
    return fmt(fraction * 100 if fraction is not None else None, ".1f") + "%"


def table(header: list[str], align: str, rows: list[list]) -> str:
    """A markdown table; align has one letter per column: l (left) or r (right)."""
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = [header, sep, *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


def url_for(base, scenario, meta, args, rep, extra_q=None) -> str:
    q = {"sid": f"{meta['name']}-{rep}-{uuid.uuid4().hex[:8]}"}
    if scenario == "throughput":
        path = "/burst"
        q.update(n=args.n, size=args.size)
    elif scenario == "slow":
        path = "/burst"
        q.update(n=args.slow_n, size=args.size)
    elif scenario == "paced":
        path = "/paced"
        q.update(
            rate=args.paced_rate,
            duration=args.paced_duration,
            size=args.size,
            burst=args.paced_burst,
        )
    else:
        path = "/reconnect"
        q.update(extra_q or {})
    q.update(meta.get("url_params", {}))
    return base + path + "?" + "&".join(f"{k}={v}" for k, v in q.items())


# --------------------------------------------------------------------------- scenarios
def bench_stream(py, srv, metas, args, scenario, reps, loops_for, extra=()) -> list[dict]:
    combos = [(m, lp) for m in metas if scenario in m["scenarios"] for lp in loops_for(m)]
    runs = []
    for rep in range(reps):
        order = combos[:]
        random.Random(rep).shuffle(order)
        for m, lp in order:
            url = url_for(srv.base, scenario, m, args, rep)
            r = run_client(
                py, m, scenario, url, lp, args.client_cpu, args.timeout, args.idle_timeout, extra
            )
            r["rep"] = rep
            runs.append(r)
            log(
                f"[{scenario} rep {rep + 1}/{reps}] {m['name']:<30} {lp:<8} "
                f"{r.get('rate', 0):>10,.0f} msg/s  "
                f"cpu {fmt(r.get('cpu_us_per_msg'), '.2f')} us/msg  "
                f"delivered {r.get('delivered')}/{r.get('sent')}  "
                f"lat p50 {fmt(r.get('lat_p50_us'), '.0f')} us  "
                f"rss {r['peak_rss_mb']:.0f} MB  {r.get('ended_by')}  {r.get('error') or ''}"
            )
    return runs


def summarize_stream(runs, metas, n_expected) -> list[dict]:
    base_runs = [r for r in runs if (r["name"], r["loop"]) == BASELINE]
    base = {r["rep"]: r["rate"] for r in base_runs if r.get("rate")}
    base_cpu = {r["rep"]: r["cpu_us_per_msg"] for r in base_runs if r.get("cpu_us_per_msg")}
    by = {}
    for r in runs:
        by.setdefault((r["name"], r["loop"]), []).append(r)
    label = {m["name"]: m["label"] for m in metas}
    rows = []
    for (name, loop), rs in by.items():
        rates = [r.get("rate") or 0.0 for r in rs]
        ratios = [r["rate"] / base[r["rep"]] for r in rs if r["rep"] in base and r.get("rate")]
        cpu_ratios = [
            r["cpu_us_per_msg"] / base_cpu[r["rep"]]
            for r in rs
            if r["rep"] in base_cpu and r.get("cpu_us_per_msg")
        ]
        sent = [r.get("sent") or n_expected for r in rs]
        deliv = [r.get("delivered", 0) / s if s else None for r, s in zip(rs, sent, strict=True)]
        rows.append(
            dict(
                name=name,
                loop=loop,
                label=label.get(name, name),
                reps=len(rs),
                rate=med(rates),
                rate_min=min(rates),
                rate_max=max(rates),
                ratio=med(ratios),
                cpu_ratio=med(cpu_ratios),
                cpu_us=med([r.get("cpu_us_per_msg") for r in rs]),
                cpu_us_per_sent=med(
                    [
                        (r.get("cpu_s") or 0) / s * 1e6 if s else None
                        for r, s in zip(rs, sent, strict=True)
                    ]
                ),
                cpu_util=med([r.get("cpu_util") for r in rs]),
                delivered=med(deliv),
                rss=med([r["peak_rss_mb"] for r in rs]),
                stderr_lines=med([r["stderr_lines"] for r in rs]),
                lat_p50=med([r.get("lat_p50_us") for r in rs]),
                lat_p99=med([r.get("lat_p99_us") for r in rs]),
                errors=sorted({r["error"] for r in rs if r.get("error")}),
                ended_by=sorted({r.get("ended_by") or "?" for r in rs}),
            )
        )
    rows.sort(key=lambda x: -(x["rate"] or 0))
    return rows


def md_throughput(rows, n) -> str:
    out = []
    for x in rows:
        notes = []
        if x["delivered"] is not None and x["delivered"] < 0.999:
            notes.append(f"LOSSY: CPU/received msg {fmt(x['cpu_us_per_sent'], '.2f')} µs")
        if x["cpu_util"] is not None and x["cpu_util"] < 0.9:
            notes.append(f"cpu util {x['cpu_util']:.2f} (not client-bound)")
        if x["stderr_lines"]:
            notes.append(f"{x['stderr_lines']:,.0f} stderr lines/run")
        if x["errors"]:
            notes.append("errors: " + "; ".join(x["errors"])[:120])
        if x["ended_by"] != ["sentinel"]:
            notes.append("ended by " + ",".join(x["ended_by"]))
        out.append(
            [
                x["name"],
                x["loop"],
                f"{fmt(x['rate'])} ({fmt(x['rate_min'])}{DASH}{fmt(x['rate_max'])})",
                fmt(x["ratio"], ".2f"),
                fmt(x["cpu_us"], ".2f"),
                fmt(x["cpu_ratio"], ".2f"),
                pct(x["delivered"]),
                fmt(x["rss"], ".0f"),
                "; ".join(notes),
            ]
        )
    header = [
        "system",
        "loop",
        f"median msgs/s (min{DASH}max)",
        "ratio vs raw websockets",
        "CPU µs/msg",
        "CPU/msg vs raw websockets",
        "delivered",
        "peak RSS MB",
        "notes",
    ]
    return table(header, "llrrrrrrl", out)


def md_uvloop(runs) -> str:
    """Per system: asyncio vs uvloop; ratio = median over reps of uvloop/asyncio rate (same rep)."""
    by = {}
    for r in runs:
        by.setdefault(r["name"], {}).setdefault(r["loop"], {})[r["rep"]] = r
    out = []
    for name, loops in sorted(
        by.items(),
        key=lambda kv: -(med([r.get("rate") for r in kv[1].get("asyncio", {}).values()]) or 0),
    ):
        if "uvloop" not in loops or "asyncio" not in loops:
            continue
        a, u = loops["asyncio"], loops["uvloop"]
        ratios = [
            u[k]["rate"] / a[k]["rate"]
            for k in a
            if k in u and a[k].get("rate") and u[k].get("rate")
        ]
        out.append(
            [
                name,
                fmt(med([r.get("rate") for r in a.values()])),
                fmt(med([r.get("rate") for r in u.values()])),
                fmt(med(ratios), ".2f"),
                fmt(med([r.get("cpu_us_per_msg") for r in a.values()]), ".2f"),
                fmt(med([r.get("cpu_us_per_msg") for r in u.values()]), ".2f"),
            ]
        )
    header = [
        "system",
        "asyncio msgs/s",
        "uvloop msgs/s",
        "uvloop/asyncio (same rep)",
        "asyncio CPU µs/msg",
        "uvloop CPU µs/msg",
    ]
    return table(header, "lrrrrr", out)


def md_paced(rows) -> str:
    out = []
    rows = sorted(rows, key=lambda x: x["cpu_us"] or 1e9)
    for x in rows:
        ratio = x["cpu_ratio"]  # median over reps of CPU/msg ÷ raw websockets' (same rep)
        notes = []
        if x["stderr_lines"]:
            notes.append(f"{x['stderr_lines']:,.0f} stderr lines/run")
        if x["errors"]:
            notes.append("errors: " + "; ".join(x["errors"])[:120])
        if x["ended_by"] != ["sentinel"]:
            notes.append("ended by " + ",".join(x["ended_by"]))
        out.append(
            [
                x["name"],
                x["loop"],
                fmt(x["cpu_us"], ".2f"),
                fmt(ratio, ".2f"),
                fmt(x["lat_p50"], ".0f"),
                fmt(x["lat_p99"], ".0f"),
                pct(x["delivered"]),
                fmt(x["rss"], ".0f"),
                "; ".join(notes),
            ]
        )
    header = [
        "system",
        "loop",
        "CPU µs/msg",
        "CPU/msg vs raw websockets",
        "latency p50 µs",
        "p99 µs",
        "delivered",
        "peak RSS MB",
        "notes",
    ]
    return table(header, "llrrrrrrl", out)


def md_slow(rows) -> str:
    out = []
    base = next((x for x in rows if (x["name"], x["loop"]) == BASELINE), None)
    for x in sorted(rows, key=lambda x: x["rss"] or 1e12):
        ratio = x["rss"] / base["rss"] if base and base["rss"] and x["rss"] else None
        notes = []
        if x["errors"]:
            notes.append("errors: " + "; ".join(x["errors"])[:120])
        if x["ended_by"] != ["sentinel"]:
            notes.append("ended by " + ",".join(x["ended_by"]))
        if x["stderr_lines"]:
            notes.append(f"{x['stderr_lines']:,.0f} stderr lines/run")
        out.append(
            [
                x["name"],
                x["loop"],
                pct(x["delivered"]),
                fmt(x["rss"], ".0f"),
                fmt(ratio, ".2f"),
                "; ".join(notes),
            ]
        )
    header = ["system", "loop", "delivered", "peak RSS MB", "peak RSS vs raw websockets", "notes"]
    return table(header, "llrrrl", out)


def bench_reconnect(py, srv, metas, args) -> list[dict]:
    runs = []
    cases = []
    for drop in args.drops.split(","):
        for down in [int(x) for x in args.down_ms.split(",")]:
            cases.append((drop, down))
    for drop, down in cases:
        for rep in range(args.reconnect_reps):
            for m in metas:
                if "reconnect" not in m["scenarios"]:
                    continue
                r_count = args.reconnect_r if down == 0 else max(3, args.reconnect_r // 2)
                q = dict(
                    k=args.reconnect_k,
                    r=r_count,
                    drop=drop,
                    idle_ms=30,
                    down_ms=down,
                    size=args.size,
                )
                url = url_for(srv.base, "reconnect", m, args, rep, q)
                # generous idle timeout: default backoffs can be seconds long
                res = run_client(
                    py, m, "reconnect", url, "asyncio", args.client_cpu, args.timeout, 25.0
                )
                res.update(rep=rep, drop=drop, down_ms=down, expected_reconnects=r_count)
                runs.append(res)
                log(
                    f"[reconnect drop={drop} down={down}ms rep {rep + 1}] {m['name']:<26} "
                    f"reconnects {res.get('reconnects')}/{r_count} "
                    f"median {fmt(res.get('reconnect_median_ms'), '.1f')} ms "
                    f"min {fmt(res.get('reconnect_min_ms'), '.1f')} "
                    f"max {fmt(res.get('reconnect_max_ms'), '.1f')}  "
                    f"{res.get('ended_by')} {res.get('error') or ''}"
                )
    return runs


def md_reconnect(runs, metas) -> str:
    note = {m["name"]: m.get("reconnect_note", "") for m in metas}
    by = {}
    for r in runs:
        by.setdefault((r["drop"], r["down_ms"], r["name"]), []).append(r)
    out = []

    def pooled(rs):
        return sorted(x for r in rs for x in r.get("reconnect_ms") or [])

    for (drop, down, name), rs in sorted(
        by.items(), key=lambda kv: (kv[0][0], kv[0][1], med(pooled(kv[1])) or 1e12)
    ):
        lat = pooled(rs)
        seen = sum(r.get("reconnects") or 0 for r in rs)
        exp = sum(r["expected_reconnects"] for r in rs)
        p10 = lat[int(0.1 * len(lat))] if lat else None
        out.append(
            [
                drop,
                f"{down} ms",
                name,
                f"{seen}/{exp}",
                fmt(med(lat), ".1f"),
                fmt(p10, ".1f"),
                fmt(lat[-1] if lat else None, ".1f"),
                ",".join(sorted({r.get("ended_by") or "?" for r in rs})),
            ]
        )
    header = [
        "drop",
        "server down",
        "system",
        "reconnects seen/expected",
        "median ms",
        "p10 ms",
        "max ms",
        "ended by",
    ]
    notes = [[name, note.get(name, "")] for name in sorted({r["name"] for r in runs})]
    return (
        table(header, "lrlrrrrl", out)
        + "\n\n"
        + table(["system", "reconnect floor / policy (as configured here)"], "ll", notes)
    )


def bench_idle(py, srv, args) -> list[dict]:
    res = []
    for system in args.idle_systems.split(","):
        p = subprocess.run(
            [
                *pin(args.client_cpu),
                py,
                str(HERE / "idle_conns.py"),
                "--url",
                srv.base + "/idle",
                "--n",
                str(args.idle_n),
                "--system",
                system,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        if line:
            r = json.loads(line[-1][7:])
            res.append(r)
            log(f"[idle] {system}: {r}")
        elif p.returncode == 3:
            SKIPPED.append(f"idle {system}: {p.stderr.strip().splitlines()[-1]}")
        else:
            log(f"[idle] {system} failed: {p.stderr[-800:]}")
    return res


def md_idle(rows) -> str:
    base = next((r["kb_per_conn"] for r in rows if r["system"] == "websockets"), None)
    out = []
    for r in rows:
        ratio = r["kb_per_conn"] / base if base else None
        out.append(
            [
                r["system"],
                r["n"],
                f"{r['rss_before_kb'] / 1024:.1f}",
                f"{r['rss_after_kb'] / 1024:.1f}",
                f"{r['kb_per_conn']:.1f}",
                fmt(ratio, ".2f"),
            ]
        )
    header = [
        "system",
        "connections",
        "RSS before MB",
        "RSS after MB",
        "KiB per idle connection",
        "ratio vs raw websockets",
    ]
    return table(header, "lrrrrr", out)


def profile_runs(py, srv, metas, args) -> list[str]:
    """One extra, profiled burst per selected wsevents variant (not counted in the tables)."""
    outdir = HERE / "results" / "profiles"
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for m in metas:
        if not m["name"].startswith(args.profile_prefix) or "throughput" not in m["scenarios"]:
            continue
        path = outdir / f"{m['name']}-{args.profile}"
        url = url_for(srv.base, "throughput", m, args, 0)
        res = run_client(
            py,
            m,
            "throughput",
            url,
            "asyncio",
            args.client_cpu,
            args.timeout,
            args.idle_timeout,
            extra=("--profile", f"{args.profile}:{path}"),
        )
        log(f"[profile] {m['name']}: {res.get('ended_by')} -> {path}.txt {res.get('error') or ''}")
        written.append(f"{path}.txt")
    return written


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"throughput only, 3 reps, no uvloop, --only {QUICK_ONLY} (unless given)",
    )
    ap.add_argument("--scenarios", default="throughput,paced,reconnect,idle,slow")
    ap.add_argument("--only", default="", help="comma list of variant names")
    ap.add_argument("--skip", default="", help="comma list of variant names")
    ap.add_argument("--extra", action="store_true", help="include non-default variants")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=130)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--paced-rate", type=int, default=10_000)
    ap.add_argument("--paced-duration", type=float, default=5.0)
    ap.add_argument("--paced-burst", type=int, default=1)
    ap.add_argument("--paced-reps", type=int, default=3)
    ap.add_argument("--paced-uvloop", action="store_true")
    ap.add_argument("--slow-n", type=int, default=100_000)
    ap.add_argument(
        "--slow-work-us",
        type=float,
        default=20.0,
        help="busy work per message in the slow consumer",
    )
    ap.add_argument("--slow-reps", type=int, default=1)
    ap.add_argument("--drops", default="1011,rst,1000")
    ap.add_argument("--down-ms", default="0,300")
    ap.add_argument("--reconnect-k", type=int, default=50)
    ap.add_argument("--reconnect-r", type=int, default=10)
    ap.add_argument("--reconnect-reps", type=int, default=2)
    ap.add_argument("--idle-n", type=int, default=1000)
    ap.add_argument("--idle-systems", default="websockets,wsevents,picows,aiohttp")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--idle-timeout", type=float, default=1.5)
    ap.add_argument(
        "--profile",
        default="",
        choices=["", "cprofile", "pyinstrument"],
        help="after the runs, profile one burst per wsevents variant into results/profiles/",
    )
    ap.add_argument("--profile-prefix", default="wsevents", help="variants profiled by --profile")
    ap.add_argument(
        "--ab",
        action="append",
        default=[],
        metavar="DIR",
        help="A/B: also run every selected wsevents variant against the wsevents package "
        "found in DIR (PYTHONPATH=DIR, e.g. a patched copy of the repo), named <variant>@B "
        "(repeat for @C, @D, ...)",
    )
    ap.add_argument("--out", default="", help="results file (default results/run-<time>.json)")
    ap.add_argument(
        "--report", default="", metavar="FILE.json", help="re-print a saved run's tables"
    )
    args = ap.parse_args()
    if args.report:
        print(render(json.loads(Path(args.report).read_text())))
        return
    if args.quick:
        args.scenarios = "throughput" if "--scenarios" not in sys.argv else args.scenarios
        args.reps = 3 if "--reps" not in sys.argv else args.reps
        args.no_uvloop = True
        if not args.only:
            args.only = QUICK_ONLY

    py = sys.executable
    (HERE / "results").mkdir(exist_ok=True)
    metas = discover(py)
    if args.list:
        for m in metas:
            scenarios = ",".join(m["scenarios"])
            print(
                f"{m['name']:<30} {m['mode']:<8} {scenarios:<28} "
                f"default={m['default']}  {m['label']}"
            )
        for note in SKIPPED:
            print(f"skipped: {note}")
        return
    only = set(filter(None, args.only.split(",")))
    skip = set(filter(None, args.skip.split(",")))
    if only:
        unknown = only - {m["name"] for m in metas}
        if unknown:
            log(f"!! --only names not found (or skipped): {', '.join(sorted(unknown))}")
        metas = [m for m in metas if m["name"] in only]
    elif not args.extra:
        metas = [m for m in metas if m["default"]]
    metas = [m for m in metas if m["name"] not in skip]
    base_metas = [m for m in metas if m["name"].startswith("wsevents")]
    if len(args.ab) > 7:
        raise SystemExit("at most 7 --ab directories")
    ab_dirs = {}
    for label, ab in zip("BCDEFGH", args.ab, strict=False):
        ab_dir = str(Path(ab).resolve())
        ab_dirs[f"@{label}"] = ab_dir
        metas += [
            {
                **m,
                "name": f"{m['name']}@{label}",
                "variant": m["name"],
                "env": {"PYTHONPATH": ab_dir},
                "ab_path": ab_dir + os.sep,
                "default": True,
            }
            for m in base_metas
        ]
    scen = args.scenarios.split(",")

    def loops_tp(m):
        return (
            ["asyncio"] + (["uvloop"] if m["uvloop"] and not args.no_uvloop else [])
            if m["mode"] == "asyncio"
            else ["thread"]
        )

    def loops_paced(m):
        return (
            ["asyncio"] + (["uvloop"] if m["uvloop"] and args.paced_uvloop else [])
            if m["mode"] == "asyncio"
            else ["thread"]
        )

    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "pinned": bool(TASKSET),
        "ab": ab_dirs,
        "versions": {k: v for m in metas for k, v in m["versions"].items()},
        "args": vars(args),
        "skipped": SKIPPED,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        import importlib.metadata as md

        import uvloop  # noqa: F401

        env["versions"]["uvloop"] = md.version("uvloop")
    except ImportError:
        pass
    log(json.dumps(env))
    srv = Server(py, args.server_cpu, f"{args.n}:{args.size}")
    results: dict = {"env": env, "metas": metas}
    try:
        if "throughput" in scen:
            runs = bench_stream(py, srv, metas, args, "throughput", args.reps, loops_tp)
            results["throughput"] = {"runs": runs}
        if "paced" in scen:
            runs = bench_stream(py, srv, metas, args, "paced", args.paced_reps, loops_paced)
            results["paced"] = {"runs": runs}
        if "reconnect" in scen:
            results["reconnect"] = {"runs": bench_reconnect(py, srv, metas, args)}
        if "slow" in scen:
            extra = ("--opt", f"work_us={args.slow_work_us:g}")
            runs = bench_stream(
                py, srv, metas, args, "slow", args.slow_reps, loops_paced, extra=extra
            )
            results["slow"] = {"runs": runs}
        if "idle" in scen:
            results["idle"] = bench_idle(py, srv, args)
        if args.profile:
            results["profiles"] = profile_runs(py, srv, metas, args)
    finally:
        srv.stop()
    env["skipped"] = SKIPPED
    out = (
        Path(args.out)
        if args.out
        else HERE / "results" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    text = render(results)
    out.with_suffix(".md").write_text(text + "\n")
    print(text)
    log(f"raw results: {out}")


#: issue #19's targets: (what, system, scenario, field, "min"/"max", bound)
TARGETS = [
    (
        "burst, sync handler: throughput vs raw websockets",
        "wsevents-sync", "throughput", "ratio", "min", 1.00,
    ),
    (
        "burst, async handler: throughput vs raw websockets",
        "wsevents-async", "throughput", "ratio", "min", 0.95,
    ),
    (
        "10,000 msg/s, sync handler: CPU per message vs raw websockets",
        "wsevents-sync", "paced", "cpu_ratio", "max", 1.00,
    ),
    (
        "10,000 msg/s, async handler: CPU per message vs raw websockets",
        "wsevents-async", "paced", "cpu_ratio", "max", 1.00,
    ),
    (
        "burst, decoder='orjson': throughput vs raw websockets",
        "wsevents-orjson", "throughput", "ratio", "min", 1.30,
    ),
    (
        "burst, transport='picows', sync handler: throughput vs raw websockets",
        "wsevents-picows-sync", "throughput", "ratio", "min", 2.40,
    ),
    (
        "burst, transport='picows', decoder='orjson': throughput vs raw websockets",
        "wsevents-picows-orjson", "throughput", "ratio", "min", 3.50,
    ),
]  # fmt: skip
TIMES = "\u00d7"  # the multiplication sign of the tables


def _is_peer(name: str) -> bool:
    return not name.startswith("wsevents") and name != BASELINE[0] and "@" not in name


def md_targets(results: dict, metas: list[dict], a: argparse.Namespace) -> str | None:
    """Issue #19's targets against this run (only those the run measured)."""
    rows = []
    summaries = {}
    for scenario, n in (
        ("throughput", a.n),
        ("paced", int(a.paced_rate * a.paced_duration)),
        ("slow", a.slow_n),
    ):
        if scenario in results:
            summaries[scenario] = {
                x["name"]: x
                for x in summarize_stream(results[scenario]["runs"], metas, n)
                if x["loop"] == "asyncio"
            }

    def check(value, kind, bound) -> str:
        if value is None:
            return DASH
        return "yes" if (value >= bound if kind == "min" else value <= bound) else "**NO**"

    for what, system, scenario, field, kind, bound in TARGETS:
        x = summaries.get(scenario, {}).get(system)
        if x is None:
            continue
        value = x[field]
        need = f"{'≥' if kind == 'min' else '≤'} {bound:.2f}{TIMES}"
        rows.append([what, need, fmt(value, ".2f") + TIMES, check(value, kind, bound)])
    tp = summaries.get("throughput", {})
    ours = tp.get("wsevents-picows-sync")
    peers = [x for name, x in tp.items() if _is_peer(name) and x["ratio"] is not None]
    if ours is not None and ours["ratio"] is not None and peers:
        best = max(peers, key=lambda x: x["ratio"])
        rows.append(
            [
                "burst, transport='picows', sync handler: ahead of every peer measured",
                f"> {best['name']} ({best['ratio']:.2f}{TIMES})",
                f"{ours['ratio']:.2f}{TIMES}",
                "yes" if ours["ratio"] > best["ratio"] else "**NO**",
            ]
        )
    idle = {r["system"]: r for r in results.get("idle", [])}
    if "wsevents" in idle:
        kib = idle["wsevents"]["kb_per_conn"]
        rows.append(
            ["memory per idle connection", "≤ 18.9 KiB", f"{kib:.1f} KiB", check(kib, "max", 18.9)]
        )
    slow = summaries.get("slow", {})
    base = slow.get(BASELINE[0])
    ours_slow = [x for name, x in slow.items() if name.startswith("wsevents")]
    if base is not None and base["rss"] and ours_slow:
        worst = max(ours_slow, key=lambda x: x["rss"] or 0)
        ratio = worst["rss"] / base["rss"]
        rows.append(
            [
                f"slow consumer, {a.slow_n:,}-msg burst: peak RSS of every wsevents variant "
                "vs raw websockets (the queue bound holds)",
                f"≤ 2.00{TIMES}",
                f"{ratio:.2f}{TIMES} ({worst['name']})",
                check(ratio, "max", 2.0),
            ]
        )
    if not rows:
        return None
    return table(["target (issue #19)", "required", "measured", "met"], "lrrl", rows)


def render(results: dict) -> str:
    """The markdown report of a results dict (as written to results/*.json)."""
    env = results["env"]
    a = argparse.Namespace(**env["args"])
    metas = results.get("metas", [])
    pinned = (
        f"client pinned to CPU {a.client_cpu}, server to CPU {a.server_cpu}"
        if env.get("pinned", True)
        else "not pinned: taskset not found"
    )
    md: list[str] = [
        f"_{env['cpus']} cores, {MACHINE_NOTE} ({pinned}); Python {env['python']}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(env["versions"].items()))
        + ". Ratios are taken against raw websockets within the same repetition, then the "
        "median over repetitions; compare ratios, not absolute figures, across machines._\n",
    ]
    targets = md_targets(results, metas, a)
    if targets:
        md.append("### Targets\n")
        md.append(targets)
        md.append("")
    if "throughput" in results:
        runs = results["throughput"]["runs"]
        rows = summarize_stream(runs, metas, a.n)
        md.append(
            f"### Throughput: burst of {a.n:,} msgs (~{a.size} B), "
            f"medians of {a.reps} interleaved reps\n"
        )
        md.append(md_throughput([x for x in rows if x["loop"] != "uvloop"], a.n))
        if any(x["loop"] == "uvloop" for x in rows):
            md.append("\n#### uvloop vs asyncio (same burst)\n")
            md.append(md_uvloop(runs))
    if "paced" in results:
        rows = summarize_stream(
            results["paced"]["runs"], metas, int(a.paced_rate * a.paced_duration)
        )
        md.append(
            f"\n### Paced: {a.paced_rate:,} msgs/s for {a.paced_duration:g} s "
            f"(one write per message), medians of {a.paced_reps} reps\n"
        )
        md.append(md_paced(rows))
    if "reconnect" in results:
        md.append(
            "\n### Reconnect: time from server drop to first message on the new connection "
            f"({a.reconnect_k} msgs per connection, {a.reconnect_reps} runs pooled)\n"
        )
        md.append(md_reconnect(results["reconnect"]["runs"], metas))
    if "slow" in results:
        rows = summarize_stream(results["slow"]["runs"], metas, a.slow_n)
        md.append(
            f"\n### Slow consumer: burst of {a.slow_n:,} msgs, handler busy {a.slow_work_us:g} µs "
            "per message (backlog: backpressure, bounded drops, or growth), "
            f"medians of {a.slow_reps} reps\n"
        )
        md.append(md_slow(rows))
    if "idle" in results:
        md.append(f"\n### Memory per idle connection ({a.idle_n} connections in one process)\n")
        md.append(md_idle(results["idle"]))
    if env.get("ab"):
        md.append(
            "\nA/B: variants without a suffix import wsevents from this checkout; "
            + "; ".join(f"`{k}` from `{v}`" for k, v in env["ab"].items())
        )
    if results.get("profiles"):
        md.append(
            "\nProfiles (one extra burst each, not in the tables): "
            + ", ".join(os.path.relpath(p, HERE) for p in results["profiles"])
        )
    if env.get("skipped"):
        md.append(
            "\nSkipped (package not installed; see bench/requirements.txt): "
            + "; ".join(env["skipped"])
        )
    return "\n".join(md)


if __name__ == "__main__":
    main()
