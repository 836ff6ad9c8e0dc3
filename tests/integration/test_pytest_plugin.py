"""The pytest plugin, seen from a user's test suite: pytester writes test files
that use the ``fake_server`` and ``wsevents_connection`` fixtures and runs
pytest on them in a subprocess (pytest-asyncio in auto and strict modes)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import wsevents.pytest_plugin


pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
SOON = 30.0 * float(os.environ.get("WSEVENTS_TEST_TIMEOUT_FACTOR", "1"))

USER_TESTS = '''
import asyncio

import pytest

import wsevents
from wsevents.testing import FakeServer

made = []


async def test_receives_from_the_fake_server(fake_server, wsevents_connection):
    assert isinstance(fake_server, FakeServer)
    ws = wsevents_connection(fake_server, subscriptions=["trades"])
    made.append(ws)
    got = asyncio.Event()
    ws.on("message:trades", lambda msg: got.set())
    await ws.connect()
    client = await fake_server.wait_for_client()
    await client.wait_subscribed("trades")
    await fake_server.publish("trades", {"price": 1})
    await asyncio.wait_for(got.wait(), 5)


async def test_reconnects_after_a_drop(fake_server, wsevents_connection):
    ws = wsevents_connection(fake_server.url)
    made.append(ws)
    await ws.connect()
    await fake_server.wait_for_client()
    await fake_server.drop()
    await fake_server.wait_for_client(2)


def test_connections_were_closed_at_teardown():
    assert [ws.state for ws in made] == [wsevents.State.CLOSED] * 2


@pytest.mark.fake_server(channel_key="type", max_age=30)
async def test_marker_configures_the_server(fake_server):
    assert fake_server.channel_key == "type"
    assert fake_server.max_age == 30
'''

STRICT_TESTS = '''
import pytest


@pytest.mark.asyncio
async def test_strict_mode(fake_server, wsevents_connection):
    ws = wsevents_connection(fake_server)
    await ws.connect()
    await fake_server.wait_for_client()
'''


def plugin_args() -> list[str]:
    """``-p wsevents.pytest_plugin`` unless the pytest11 entry point already loads it
    (the package is installed, or its egg-info is on the path)."""
    names = {ep.name for ep in entry_points(group="pytest11")}
    return [] if "wsevents" in names else ["-p", "wsevents.pytest_plugin"]


@pytest.fixture
def user_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A directory with its own pytest configuration, where wsevents is importable."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini(
        """
        [pytest]
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    return pytester


def test_fixtures_in_auto_mode(user_project: pytest.Pytester) -> None:
    """fake_server and wsevents_connection work in a user's suite, pytest-asyncio auto mode;
    connections are closed at teardown; the marker passes options to the server."""
    user_project.makepyfile(test_user=USER_TESTS)
    result = user_project.runpytest_subprocess(
        "-p", "asyncio", "-o", "asyncio_mode=auto", *plugin_args(), timeout=SOON
    )
    result.assert_outcomes(passed=4)


def test_fixtures_in_strict_mode(user_project: pytest.Pytester) -> None:
    """The fixtures are pytest-asyncio fixtures: they work in strict mode too."""
    user_project.makepyfile(test_strict=STRICT_TESTS)
    result = user_project.runpytest_subprocess(
        "-p", "asyncio", "-o", "asyncio_mode=strict", *plugin_args(), timeout=SOON
    )
    result.assert_outcomes(passed=1)


def test_example_file_passes(user_project: pytest.Pytester) -> None:
    """examples/test_with_fake_server.py (the README's testing section) passes as a user's
    test file."""
    example = ROOT / "examples" / "test_with_fake_server.py"
    user_project.makepyfile(test_with_fake_server=example.read_text())
    result = user_project.runpytest_subprocess(
        "-p", "asyncio", "-o", "asyncio_mode=auto", *plugin_args(), timeout=SOON
    )
    result.assert_outcomes(passed=3)


def test_fixtures_are_listed(user_project: pytest.Pytester) -> None:
    """`pytest --fixtures` shows both fixtures with their documentation."""
    result = user_project.runpytest_subprocess("--fixtures", *plugin_args(), timeout=SOON)
    result.stdout.fnmatch_lines(["*fake_server*", "*wsevents_connection*"])


def test_entry_point_names_the_plugin() -> None:
    """The pytest11 entry point (pyproject.toml) loads wsevents.pytest_plugin."""
    found = [ep for ep in entry_points(group="pytest11") if ep.name == "wsevents"]
    if not found:
        pytest.skip("wsevents is not installed (no entry points on the path)")
    assert found[0].value == "wsevents.pytest_plugin"
    assert found[0].load() is wsevents.pytest_plugin


def test_importable_without_pytest_asyncio() -> None:
    """Without pytest-asyncio the plugin still imports, with plain async fixtures."""
    code = (
        "import sys; sys.modules['pytest_asyncio'] = None\n"
        "import inspect, wsevents.pytest_plugin as p\n"
        "assert inspect.isasyncgenfunction(p.fake_server.__wrapped__)\n"
        "assert not hasattr(p.fake_server.__wrapped__, '_force_asyncio_fixture')\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=SOON
    )
    assert done.returncode == 0, done.stderr.decode()
