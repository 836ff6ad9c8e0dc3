"""pytest fixtures for testing code built on wsevents (layer L5).

Installed with wsevents and loaded by pytest through the ``pytest11`` entry
point, so the fixtures are there without any ``conftest.py``:

* ``fake_server``: a started :class:`wsevents.testing.FakeServer` on
  127.0.0.1 (a free port), stopped after the test;
* ``wsevents_connection``: a factory of :class:`wsevents.Connection` objects
  with test-friendly defaults, every one of them closed after the test;
* ``replay_server``: a factory of started FakeServers that replay a recording
  (:mod:`wsevents.record`): ``server, replay = await replay_server(path)``,
  then ``await replay.wait_finished()``; stopped after the test.

All are async fixtures.  With `pytest-asyncio <https://pytest-asyncio.readthedocs.io/>`_
they are registered as pytest-asyncio fixtures, so they work in ``auto``
mode (``asyncio_mode = "auto"``: any ``async def`` test) and in ``strict``
mode (tests marked ``@pytest.mark.asyncio``); they run on the test's event
loop (function scope).  Without pytest-asyncio they are plain async-generator
fixtures, which anyio's pytest plugin runs for ``@pytest.mark.anyio`` tests
on the asyncio backend.

Example::

    async def test_reconnects(fake_server, wsevents_connection):
        ws = wsevents_connection(fake_server, subscriptions=["trades"])
        await ws.connect()
        client = await fake_server.wait_for_client()
        await client.wait_subscribed("trades")
        await fake_server.drop()                       # TCP reset
        await fake_server.wait_for_client(2)           # the client came back

Options of the server are given with a marker::

    @pytest.mark.fake_server(channel_key="type", max_age=2.0)
    async def test_forced_cut(fake_server): ...

This is the only module of wsevents that imports pytest; wsevents itself and
``wsevents.testing`` never do.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import pytest


if TYPE_CHECKING:
    from wsevents import Connection
    from wsevents.testing import FakeServer


__all__ = [
    "ConnectionFactory",
    "fake_server",
    "pytest_configure",
    "replay_server",
    "wsevents_connection",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: Seconds a teardown waits for one connection to close (close() is bounded
#: by ``close_timeout`` itself; this only guards against a bug).
_CLOSE_GRACE = 10.0

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised where pytest-asyncio is absent
    _async_fixture = cast(Callable[[_F], _F], pytest.fixture)
else:
    # pytest-asyncio's decorator marks the fixture as its own, which makes it
    # work in strict mode as well as in auto mode.
    _async_fixture = cast(Callable[[_F], _F], pytest_asyncio.fixture)


class ConnectionFactory(Protocol):
    """The type of the ``wsevents_connection`` fixture."""

    def __call__(self, target: str | FakeServer, /, **options: Any) -> Connection:
        """Build a :class:`wsevents.Connection`, closed at the end of the test.

        Args:
            target: a ``ws://`` URL, or a :class:`FakeServer` (its ``url``).
            options: :class:`wsevents.Connection` options; they override the
                test-friendly defaults (a 20 ms ``FixedDelay`` backoff, a
                20 ms ``check_interval`` and a 1 s ``close_timeout``).
        """
        ...


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_server`` marker (its keyword arguments go to FakeServer)."""
    config.addinivalue_line(
        "markers",
        "fake_server(**options): options of the FakeServer given by the "
        "wsevents `fake_server` fixture (channel_key, max_age, ping_interval, ...)",
    )


@_async_fixture
async def fake_server(request: pytest.FixtureRequest) -> AsyncIterator[FakeServer]:
    """A started :class:`wsevents.testing.FakeServer` on 127.0.0.1; stopped afterwards.

    ``@pytest.mark.fake_server(**options)`` passes options to its constructor.
    """
    from wsevents.testing import FakeServer

    marker = request.node.get_closest_marker("fake_server")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with FakeServer(**options) as server:
        yield server


@_async_fixture
async def wsevents_connection() -> AsyncIterator[ConnectionFactory]:
    """A factory of :class:`wsevents.Connection`; each one is closed after the test.

    ``wsevents_connection(url_or_fake_server, **options)`` builds a
    connection (it does not connect: call ``connect()``, ``run()`` or use
    ``async with``).  Defaults suit tests: a 20 ms ``FixedDelay`` backoff, a
    20 ms ``check_interval`` and a 1 s ``close_timeout``.
    """
    import wsevents

    made: list[wsevents.Connection] = []

    def make(target: str | FakeServer, /, **options: Any) -> wsevents.Connection:
        url = target if isinstance(target, str) else target.url
        options.setdefault("backoff", wsevents.FixedDelay(delay=0.02))
        options.setdefault("check_interval", 0.02)
        options.setdefault("close_timeout", 1.0)
        ws = wsevents.Connection(url, **options)
        made.append(ws)
        return ws

    yield make
    stuck: list[wsevents.Connection] = []
    for ws in made:
        try:
            await asyncio.wait_for(ws.close(), _CLOSE_GRACE)
        except asyncio.TimeoutError:
            stuck.append(ws)
    if stuck:
        pytest.fail(f"wsevents_connection: close() did not finish for {stuck}", pytrace=False)


@_async_fixture
async def replay_server() -> AsyncIterator[Callable[..., Any]]:
    """A factory of started FakeServers replaying a recording; stopped afterwards.

    ``await replay_server(path, speed=None, **fake_server_options)`` returns
    ``(server, replay)``: the started server and its
    :class:`~wsevents._replay.Replay` (``await replay.wait_finished()``).
    ``speed`` multiplies the recorded pace (None, the default here: as fast as
    the client reads).
    """
    from wsevents.testing import FakeServer

    started: list[FakeServer] = []

    async def start(path: Any, speed: float | None = None, **options: Any) -> tuple[Any, Any]:
        options.setdefault("compression", None)
        server = FakeServer(**options)
        replay = server.replay(path, speed=speed)
        await server.start()
        started.append(server)
        return server, replay

    yield start
    for server in started:
        await server.stop()
