"""Consumer: a feed published by :class:`RedisPublisher`, read back with the same decorators.

A :class:`Consumer` is an event emitter with :class:`wsevents.Connection`'s
handler rules (it is built on the same dispatcher): ``message:<channel>``
(and ``message``) for every message, in order per channel, one at a time, async
handlers awaited; the feed's lifecycle events (``connect``, ``disconnect``,
``gap``, ``queue_full``, ...) with their usual payloads, each delivered once and
in order with the messages of its stream; ``error`` when a handler raised or
something went wrong; and the consumer's own Redis connection as
``bus_connect`` / ``bus_disconnect``.

Two modes:

* ``group=None`` (fan-out): ``XREAD`` from ``start`` (``"$"``: what is
  published from now on; an entry id; ``"0"``: everything kept; a Unix time or
  an aware ``datetime``: from then on).  Every fan-out consumer sees everything.
* ``group="..."``: ``XREADGROUP``; the group's consumers share the entries.  An
  entry is acknowledged once the handlers of all its records returned (an
  entry is a publisher batch); a handler that raises is an ``error`` event and
  does not hold the entry back, as on a connection.  On start, a consumer
  first re-reads its own pending entries (a restart under the same
  ``consumer`` name resumes where it stopped), then new ones.  Every
  ``claim_after / 2`` seconds it looks for entries pending longer than
  ``claim_after`` (a dead or hung consumer's, or its own lost ones) and claims
  them; an entry delivered ``max_deliveries`` times without being acknowledged
  is moved to ``wsevents:<name>:_dead`` and reported as an ``error`` with a
  :class:`~wsevents.BusError`, never retried forever.

Delivery is at least once: a consumer that dies after its handlers ran but
before its acknowledgement reached Redis has those entries handled again by
the one that claims them; drop duplicates by the message's own sequence number
or key (the publisher's ``sequence=`` / ``dedup_key=``).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import socket
from collections import deque
from collections.abc import Iterable
from typing import Any, Final

import attrs
from redis.exceptions import RedisError, ResponseError

from ..backoff import Backoff, ExponentialBackoff
from ..events import GAP, MESSAGE_PREFIX
from ..exceptions import BusError, ConfigError
from ._adapter import Delivery
from ._encoding import EVENTS_STREAM, dead_letter_key, decode_lifecycle, loads, stream_key
from ._link import BusDisconnected, RedisLink, check_url


__all__ = ["Consumer", "ConsumerStats"]

logger = logging.getLogger("wsevents.bus")

#: lifecycle (run, p) pairs remembered to deliver each event once
_SEEN: Final = 65_536
_BUS_CONNECT: Final = "bus_connect"
_BUS_DISCONNECT: Final = "bus_disconnect"


@attrs.frozen(kw_only=True)
class ConsumerStats:
    """A snapshot of a consumer's counters (:attr:`Consumer.stats`).

    The names it shares with :class:`wsevents.Stats` mean the same for the
    consumer, so that :class:`wsevents.metrics.StatsCollector` exposes both
    alike; ``connects`` and ``disconnects`` are the consumer's own Redis
    connection's (the feed's connection is in its relayed events).
    """

    #: message records read from Redis (a claimed or re-read entry's again)
    messages_received: int
    #: messages handed to their handlers
    messages_delivered: int
    #: handlers that raised
    handler_errors: int
    #: entries that could not be decoded (each reported as an ``error``)
    decode_errors: int
    #: lifecycle records delivered before (another copy of an event), skipped
    duplicates_dropped: int
    #: the feed's ``gap`` events relayed
    gaps: int
    #: messages waiting for their handlers now
    queue_depth: int
    #: the most that waited at once
    queue_peak: int
    #: entries (publisher batches) read from Redis
    entries_read: int
    #: entries acknowledged to the group (0 in fan-out)
    entries_acked: int
    #: entries claimed from other consumers of the group (or taken back)
    entries_claimed: int
    #: entries moved to the dead-letter stream
    dead_letters: int
    #: connections to Redis made
    connects: int
    #: Redis outages (each also a ``bus_disconnect`` event)
    disconnects: int


class Consumer(Delivery):
    """Reads a feed from Redis Streams and emits it as events.

    Args:
        url: the Redis URL.
        name: the feed's name (the publisher's ``name``).
        channels: the channels to read; none: only the feed's lifecycle events.
        group: a consumer group name, or None for fan-out.
        consumer: this consumer's name in the group (default: host and pid);
            restarting with the same name resumes its pending entries.
        start: where a fan-out consumer (or a new group) starts: ``"$"`` (now),
            an entry id, ``"0"`` (everything), a Unix time or an aware datetime.
        claim_after: seconds an entry may stay pending before another consumer
            of the group claims it.
        max_deliveries: deliveries after which an unacknowledged entry goes to
            the dead-letter stream.
        queue_size: messages waiting for their handlers before reading pauses.
        count: entries asked for per read.
        block: the longest a read waits for new entries, in seconds.
        backoff: delays between Redis reconnect attempts.
        timeout: seconds before a Redis command counts as failed.

    Raises:
        ConfigError: a bad option (named).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        channels: Iterable[str] = (),
        group: str | None = None,
        consumer: str | None = None,
        start: str | float | _dt.datetime = "$",
        claim_after: float = 30.0,
        max_deliveries: int = 5,
        queue_size: int = 10_000,
        count: int = 100,
        block: float = 0.5,
        backoff: Backoff | None = None,
        timeout: float = 5.0,
    ) -> None:
        check_url(url)
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError("name", name, "must be a non-empty string without ':'")
        if isinstance(channels, str):
            raise ConfigError("channels", channels, "must be a list of channel names")
        chans = tuple(channels)
        if not all(isinstance(c, str) and c for c in chans):
            raise ConfigError("channels", channels, "must be non-empty strings")
        if group is not None and (not isinstance(group, str) or not group):
            raise ConfigError("group", group, "must be a non-empty string or None")
        for key, value in (("claim_after", claim_after), ("block", block), ("timeout", timeout)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(key, value, "must be a positive number of seconds")
        for key, value in (
            ("max_deliveries", max_deliveries),
            ("queue_size", queue_size),
            ("count", count),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(key, value, "must be a positive int")
        super().__init__(queue_size=queue_size)
        self.name = name
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._start_id = _start_id(start)
        self._claim_after = float(claim_after)
        self._max_deliveries = max_deliveries
        self._count = count
        self._block = float(block)
        keys = [stream_key(name, c) for c in chans] or [stream_key(name, EVENTS_STREAM)]
        #: stream key -> message event name (None for the lifecycle stream)
        self._names: dict[str, str | None] = {
            stream_key(name, c): MESSAGE_PREFIX + c for c in chans
        }
        self._names.setdefault(stream_key(name, EVENTS_STREAM), None)
        self._keys = keys
        #: fan-out: the last id read per stream; group: the own-backlog position or None
        self._positions: dict[str, str | None] = {}
        self._link = RedisLink(
            url,
            backoff=backoff or ExponentialBackoff(initial=0.1, maximum=5.0),
            timeout=float(timeout),
            on_connect=lambda e: self.put_lifecycle(_BUS_CONNECT, e),
            on_disconnect=self._bus_lost,
        )
        self._ready = asyncio.Event()
        self._seen: set[tuple[str, int]] = set()
        self._seen_order: deque[tuple[str, int]] = deque()
        self._acks: dict[str, list[str]] = {}
        self._in_flight: set[tuple[str, str]] = set()
        #: channel -> id of the last entry whose records were all handled
        self.last_ids: dict[str, str] = {}
        self._next_claim = 0.0
        self._reader: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._fatal: Exception | None = None
        self._closing = False
        #: entries moved to the dead-letter stream by this consumer
        self.dead_letters = 0
        #: entries this consumer claimed from others (or took back from itself)
        self.claimed = 0
        self._entries_read = 0
        self._records_read = 0
        self._malformed = 0
        self._duplicates = 0
        self._gaps = 0
        self._acked = 0

    @property
    def stats(self) -> ConsumerStats:
        """A snapshot of the counters (read it as often as you like: nothing is
        counted on the per-message path but what a read brings)."""
        return ConsumerStats(
            messages_received=self._records_read,
            messages_delivered=self.delivered,
            handler_errors=self.handler_errors,
            decode_errors=self._malformed,
            duplicates_dropped=self._duplicates,
            gaps=self._gaps,
            queue_depth=self.queue_depth,
            queue_peak=self.queue_peak,
            entries_read=self._entries_read,
            entries_acked=self._acked,
            entries_claimed=self.claimed,
            dead_letters=self.dead_letters,
            connects=self._link.connects,
            disconnects=self._link.outages,
        )

    @property
    def connected(self) -> bool:
        """True while the consumer holds a connection to Redis."""
        return self._link.connected

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Read and deliver until :meth:`close` is called.

        Raises:
            Exception: an unexpected failure of the reader (after an ``error`` event).
        """
        self.start()
        await self._stopped.wait()
        if self._fatal is not None:
            raise self._fatal

    def start(self) -> None:
        """Start reading and delivering in the background (``run()`` without waiting)."""
        if self._reader is None and not self._stopped.is_set():
            self.start_delivery()
            self._reader = asyncio.get_running_loop().create_task(
                self._read_forever(), name=f"wsevents-bus-consumer-{self.name}"
            )
            self._reader.add_done_callback(self._reader_done)

    def _reader_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        # A bug's safety net (Redis failures and bad entries are handled in the loop):
        # nothing a test can provoke without breaking the code on purpose.
        self._reader_failed(task)

    def _reader_failed(self, task: asyncio.Task[None]) -> None:  # pragma: no cover
        exc = task.exception()
        assert isinstance(exc, Exception)
        logger.error("bus consumer: the reader failed", exc_info=exc)
        self._fatal = exc
        self.report_error(exc)
        self._stopped.set()

    async def wait_ready(self) -> None:
        """Return once the consumer is reading: its groups exist and ``start`` was
        resolved (what is published from now on reaches it, even with ``start="$"``).

        Bound it with ``asyncio.timeout()``: it waits as long as Redis is down.
        """
        self.start()
        await self._ready.wait()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop reading, let the handlers finish what was read (within ``timeout``),
        acknowledge it, and close the Redis connection."""
        reader, self._reader = self._reader, None
        if reader is not None:
            # Cooperative first: a redis-py command cancelled mid-read can leave the
            # task waiting forever (seen with redis-py 8 on Python 3.11); the read
            # ends within ``block`` seconds by itself.
            self._closing = True
            self._link.stop()
            await asyncio.wait([reader], timeout=self._block + 0.5)
            if not reader.done():
                reader.cancel()
                await asyncio.wait([reader], timeout=timeout)
        await self.stop_delivery(timeout)
        if self.group is not None and self._acks and self._link.connected:
            try:
                client = await self._link.client()
                await asyncio.wait_for(self._flush_acks(client), timeout)
            except (OSError, RedisError, asyncio.TimeoutError) as exc:
                logger.warning("bus consumer: acknowledgements not sent at close: %r", exc)
        await self._link.close()
        self._stopped.set()

    async def __aenter__(self) -> Consumer:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- reading -----------------------------------------------------------------------

    async def _read_forever(self) -> None:
        loop = asyncio.get_running_loop()
        found: Any
        while not self._stopping():
            try:
                client = await self._link.client(extra_timeout=self._block)
                if not self._ready.is_set():
                    await self._setup(client)
                    self._ready.set()
                if self.group is None:
                    streams: dict[Any, Any] = dict(self._positions)
                    found = await client.xread(
                        streams, count=self._count, block=int(self._block * 1000)
                    )
                else:
                    backlog = any(v is not None for v in self._positions.values())
                    if not backlog and loop.time() >= self._next_claim:
                        # (after the own backlog: a claimed entry is in it too)
                        self._next_claim = loop.time() + self._claim_after / 2
                        await self._flush_acks(client)  # (what was handled: not claimed)
                        await self._claim(client)
                    streams = {k: (v or ">") for k, v in self._positions.items()}
                    found = await self._flush_acks(client, streams)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    self._link.lost(exc)
                    continue
                # The group (or the stream) is gone: a Redis restarted without
                # persistence, or deleted by hand.  Not an outage: the connection
                # is fine; the group is created again on it.
                logger.warning("consumer group %s of %s is gone: created again", self.group,
                               self.name)
                self._ready.clear()
                continue
            except (OSError, RedisError) as exc:
                self._link.lost(exc)
                continue
            if self._stopping():  # close() was called during the read
                return  # what was just read stays pending: claimed or re-read later
            for key, entries in _pairs(found):
                key = key.decode() if isinstance(key, bytes) else key
                if self.group is None:
                    if entries:
                        self._positions[key] = _text(entries[-1][0])
                elif self._positions.get(key) is not None:
                    # Re-reading our own pending entries: "0" ... until none is left.
                    if not entries:
                        self._positions[key] = None
                    else:
                        self._positions[key] = _text(entries[-1][0])
                for entry_id, fields in entries:
                    await self._deliver(key, _text(entry_id), fields)

    def _stopping(self) -> bool:
        return self._closing

    async def _setup(self, client: Any) -> None:
        for key in self._keys:
            if self.group is None:
                self._positions[key] = await self._resolve(client, key)
                continue
            try:
                await client.xgroup_create(key, self.group, id=self._start_id, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._positions[key] = "0"

    async def _resolve(self, client: Any, key: str) -> str:
        if self._start_id != "$":
            return self._start_id
        top = await client.xrevrange(key, count=1)
        return _text(top[0][0]) if top else "0-0"

    async def _deliver(self, key: str, entry_id: str, fields: dict[bytes, bytes] | None) -> None:
        self._entries_read += 1
        if fields is None:  # pragma: no cover - trimmed while pending (Redis < 7 only)
            self._acks.setdefault(key, []).append(entry_id)
            return
        try:
            run = _text(fields[b"r"])
            records = loads(fields[b"d"])
            if not isinstance(records, list) or not all(
                isinstance(r, list)
                and len(r) >= 3
                and isinstance(r[0], int)
                and (len(r) != 4 or isinstance(r[3], str))
                for r in records
            ):
                raise ValueError("not a list of records")
        except (KeyError, ValueError, TypeError) as exc:
            self._malformed += 1
            self.report_error(BusError(f"malformed entry {entry_id} in {key}: {exc!r}"))
            self._entry_done(key, entry_id)
            return
        name = self._names.get(key)
        if self.group is not None:
            self._in_flight.add((key, entry_id))
        messages: list[Any] = []
        events = 0
        for record in records:
            if len(record) != 4:
                messages.append(record[2])
                continue
            events += 1
            mark = (run, record[0])
            if mark in self._seen:
                self._duplicates += 1
                continue
            self._remember(mark)
            if record[3] == GAP:
                self._gaps += 1
            if messages and name is not None:
                await self.put_messages(name, messages)
            messages = []
            self.put_lifecycle(record[3], decode_lifecycle(record[3], record[2]))
        if messages and name is not None:
            await self.put_messages(name, messages)
        self._records_read += len(records) - events
        self.put_call(lambda: self._entry_done(key, entry_id))

    def _remember(self, mark: tuple[str, int]) -> None:
        self._seen.add(mark)
        self._seen_order.append(mark)
        if len(self._seen_order) > _SEEN:
            self._seen.discard(self._seen_order.popleft())

    def _entry_done(self, key: str, entry_id: str) -> None:
        """All records of an entry were handled: acknowledge it (with the next read)."""
        name = self._names.get(key)
        self.last_ids[name[len(MESSAGE_PREFIX) :] if name else EVENTS_STREAM] = entry_id
        if self.group is not None:
            self._in_flight.discard((key, entry_id))
            self._acks.setdefault(key, []).append(entry_id)

    async def _flush_acks(self, client: Any, read: dict[Any, Any] | None = None) -> Any:
        """Send the acknowledgements due and, given ``read`` (streams to read), an
        ``XREADGROUP`` behind them: one round trip.  Returns what the read found."""
        acks, self._acks = self._acks, {}
        group, block = self.group, int(self._block * 1000)
        try:
            if not acks:
                if read is None:
                    return None
                return await client.xreadgroup(
                    group, self.consumer, read, count=self._count, block=block
                )
            pipe = client.pipeline(transaction=False)
            for key, ids in acks.items():
                pipe.xack(key, group, *ids)
            if read is not None:
                pipe.xreadgroup(group, self.consumer, read, count=self._count, block=block)
            results = await pipe.execute()
            self._acked += sum(map(len, acks.values()))
        except BaseException:
            for key, ids in acks.items():  # sent again after the reconnect
                self._acks.setdefault(key, [])[:0] = ids
            raise
        return results[-1] if read is not None else None

    async def _claim(self, client: Any) -> None:
        """Claim entries pending for longer than claim_after; dead-letter the hopeless ones."""
        idle_ms = int(self._claim_after * 1000)
        for key in self._keys:
            # IDLE (Redis 6.2+) lets the server skip busy entries; older servers are
            # filtered here, from the first 100.
            idle = {"idle": idle_ms} if self._link.version >= (6, 2) else {}
            pending = await client.xpending_range(key, self.group, "-", "+", 100, **idle)
            claim = []
            for item in pending:
                entry_id = _text(item["message_id"])
                if item["time_since_delivered"] < idle_ms or (key, entry_id) in self._in_flight:
                    continue
                if item["times_delivered"] >= self._max_deliveries:
                    await self._dead_letter(client, key, entry_id, item)
                else:
                    claim.append(entry_id)
            if claim:
                claimed = await client.xclaim(key, self.group, self.consumer, idle_ms, claim)
                self.claimed += len(claimed)
                for entry_id, fields in claimed:
                    await self._deliver(key, _text(entry_id), fields)

    async def _dead_letter(self, client: Any, key: str, entry_id: str, item: Any) -> None:
        found = await client.xrange(key, entry_id, entry_id)
        fields = dict(found[0][1]) if found else {}
        fields.update(
            {
                b"stream": key,
                b"id": entry_id,
                b"group": self.group or "",
                b"consumer": _text(item["consumer"]),
                b"deliveries": str(item["times_delivered"]),
            }
        )
        pipe = client.pipeline(transaction=True)
        pipe.xadd(dead_letter_key(self.name), fields)
        pipe.xack(key, self.group, entry_id)
        await pipe.execute()
        self.dead_letters += 1
        why = (
            f"entry {entry_id} of {key} was delivered {item['times_delivered']} times"
            f" without an acknowledgement: moved to {dead_letter_key(self.name)}"
        )
        self.report_error(BusError(why))

    def _bus_lost(self, event: BusDisconnected) -> None:
        self.put_lifecycle(_BUS_DISCONNECT, event)


def _start_id(start: object) -> str:
    if isinstance(start, _dt.datetime):
        if start.tzinfo is None:
            raise ConfigError("start", start, "a datetime must be timezone-aware")
        start = start.timestamp()
    if isinstance(start, bool):
        raise ConfigError("start", start, 'must be "$", an entry id, a Unix time or a datetime')
    if isinstance(start, (int, float)):
        ms = int(start * 1000)
        return f"{ms - 1}-18446744073709551615" if ms > 0 else "0-0"
    if isinstance(start, str) and (start == "$" or _is_id(start)):
        return start
    raise ConfigError("start", start, 'must be "$", an entry id, a Unix time or a datetime')


def _is_id(text: str) -> bool:
    ms, _, n = text.partition("-")
    return ms.isdigit() and (n == "" or n.isdigit())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(found: Any) -> list[tuple[Any, Any]]:
    if not found:
        return []
    if isinstance(found, dict):  # RESP3
        return [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in found.items()]
    return [(k, v) for k, v in found]



