"""Fixtures of the bus tests: a real Redis server process per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bus.redis_server import RedisServer


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
