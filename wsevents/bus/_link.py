"""One Redis connection, kept up through the backoff classes (the bus's own supervisor).

The publisher and the consumer each own one :class:`RedisLink`.  It opens a
``redis.asyncio.Redis`` client, checks it with ``PING``, and when a command
fails the owner calls :meth:`RedisLink.lost`: the client is dropped, the
``on_disconnect`` callback runs once per outage, and the next
:meth:`RedisLink.client` call reconnects, sleeping the backoff's delays between
attempts.  redis-py's own retries are off: the backoff decides, and a failure
is seen at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..backoff import Backoff
from ..exceptions import ConfigError


__all__ = ["BusConnected", "BusDisconnected", "RedisLink", "check_url", "mask_url"]


@attrs.frozen(kw_only=True)
class BusConnected:
    """Payload of ``bus_connect``: the bus's own Redis connection is (back) up."""

    #: the Redis URL (password masked)
    url: str
    #: 1 for a first attempt, 2 for the next, ...
    attempt: int
    #: False for the first connection, True afterwards
    is_reconnect: bool
    #: seconds without Redis before this connection (0.0 for the first)
    downtime: float


@attrs.frozen(kw_only=True)
class BusDisconnected:
    """Payload of ``bus_disconnect``: the bus's own Redis connection was lost."""

    #: the Redis URL (password masked)
    url: str
    #: what failed, as text (never contains the password)
    error: str


def mask_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def check_url(url: object) -> None:
    """Raise ConfigError (with the password masked) unless ``url`` is a Redis URL."""
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        shown = mask_url(url) if isinstance(url, str) else url
        raise ConfigError("url", shown, "must be a redis://, rediss:// or unix:// URL")


class RedisLink:
    """A Redis client that reconnects through a backoff.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL.
        backoff: delays between attempts (``wsevents.ExponentialBackoff`` & co).
        timeout: socket timeout of every command, in seconds (a stopped server
            is a failure after this long, never a hang).
        on_connect: called with a :class:`BusConnected` after each connect.
        on_disconnect: called with a :class:`BusDisconnected` once per outage.
    """

    def __init__(
        self,
        url: str,
        *,
        backoff: Backoff,
        timeout: float,
        on_connect: Callable[[BusConnected], None],
        on_disconnect: Callable[[BusDisconnected], None],
    ) -> None:
        self._url = url
        self.masked_url = mask_url(url)
        self._backoff = backoff
        self._timeout = timeout
        #: seconds before a command counts as failed
        self.timeout = timeout
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._client: aioredis.Redis | None = None
        self._connects = 0
        self._outages = 0
        self._lost_at: float | None = None
        self._closed = asyncio.Event()
        #: clients being closed after a failure
        self._closing: set[asyncio.Task[None]] = set()
        #: ``(major, minor)`` of the server, known once connected
        self.version: tuple[int, int] = (0, 0)

    @property
    def connected(self) -> bool:
        """True while a checked client is held."""
        return self._client is not None

    @property
    def connects(self) -> int:
        """How many times a client was connected and checked."""
        return self._connects

    @property
    def outages(self) -> int:
        """How many times the connection was lost (each reported once)."""
        return self._outages

    def _new_client(self, extra_timeout: float) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self._url,
            socket_timeout=self._timeout + extra_timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            single_connection_client=True,
        )

    async def client(self, *, extra_timeout: float = 0.0) -> aioredis.Redis:
        """The connected client, connecting first (as long as it takes) when there is none.

        Args:
            extra_timeout: seconds added to the socket timeout (for blocking reads).

        Raises:
            asyncio.CancelledError: when :meth:`close` was called meanwhile.
        """
        attempt = 0
        while self._client is None:
            if self._closed.is_set():
                raise asyncio.CancelledError
            attempt += 1
            client = self._new_client(extra_timeout)
            try:
                await client.ping()
                info: dict[str, Any] = await client.info("server")
            except (OSError, aioredis.RedisError) as exc:
                await _quiet_close(client)
                self.lost(exc)
                try:
                    await asyncio.wait_for(
                        self._closed.wait(), self._backoff.delay(attempt)
                    )
                except asyncio.TimeoutError:
                    pass
                continue
            except BaseException:  # cancelled while connecting: never leak the client
                await asyncio.shield(_quiet_close(client))
                raise
            self.version = _version(info)
            self._client = client
            downtime = 0.0 if self._lost_at is None else time.monotonic() - self._lost_at
            self._lost_at = None
            self._connects += 1
            self._on_connect(
                BusConnected(
                    url=self.masked_url,
                    attempt=attempt,
                    is_reconnect=self._connects > 1,
                    downtime=downtime,
                )
            )
        return self._client

    def lost(self, exc: BaseException) -> None:
        """The current client failed: drop it (the next :meth:`client` reconnects)."""
        client, self._client = self._client, None
        if client is not None:
            # Closing a broken client may itself fail or block: do it aside.
            task = asyncio.ensure_future(_quiet_close(client))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            self._outages += 1
            self._on_disconnect(
                BusDisconnected(url=self.masked_url, error=f"{type(exc).__name__}: {exc}")
            )

    def stop(self) -> None:
        """No more connecting: a :meth:`client` call waiting in a backoff ends (cancelled)."""
        self._closed.set()

    async def close(self) -> None:
        """Drop the client for good; a :meth:`client` call waiting in a backoff ends."""
        self._closed.set()
        client, self._client = self._client, None
        if client is not None:
            await _quiet_close(client)
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=self._timeout)


def _version(info: dict[str, Any]) -> tuple[int, int]:
    text = str(info.get("redis_version", "0.0"))
    major, _, rest = text.partition(".")
    minor = rest.partition(".")[0]
    return (int(major or 0), int(minor or 0))


async def _quiet_close(client: aioredis.Redis) -> None:
    # asyncio.wait, not wait_for: a close that ignores its cancellation must not
    # hold the caller.
    task = asyncio.ensure_future(client.aclose())
    done, _ = await asyncio.wait([task], timeout=1.0)
    if not done:
        task.cancel()
    elif not task.cancelled() and task.exception() is not None:
        pass  # a broken connection fails to close: nothing more to do
