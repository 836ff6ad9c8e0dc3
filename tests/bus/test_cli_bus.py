"""``wsevents publish`` / ``wsevents consume`` (wsevents._cli_bus), called directly."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from tests.bus.redis_server import RedisServer
from wsevents import _cli_bus
from wsevents.testing import FakeServer


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wsevents")
    _cli_bus.add_commands(parser.add_subparsers())
    return parser.parse_args(argv)


async def test_publish_then_consume(redis_server: RedisServer,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """publish writes a feed into Redis; consume prints it back as JSON lines."""
    async with FakeServer() as server:
        args = parse("publish", server.url, "--redis", redis_server.url, "--name", "feed",
                     "-s", "a", "--maxlen", "1000", "--count", "3")
        publishing = asyncio.ensure_future(_cli_bus.run(args))
        client = await server.wait_for_client()
        await client.wait_subscribed("a")
        for seq in range(3):
            await server.publish("a", {"seq": seq})
        assert await asyncio.wait_for(publishing, 10) == 0
    err = capsys.readouterr().err
    assert "published 3 messages, dropped 0" in err
    assert "redis connected" in err
    args = parse("consume", "--redis", redis_server.url, "--name", "feed", "-c", "a",
                 "--start", "0", "--count", "3")
    assert await asyncio.wait_for(_cli_bus.run(args), 10) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [0, 1, 2]
    assert "feed connect" in err


async def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad option is exit status 2 with one line naming it."""
    assert await _cli_bus.run(parse("consume", "--redis", "nope", "--name", "x")) == 2
    assert "url=" in capsys.readouterr().err
    args = parse("publish", "ws://127.0.0.1:1/", "--redis", "redis://h/", "--name", "a:b")
    assert await _cli_bus.run(args) == 2
    assert "name=" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("publish", "ws://h/", "--redis", "redis://h/", "--name", "x", "--maxlen", "0")
    with pytest.raises(SystemExit):
        parse("publish", "ws://h/", "--redis", "redis://h/", "--name", "x", "--max-age", "x")
    with pytest.raises(SystemExit):
        parse("consume", "--redis", "redis://h/", "--name", "x", "--count", "x")
    with pytest.raises(SystemExit):
        parse("publish", "ws://h/", "--redis", "redis://h/", "--name", "x", "--max-age", "-1")


async def test_publish_fails_for_good(redis_server: RedisServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A feed that refuses the handshake: exit status 1."""
    async with FakeServer() as server:
        server.refuse(403)
        args = parse("publish", server.url, "--redis", redis_server.url, "--name", "feed")
        assert await asyncio.wait_for(_cli_bus.run(args), 10) == 1
    assert "403" in capsys.readouterr().err
