"""The command line: ``wsevents tail`` against a FakeServer (in-process, with
capsys, and as a subprocess for Ctrl-C and closed pipes), its exit statuses,
and ``wsevents demo`` end to end in a subprocess."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from wsevents import _demo, _format, cli
from wsevents.testing import FakeServer


ROOT = Path(__file__).resolve().parents[2]
#: a bound for anything that should finish "soon" (a CLI run against loopback)
SOON = 10.0 * float(os.environ.get("WSEVENTS_TEST_TIMEOUT_FACTOR", "1"))


async def run_main(*argv: str) -> int:
    """cli.main() in a worker thread (it runs its own event loop), bounded.

    Every in-process ``tail`` below passes ``--max-attempts`` so that the
    thread ends by itself even if a test fails half-way (the server stops and
    the client gives up).
    """
    return await asyncio.wait_for(asyncio.to_thread(cli.main, list(argv)), SOON)


def lines(text: str) -> list[str]:
    return text.splitlines()


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("NO_COLOR", None)
    return env


# -- tail, in-process -------------------------------------------------------------------


async def test_tail_prints_exactly_the_published_messages(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Messages are JSON lines on stdout; --count ends the run with status 0;
    connection events go to stderr."""
    published: list[dict[str, Any]] = [
        {"channel": "trades", "price": 1.5, "qty": 2},
        {"channel": "book", "bids": [[1, 2]], "asks": []},
        {"channel": "trades", "price": 1.25, "text": "caf\u00e9"},
    ]

    async def feed() -> None:
        client = await server.wait_for_client(timeout=SOON)
        await client.wait_subscribed("trades", "book", timeout=SOON)
        for message in published:
            await server.publish(message["channel"], message)
        await server.publish("trades", {"price": 99})  # after --count: never printed

    feeding = asyncio.ensure_future(feed())
    status = await run_main(
        "tail", server.url, "-s", "trades", "--subscribe", "book",
        "--count", "3", "--max-attempts", "2",
    )  # fmt: skip
    await feeding
    out, err = capsys.readouterr()
    assert status == 0
    assert [json.loads(line) for line in lines(out)] == published
    assert f"wsevents: connected to {server.url}" in err
    assert "Traceback" not in err


async def test_tail_spreads_channels_over_a_pool(capsys: pytest.CaptureFixture[str]) -> None:
    """More --subscribe channels than --max-channels: tail runs a pool of
    connections, none over the cap, and says which shard connected."""
    async with FakeServer(max_channels=2) as server:

        async def feed() -> None:
            await server.wait_received(
                lambda _: sum(len(c.subscriptions) for c in server.clients) == 5, timeout=SOON
            )
            for n, channel in enumerate("abcde"):
                await server.publish(channel, {"n": n}, only_subscribed=True)

        feeding = asyncio.ensure_future(feed())
        channels = [arg for c in "abcde" for arg in ("-s", c)]
        status = await run_main(
            "tail", server.url, *channels, "--max-channels", "2", "-n", "5", "--max-attempts", "2"
        )
        await feeding
        assert server.violations == []
        assert len(server.all_clients) == 3
    out, err = capsys.readouterr()
    assert status == 0
    assert sorted(json.loads(line)["n"] for line in lines(out)) == [0, 1, 2, 3, 4]
    assert sorted(line.split(" connected")[0] for line in lines(err) if " connected" in line) == [
        "wsevents: shard 0",
        "wsevents: shard 1",
        "wsevents: shard 2",
    ]


async def test_tail_filter_and_channel_key(capsys: pytest.CaptureFixture[str]) -> None:
    """--filter keeps only the given channels; --channel-key says where they are."""
    async with FakeServer(channel_key="type") as server:

        async def feed() -> None:
            await server.wait_for_client(timeout=SOON)
            await server.publish("ticker", {"n": 1})
            await server.publish("trade", {"n": 2})
            await server.send_raw(json.dumps({"n": 3}))  # no channel at all
            await server.publish("trade", {"n": 4})

        feeding = asyncio.ensure_future(feed())
        status = await run_main(
            "tail", server.url, "--channel-key", "type", "--filter", "trade",
            "-f", "trade", "-n", "2", "--max-attempts", "2",
        )  # fmt: skip
        await feeding
    out, _ = capsys.readouterr()
    assert status == 0
    assert [json.loads(line) for line in lines(out)] == [
        {"type": "trade", "n": 2},
        {"type": "trade", "n": 4},
    ]


async def test_tail_binance_protocol(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--protocol binance sends a SUBSCRIBE request and prints the data payloads."""
    trade = {"e": "trade", "s": "BTCUSDT", "p": "42000.10", "q": "0.001"}

    async def feed() -> None:
        client = await server.wait_for_client(timeout=SOON)
        request = (await client.wait_received(count=1, timeout=SOON))[0]
        await client.send({"result": None, "id": request["id"]})
        for n in range(2):
            frame = {"stream": "btcusdt@trade", "data": {**trade, "t": n}}
            await server.send_raw(json.dumps(frame))

    feeding = asyncio.ensure_future(feed())
    status = await run_main(
        "tail", server.url_for("/stream"), "--protocol", "binance",
        "-s", "btcusdt@trade", "-n", "2", "--max-attempts", "2",
    )  # fmt: skip
    await feeding
    out, _ = capsys.readouterr()
    assert status == 0
    assert server.received[0] == {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}
    assert [json.loads(line) for line in lines(out)] == [{**trade, "t": 0}, {**trade, "t": 1}]


async def test_tail_sends_headers(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """--header NAME:VALUE goes into the handshake (the value may contain colons)."""

    async def feed() -> None:
        await server.wait_for_client(timeout=SOON)
        await server.publish("x")

    feeding = asyncio.ensure_future(feed())
    status = await run_main(
        "tail", server.url, "-H", "Authorization: Bearer t0k", "--header", "X-Origin:ws://a:1",
        "-n", "1", "--max-attempts", "2",
    )  # fmt: skip
    await feeding
    capsys.readouterr()
    assert status == 0
    headers = server.requests[0].headers
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["X-Origin"] == "ws://a:1"


async def test_tail_reconnects_and_reports_on_stderr(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dropped connection is reported on stderr, and the stream goes on after it."""

    async def feed() -> None:
        await server.wait_for_client(timeout=SOON)
        await server.publish("a", {"n": 1})
        await server.drop(timeout=SOON)
        await server.wait_for_client(2, timeout=SOON)
        await server.publish("a", {"n": 2})

    feeding = asyncio.ensure_future(feed())
    status = await run_main("tail", server.url, "-n", "2", "--max-attempts", "3")
    await feeding
    out, err = capsys.readouterr()
    assert status == 0
    assert [json.loads(line)["n"] for line in lines(out)] == [1, 2]
    assert "wsevents: disconnected: network_error" in err
    assert "wsevents: reconnecting: attempt 1" in err
    assert "reconnected after" in err


# -- tail: errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tail", "http://example.com/ws"], "wss://"),
        (["tail", "ws://"], "has no host"),
        (["tail", "ws://localhost:1/", "--subscribe", ""], "subscriptions"),
        (["tail", "ws://localhost:1/", "--protocol", "binance", "--channel-key", "x"], "json"),
    ],
)
def test_tail_configuration_error_exits_2_with_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad URL or option: status 2 and one clear line on stderr, nothing on stdout."""
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(lines(err)) == 1
    assert err.startswith("wsevents tail: ")
    assert expected in err


@pytest.mark.parametrize(
    "argv",
    [
        ["tail"],
        ["tail", "ws://x/", "--header", "no-colon"],
        ["tail", "ws://x/", "--count", "0"],
        ["tail", "ws://x/", "--protocol", "xml"],
        ["demo", "--duration", "1"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's usage errors: status 2, the error on stderr."""
    assert cli.main(argv) == 2
    _, err = capsys.readouterr()
    assert "error:" in err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`wsevents` alone lists the commands."""
    assert cli.main([]) == 2
    _, err = capsys.readouterr()
    assert "demo" in err
    assert "tail" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the version and exits 0."""
    import wsevents

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"wsevents {wsevents.__version__}"


async def test_tail_refused_handshake_exits_1_with_one_line(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """HTTP 401 is fatal: status 1 and one line on stderr (the body's newline folded)."""
    server.refuse(401)
    status = await run_main("tail", server.url, "--max-attempts", "2")
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert lines(err) == [
        "wsevents tail: server rejected the WebSocket handshake with HTTP 401: Unauthorized"
    ]


async def test_tail_gives_up_after_max_attempts(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retried status (503) with --max-attempts: reconnecting lines, then one error line."""
    server.refuse(503)
    status = await run_main("tail", server.url, "--max-attempts", "2")
    _, err = capsys.readouterr()
    assert status == 1
    assert server.handshakes == 2
    assert "wsevents: reconnecting: attempt 2" in err
    assert lines(err)[-1].startswith("wsevents tail: gave up after 2 failed connection attempts")


# -- tail, as a process -----------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal here")
async def test_tail_ctrl_c_exits_0(server: FakeServer) -> None:
    """Ctrl-C (SIGINT) closes the connection gracefully and exits 0, no traceback."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsevents", "tail", server.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT, env=subprocess_env(),
    )  # fmt: skip
    try:
        client = await server.wait_for_client(timeout=SOON)
        await server.publish("a", {"n": 1})
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), SOON)
        assert json.loads(first) == {"channel": "a", "n": 1}
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), SOON)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    await client.wait_closed(timeout=SOON)
    assert client.close_code == 1000  # a close handshake, not a dropped socket


@pytest.mark.skipif(sys.platform == "win32", reason="closed-pipe semantics differ")
async def test_tail_into_a_closed_pipe_exits_0(server: FakeServer) -> None:
    """`wsevents tail URL | head -1`: the reader goes away; tail ends quietly, status 0."""
    read_end, write_end = os.pipe()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsevents", "tail", server.url,
        stdout=write_end, stderr=asyncio.subprocess.PIPE, cwd=ROOT, env=subprocess_env(),
    )  # fmt: skip
    os.close(write_end)
    try:
        await server.wait_for_client(timeout=SOON)
        await server.publish("a", {"n": 1})
        with open(read_end, "rb") as reader:
            first = await asyncio.wait_for(asyncio.to_thread(reader.readline), SOON)
        assert json.loads(first) == {"channel": "a", "n": 1}
        for n in range(2, 50):  # the next writes hit the closed pipe
            await server.publish("a", {"n": n})
            if proc.returncode is not None or not server.clients:
                break
        _, err = await asyncio.wait_for(proc.communicate(), SOON)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err


# -- demo -------------------------------------------------------------------------------------

EVENT_LINE = re.compile(r"^\s*\d+\.\d\ds  (\S+)")


async def test_demo_runs_offline_and_every_event_fires() -> None:
    """`python -m wsevents demo --duration 5`: exits 0 within its time and prints a line
    for every event of DESIGN.md (gap and handover included), plain text (stdout is not
    a terminal), then a summary."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsevents", "demo", "--duration", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT, env=subprocess_env(),
    )  # fmt: skip
    try:
        out_b, err_b = await asyncio.wait_for(proc.communicate(), 45)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err
    assert "\x1b[" not in out
    in_order = [m[1] for line in lines(out) if (m := EVENT_LINE.match(line))]
    labels = set(in_order)
    for event in ("connect", "disconnect", "reconnecting", "message", "queue_full", "error",
                  "closed", "message:trades", "message:candles", "gap", "handover"):  # fmt: skip
        assert event in labels, f"no {event!r} line in:\n{out}"
    assert re.search(r"disconnect\s+policy .*proactive", out), out
    assert re.search(r"disconnect\s+server_close 1013", out), out
    assert re.search(r"gap\s+trades: #\d+ (to #\d+ )?missed \(\d+\), delivering #\d+", out), out
    assert re.search(r"disconnect\s+handover 1000 \(proactive", out), out
    assert re.search(r"handover\s+switched after \d+ ms .*, \d+ duplicates? dropped", out), out
    # make-before-break: the new connection's connect, the old one's disconnect, then handover
    lifecycle = [label for label in in_order if label in ("connect", "disconnect", "handover")]
    at = lifecycle.index("handover")
    assert lifecycle[at - 2 : at] == ["connect", "disconnect"], out
    assert "every event fired" in out
    for event in _demo.DEMO_EVENTS:
        assert event in out.split("every event fired:")[1], out


def test_demo_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colours need a terminal, and NO_COLOR, TERM=dumb or --no-color turn them off."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert _demo._wants_colour(Terminal(), no_color=False)
    assert not _demo._wants_colour(io.StringIO(), no_color=False)
    assert not _demo._wants_colour(Terminal(), no_color=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _demo._wants_colour(Terminal(), no_color=False)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not _demo._wants_colour(Terminal(), no_color=False)


def test_demo_status_line_is_redrawn_under_event_lines() -> None:
    """On a terminal the status line is erased before an event line and drawn again after."""
    stream = io.StringIO()
    console = _demo._Console(stream, colour=False, live=True)
    console.status("[CONNECTED] 1.0 msg/s")
    console.line("connect", "hello")
    console.end_status()
    text = stream.getvalue()
    assert text.startswith("\r\x1b[2K[CONNECTED] 1.0 msg/s\r\x1b[2K")
    assert "connect         hello\n[CONNECTED] 1.0 msg/s" in text
    assert text.endswith("\r\x1b[2K")


def test_one_line_folds_white_space() -> None:
    """Error text from servers (HTML bodies, newlines) is shown on one line, shortened."""
    assert _format.one_line("a\n  b\tc\n") == "a b c"
    assert _format.one_line("x" * 500, limit=10) == "xxxxxxx..."


def test_gap_and_handover_descriptions() -> None:
    """The demo's one-line gap and handover reports."""
    import wsevents

    assert _format.describe_gap(wsevents.Gap(channel="t", expected=5, received=9, missing=4)) == (
        "t: #5 to #8 missed (4), delivering #9"
    )
    assert _format.describe_gap(wsevents.Gap(channel="t", expected=5, received=6, missing=1)) == (
        "t: #5 missed (1), delivering #6"
    )
    assert _format.describe_gap(wsevents.Gap(channel="t", expected=5, received=3, missing=0)) == (
        "t: #3 again (expected #5), not delivered twice"
    )
    report = wsevents.Handover(overlap=0.1594, duplicates_dropped=1)
    assert _format.describe_handover(report).startswith("switched after 159 ms ")
    assert "1 duplicate dropped" in _format.describe_handover(report)
