"""``wsevents tail --record / --metrics-port`` and ``wsevents replay`` (issue 14)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import wsevents
from tests.conftest import Recorder
from tests.integration.test_cli import ROOT, SOON, run_main, subprocess_env
from wsevents.record import read_recording
from wsevents.testing import FakeServer


async def test_tail_records_then_replay_serves_it(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tail --record FILE` writes the frames it printed; `wsevents replay FILE
    --speed 0 --exit-when-done` serves them to a client and exits 0."""
    path = tmp_path / "tail.jsonl"

    async def publish() -> None:
        await server.wait_for_client(timeout=SOON)
        for n in range(3):
            await server.publish("a", {"n": n})

    publisher = asyncio.ensure_future(publish())
    status = await run_main("tail", server.url, "--record", str(path), "-n", "3",
                            "--max-attempts", "1")  # fmt: skip
    await publisher
    assert status == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    frames = [line for line in read_recording(path) if line["kind"] == "frame"]
    assert [json.loads(f["text"]) for f in frames] == printed

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsevents", "replay", str(path), "--speed", "0",
        "--exit-when-done", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT, env=subprocess_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), SOON)).decode().strip()
        assert url.startswith("ws://127.0.0.1:")
        ws = wsevents.Connection(url, max_reconnect_attempts=0)
        rec = Recorder(ws, "message")
        await ws.connect()
        await rec.wait_count("message", 3, timeout=SOON)
        assert rec.of("message") == printed
        _, err = await asyncio.wait_for(proc.communicate(), SOON)
        await ws.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "missing.jsonl"],
        ["replay", "x.jsonl", "--speed", "-1"],
        ["replay", "x.jsonl", "--speed", "fast"],
        ["replay", "x.jsonl", "--port", "70000"],
        ["tail", "ws://127.0.0.1:1/", "--metrics-port", "x"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A missing recording, a bad speed or port: usage errors, status 2."""
    from wsevents import cli

    assert cli.main(argv) == 2
    assert capsys.readouterr().err


async def test_tail_metrics_port_serves_metrics(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tail --metrics-port N` serves the connection's stats while it runs; a port in
    use is a usage error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scrape_then_publish() -> str:
        await server.wait_for_client(timeout=SOON)
        url = f"http://127.0.0.1:{port}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=SOON).read())
        await server.publish("a", {"n": 1})
        return body.decode()

    scraper = asyncio.ensure_future(scrape_then_publish())
    status = await run_main("tail", server.url, "--metrics-port", str(port), "-n", "1",
                            "--max-attempts", "1")  # fmt: skip
    body = await scraper
    assert status == 0
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"wsevents_messages_received", "wsevents_connected"} <= names

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        status = await run_main("tail", server.url, "--metrics-port", str(taken))
    assert status == 2
    assert "--metrics-port" in capsys.readouterr().err


async def test_tail_metrics_without_prometheus_client_exits_2(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the extra, --metrics-port is a usage error naming it."""
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    assert await run_main("tail", server.url, "--metrics-port", "0") == 2
    assert "--metrics-port" in capsys.readouterr().err


async def test_replay_serves_until_ctrl_c(tmp_path: Path) -> None:
    """Without --exit-when-done the server runs until Ctrl-C, then exits 0."""
    path = tmp_path / "empty.jsonl"
    path.write_text('{"kind": "recording", "version": 1, "t": 0}\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsevents", "replay", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT, env=subprocess_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = await asyncio.wait_for(proc.stdout.readline(), SOON)
        assert url.startswith(b"ws://127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), SOON)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
