"""bus._pipe.Pipe against a real server: replies in order, failures give pipelines back."""

from __future__ import annotations

import secrets
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tests.bus.redis_server import RedisServer
from tests.conftest import until
from wsevents.bus._pipe import Pipe


async def test_replies_come_back_in_order(redis_server: RedisServer) -> None:
    """Pipelines sent back to back: each one's replies, in order, refusals included."""
    client = aioredis.Redis.from_url(redis_server.url)
    got: list[tuple[int, list[Any]]] = []
    turns: list[int] = []
    pipe: Pipe[int] = Pipe(lambda token, replies: got.append((token, replies)),
                           lambda: turns.append(1))
    await pipe.send(client, 1, [("SET", "k", "v"), ("INCR", "k")])
    await pipe.send(client, 2, [("GET", "k")])
    await until(lambda: len(got) == 2)
    assert got[0][0] == 1
    assert got[0][1][0] in (b"OK", True)
    assert isinstance(got[0][1][1], ResponseError)
    assert got[1] == (2, [b"v"])
    assert len(turns) == 2
    assert pipe.broken is None
    assert await pipe.abandon() == []
    await client.aclose()


async def test_a_pipe_that_cannot_connect_gives_its_pipelines_back() -> None:
    """No server: every send leaves the pipe broken (the first failure kept), and
    abandon() returns every pipeline, in order."""
    client = aioredis.Redis.from_url(f"unix:///tmp/wsev-none-{secrets.token_hex(4)}.sock")
    turns: list[int] = []
    pipe: Pipe[str] = Pipe(lambda token, replies: None, lambda: turns.append(1))
    await pipe.send(client, "a", [("PING",)])
    first = pipe.broken
    await pipe.send(client, "b", [("PING",)])
    assert first is not None
    assert pipe.broken is first
    assert (pipe.depth, len(turns)) == (2, 2)
    assert await pipe.abandon() == ["a", "b"]
    assert (pipe.broken, pipe.depth) == (None, 0)
    await client.aclose()


async def test_abandon_stops_a_reader_waiting_for_replies(redis_server: RedisServer) -> None:
    """A pipeline still unanswered when the pipe is abandoned comes back to its owner."""
    client = aioredis.Redis.from_url(redis_server.url)
    pipe: Pipe[str] = Pipe(lambda token, replies: None, lambda: None)
    await pipe.send(client, "blocked", [("BLPOP", "nothing", "0")])
    assert pipe.depth == 1
    assert await pipe.abandon() == ["blocked"]
    assert pipe.depth == 0
    await client.aclose()
