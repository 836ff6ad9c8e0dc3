"""Fixtures of the bus tests: a real Redis server process per test."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.bus.redis_server import RedisServer
from wsevents.bus import Consumer, RedisPublisher


#: set on a test whose call failed (the teardown below then closes what it left)
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
async def close_what_a_failed_test_left_open(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A bus test that fails half-way skips its own ``close()`` calls: its
    publishers, consumers and Redis clients are closed here, so that their
    ``ResourceWarning`` does not fail whichever test runs next instead.  A test
    that passes is left alone (what it leaves open should fail it)."""
    yield
    if not request.node.stash.get(_FAILED, False):
        return
    for obj in gc.get_objects():
        with contextlib.suppress(Exception):
            if isinstance(obj, (RedisPublisher, Consumer)):
                await obj.close(timeout=1.0)
            elif isinstance(obj, aioredis.Redis):
                await obj.aclose()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh server (no persistence) on its own unix socket."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A fresh server with ``appendonly yes`` and ``appendfsync always``."""
    server = RedisServer(fsync_always=True)
    server.start()
    yield server
    server.stop()
