"""RedisPublisher: every event a connection delivers, written to Redis Streams.

The publisher follows a connection, a pool, or any emitter with their event
surface (duck-typed: through ``add_observer``, else through ``on``) with one
observer callback.  The callback never waits for Redis: it appends a record
to a bounded buffer and returns.  A writer task takes everything buffered, makes
one entry per stream of it (see :mod:`wsevents.bus._encoding`) and writes them
as one pipeline, without waiting for the replies of the pipelines before it
(:mod:`wsevents.bus._pipe`; at most ``IN_FLIGHT`` pipelines and
``FLUSH_RECORDS`` records unanswered): a record is on its way to Redis one
loop turn after it arrived, and under load batches grow with the backlog.

Exactly once into Redis: every entry's id is chosen by the publisher before its
first attempt (``<ms>-<n>``, increasing per stream) and kept across retries.  A
retry of an entry Redis already holds fails with "ID equal or smaller", which
means "already written": an entry is never written twice, even when Redis died
between applying a batch and answering it.

When Redis is slow or down, records wait in the buffer (``buffer`` messages at
most; lifecycle records are never dropped and not counted).  Past the bound the
``overflow`` mode applies, as in a connection's delivery queue:

* ``"block"``: the observer returns an awaitable that waits for room, so the
  connection's dispatcher waits (delivery is backpressured; the connection's
  reader is not, within its own queue);
* ``"drop_oldest"`` / ``"drop_newest"``: the message is dropped, counted and
  reported: a ``queue_full`` event (a :class:`~wsevents.QueueFull`) on the
  publisher *and* written into the streams, so consumers learn what they lost,
  and an ``error`` event with a :class:`~wsevents.BusError`.

The publisher's own events (a pyee emitter): ``bus_connect`` /
``bus_disconnect`` (:class:`BusConnected` / :class:`BusDisconnected`),
``queue_full`` and ``error``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Final

import attrs
from pyee.base import EventEmitter
from redis.exceptions import RedisError, ResponseError

from .._config import Overflow, check_overflow
from ..backoff import Backoff, ExponentialBackoff
from ..events import MESSAGE, MESSAGE_PREFIX, QUEUE_FULL, QueueFull
from ..exceptions import BusError, ConfigError
from ._encoding import (
    EVENTS_STREAM,
    LIFECYCLE,
    PER_CHANNEL,
    channel_of,
    dumps,
    encode_lifecycle,
    stream_key,
)
from ._link import BusConnected, BusDisconnected, RedisLink, check_url
from ._pipe import Pipe


__all__ = ["PublisherStats", "RedisPublisher"]

logger = logging.getLogger("wsevents.bus")

#: the most records in one stream entry
ENTRY_RECORDS: Final = 1000
#: the most records taken from the buffer and not yet written
FLUSH_RECORDS: Final = 20_000
#: the most pipelines sent whose replies did not all arrive
IN_FLIGHT: Final = 8
#: seconds between two ``queue_full`` reports while the buffer overflows
REPORT_INTERVAL: Final = 1.0
#: the channel of messages that no protocol routed (event ``message``)
UNROUTED: Final = "_message"
_SMALLER: Final = "equal or smaller"
_now = time.time


#: (stream key, entry id, encoded records, records)
_Entry = tuple[str, str, bytes, list[list[Any]]]


@attrs.frozen(kw_only=True)
class PublisherStats:
    """A snapshot of a publisher's counters."""

    #: message records written to Redis
    published: int
    #: entries (batches) written to Redis
    entries: int
    #: pipelined round trips that succeeded
    flushes: int
    #: messages dropped (buffer overflow, or refused by Redis)
    dropped: int
    #: records waiting in the buffer or in the batch being written
    pending: int
    #: Redis failures seen
    errors: int


class RedisPublisher(EventEmitter):
    """Publishes a feed into Redis Streams.

    Args:
        url: the Redis URL (``redis://``, ``rediss://``, ``unix://``).
        name: the feed's name: streams are ``wsevents:<name>:<channel>``.
        maxlen: trim each stream to about this many entries (``MAXLEN ~``).
        max_age: trim entries older than this many seconds (``MINID ~``; Redis 6.2+).
        buffer: the most messages waiting for Redis.
        overflow: what to do past ``buffer``: ``"block"``, ``"drop_oldest"``,
            ``"drop_newest"``; None takes the attached source's public
            ``overflow`` when it has one, else ``"drop_oldest"``.
        backoff: delays between Redis reconnect attempts.
        timeout: seconds before a Redis command counts as failed.
        sequence: ``message -> int | None``, stored with each message.
        dedup_key: ``message -> hashable``, stored (as text) with each message.

    Raises:
        ConfigError: a bad option (named).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        maxlen: int | None = None,
        max_age: float | None = None,
        buffer: int = 100_000,
        overflow: Overflow | None = None,
        backoff: Backoff | None = None,
        timeout: float = 5.0,
        sequence: Callable[[Any], int | None] | None = None,
        dedup_key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        super().__init__()
        check_url(url)
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError("name", name, "must be a non-empty string without ':'")
        if maxlen is not None and (not isinstance(maxlen, int) or maxlen < 1):
            raise ConfigError("maxlen", maxlen, "must be a positive int or None")
        if max_age is not None and (not isinstance(max_age, (int, float)) or max_age <= 0):
            raise ConfigError("max_age", max_age, "must be a positive number of seconds or None")
        if maxlen is not None and max_age is not None:
            raise ConfigError("max_age", max_age, "Redis trims by length or by age, not both")
        if not isinstance(buffer, int) or buffer < 1:
            raise ConfigError("buffer", buffer, "must be a positive int")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError("timeout", timeout, "must be a positive number of seconds")
        for key, fn in (("sequence", sequence), ("dedup_key", dedup_key)):
            if fn is not None and not callable(fn):
                raise ConfigError(key, fn, "must be a callable or None")
        self.name = name
        self._maxlen = maxlen
        self._max_age = max_age
        self._bound = buffer
        self._overflow: Overflow | None = None if overflow is None else check_overflow(overflow)
        self._sequence = sequence
        self._dedup_key = dedup_key
        self._extra = sequence is not None or dedup_key is not None
        self._link = RedisLink(
            url,
            backoff=backoff or ExponentialBackoff(initial=0.1, maximum=5.0),
            timeout=float(timeout),
            on_connect=self._bus_connected,
            on_disconnect=self._bus_disconnected,
        )
        self._run = secrets.token_hex(8)
        self._events_key = stream_key(name, EVENTS_STREAM)
        #: channel -> stream key, for every channel seen or subscribed
        self._keys: dict[str, str] = {}
        #: message event name -> stream key
        self._streams: dict[str, str] = {}
        self._sources: list[Any] = []
        #: id(source) -> (event name, listener) of a source followed through on()
        self._listeners: dict[int, list[tuple[str, Callable[[Any], Any]]]] = {}
        #: (stream key, record) waiting for the writer
        self._buffer: deque[tuple[str, list[Any]]] = deque()
        self._messages = 0  # message records in the buffer
        self._p = 0  # the global publish sequence number
        self._last_ids: dict[str, tuple[int, int]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self._idle: asyncio.Future[None] | None = None
        #: records taken from the buffer, not yet written (or refused)
        self._in_flight = 0
        self._pipe: Pipe[list[_Entry]] = Pipe(self._replied, self._poke)
        #: entries refused as "equal or smaller" by a stream ahead of this clock
        self._again: list[_Entry] = []
        self._closing = False
        self._dropped_unreported = 0
        self._last_dropped: str | None = None
        self._last_report = -REPORT_INTERVAL
        self._published = self._entries = self._flushes = self._dropped = self._errors = 0

    # -- public API --------------------------------------------------------------------

    def attach(self, source: Any, *, channels: Iterable[str] | None = None) -> None:
        """Publish what ``source`` delivers: any event emitter with the event surface
        of a ``Connection`` (a ``Connection``, a ``Pool``, ...), duck-typed.

        A source with ``add_observer()`` is followed through it: every event of
        every channel, in delivery order.  Any other emitter is followed through
        its ``on()``: its lifecycle events and ``message:<channel>`` for each of
        ``channels`` (default: its ``subscriptions``); messages of channels not
        named there are not published, and ``overflow="block"`` holds delivery
        back only where the source awaits what its handlers return (as a
        ``Connection`` does).

        Args:
            source: the emitter to follow.
            channels: the channels of a source followed through ``on()`` (a
                source with ``add_observer()`` needs none: this only names the
                streams that its feed-wide events are written to).

        Raises:
            TypeError: ``source`` has neither ``add_observer()`` nor ``on()``.
            ConfigError: ``channels`` is not a list of channel names, or a source
                followed through ``on()`` has no channel to follow.
        """
        if isinstance(channels, str):
            raise ConfigError("channels", channels, "must be a list of channel names")
        named = tuple(channels or ())
        if not all(isinstance(c, str) and c for c in named):
            raise ConfigError("channels", channels, "must be non-empty strings")
        add = getattr(source, "add_observer", None)
        on: Any = getattr(source, "on", None)
        if not callable(add) and not callable(on):
            raise TypeError(f"cannot attach to {source!r}: it has neither add_observer() nor on()")
        subscribed = tuple(getattr(source, "subscriptions", ()) or ())
        if not callable(add) and not (named or subscribed):
            raise ConfigError(
                "channels", channels,
                "a source without add_observer() is followed through on(): name its channels",
            )
        if self._overflow is None:
            mode = getattr(source, "overflow", None)
            self._overflow = check_overflow(mode) if mode is not None else "drop_oldest"
        for channel in (*subscribed, *named):
            self._key(channel)
        if callable(add):
            add(self._observe)
        else:
            listeners: list[tuple[str, Callable[[Any], Any]]] = [
                (name, functools.partial(self._observe, name))
                for name in (*LIFECYCLE, *(MESSAGE_PREFIX + c for c in (named or subscribed)))
            ]
            for name, listener in listeners:
                on(name, listener)
            self._listeners[id(source)] = listeners
        self._sources.append(source)

    def detach(self, source: Any) -> None:
        """Stop publishing what ``source`` delivers."""
        if source in self._sources:
            self._sources.remove(source)
            listeners = self._listeners.pop(id(source), None)
            if listeners is not None:
                for name, listener in listeners:
                    source.remove_listener(name, listener)
                return
            remove = getattr(source, "remove_observer", None)
            if callable(remove):
                remove(self._observe)

    @property
    def overflow(self) -> Overflow:
        """The overflow mode in force."""
        return self._overflow or "drop_oldest"

    @property
    def stats(self) -> PublisherStats:
        """A snapshot of the counters."""
        return PublisherStats(
            published=self._published,
            entries=self._entries,
            flushes=self._flushes,
            dropped=self._dropped,
            pending=len(self._buffer) + self._in_flight,
            errors=self._errors,
        )

    async def start(self) -> None:
        """Start the writer now (it also starts with the first event)."""
        self._start()

    async def flush(self) -> None:
        """Return once everything handed to the publisher so far is in Redis (or dropped).

        Bound it with ``asyncio.timeout()``: it waits as long as Redis is down.
        """
        while self._buffer or self._in_flight:
            self._start()
            if self._idle is None or self._idle.done():
                self._idle = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._idle)

    async def close(self, timeout: float = 5.0) -> None:
        """Detach, write what is buffered (for at most ``timeout`` seconds), and stop."""
        for source in list(self._sources):
            self.detach(source)
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except asyncio.TimeoutError:
            logger.warning("bus publisher closed with %d records unwritten", self.stats.pending)
        self._closing = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.wait([writer], timeout=self._link.timeout)
        await self._pipe.abandon()
        # The cancel cancelled the writer's wake-up future: an event still on
        # its way from the source must not try to set it.
        self._wake = None
        await self._link.close()
        self._release(self._room)

    async def __aenter__(self) -> RedisPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the observer: never waits for Redis -------------------------------------------

    def _key(self, channel: str) -> str:
        key = self._keys.get(channel)
        if key is None:
            key = self._keys[channel] = stream_key(self.name, channel)
        return key

    def _observe(self, name: str, payload: Any) -> asyncio.Future[None] | None:
        key = self._streams.get(name)
        if key is None:
            if name.startswith(MESSAGE_PREFIX):
                key = self._streams[name] = self._key(name[8:])
            elif name == MESSAGE:
                key = self._streams[name] = self._key(UNROUTED)
            else:
                if name in LIFECYCLE:
                    self._lifecycle(name, payload)
                return None
        if self._writer is None:
            self._start()
        self._p = p = self._p + 1
        record = [p, _now(), payload]
        if self._extra:
            record += self._extras(payload)
        wake = self._wake
        if wake is not None and not wake.done():  # (done: the writer was cancelled)
            self._wake = None
            wake.set_result(None)
        if self._messages < self._bound:
            self._buffer.append((key, record))
            self._messages += 1
            return None
        return self._full(channel_of(self.name, key), key, record)

    def _extras(self, payload: Any) -> list[Any]:
        seq = key = None
        try:
            if self._sequence is not None:
                seq = self._sequence(payload)
            if self._dedup_key is not None:
                key = str(self._dedup_key(payload))
        except Exception as exc:  # noqa: BLE001 - a user function failed: an error event
            self._emit_error(BusError(f"sequence/dedup_key function failed: {exc!r}"))
        return [seq, key]

    def _full(self, channel: str, key: str, record: list[Any]) -> asyncio.Future[None] | None:
        self._last_dropped = channel
        if self.overflow == "block":
            # Taken, and the dispatcher waits for room before the next message.
            self._buffer.append((key, record))
            self._messages += 1
            if self._dropped_unreported == 0 and self._report_due():
                self._report(0)
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            return self._room
        if self.overflow == "drop_oldest":
            buffer = self._buffer
            kept = []
            while buffer:
                item = buffer.popleft()
                if len(item[1]) == 4:  # a lifecycle record: never dropped
                    kept.append(item)
                    continue
                break
            buffer.extendleft(reversed(kept))
            buffer.append((key, record))
        self._dropped += 1
        self._dropped_unreported += 1
        if self._report_due():
            self._report(self._dropped_unreported)
        return None

    def _report_due(self) -> bool:
        return time.monotonic() - self._last_report >= REPORT_INTERVAL

    def _report(self, dropped: int) -> None:
        """Report an overflow: locally, and into the streams, in order."""
        self._last_report = time.monotonic()
        self._dropped_unreported = 0
        report = QueueFull(
            channel=self._last_dropped,
            size=self._bound,
            dropped=dropped,
            overflow=self.overflow,
            total_dropped=self._dropped,
        )
        self._lifecycle(QUEUE_FULL, report)
        self._emit(QUEUE_FULL, report)
        if dropped:
            why = f"publisher buffer full ({self._bound} messages): {dropped} dropped"
            self._emit_error(BusError(why))

    def _lifecycle(self, name: str, payload: Any) -> None:
        """Queue lifecycle event ``name`` into ``_events`` and the streams it concerns."""
        self._p = p = self._p + 1
        record = [p, time.time(), encode_lifecycle(payload), name]
        if name in PER_CHANNEL:
            keys = [self._key(payload.channel)]
        else:
            for source in self._sources:
                for channel in getattr(source, "subscriptions", ()) or ():
                    self._key(channel)
            keys = list(self._keys.values())
        buffer = self._buffer
        buffer.append((self._events_key, record))
        for key in keys:
            buffer.append((key, record))
        self._start()
        wake = self._wake
        if wake is not None and not wake.done():  # (done: the writer was cancelled)
            self._wake = None
            wake.set_result(None)

    # -- the writer --------------------------------------------------------------------

    def _start(self) -> None:
        if self._writer is None and not self._closing:
            self._writer = asyncio.get_running_loop().create_task(
                self._write_forever(), name=f"wsevents-bus-publisher-{self.name}"
            )

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        await self._link.client()  # connected before the first records need it
        pipe = self._pipe
        while True:
            if pipe.broken is not None:
                await self._recover()
                continue
            if self._again and not pipe.depth:
                again, self._again = self._again, []
                await self._write(again)  # after the streams' tops (no pipeline in flight)
                continue
            room = FLUSH_RECORDS - self._in_flight
            if not self._buffer or room <= 0 or pipe.depth >= IN_FLIGHT or self._again:
                if not self._buffer and not self._in_flight:
                    self._release(self._idle)
                self._wake = loop.create_future()
                await self._wake
                continue
            if self._dropped_unreported:
                self._report(self._dropped_unreported)
            entries = self._encode(self._take(room))
            if entries:
                client = await self._link.client()
                trim = self._trim_words()
                run = self._run
                commands = [("XADD", key, *trim, eid, "r", run, "d", data)
                            for key, eid, data, _ in entries]
                await pipe.send(client, entries, commands)

    def _poke(self) -> None:
        """Wake the writer (a reply arrived, or the pipe failed)."""
        wake = self._wake
        if wake is not None and not wake.done():
            self._wake = None
            wake.set_result(None)

    def _replied(self, entries: list[_Entry], results: list[Any]) -> None:
        """The replies of a pipeline the pipe sent."""
        self._flushes += 1
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, ResponseError):
                if _SMALLER in str(result):
                    # The stream is ahead of this clock: written again after its top.
                    self._again.append(entry)
                    continue
                self._refused(entry[0], entry[3], result)
                continue
            self._written(entry[3])

    async def _recover(self) -> None:
        """The pipe failed: write what it held again (synchronously, through the backoff)."""
        exc = self._pipe.broken
        assert exc is not None
        abandoned = await self._pipe.abandon()
        self._failed(exc)
        # What was in flight first: there "equal or smaller" means "written before the
        # failure".  Then the entries a stream ahead of this clock refused (after its
        # top, so after the former: not lost, though out of order in that rare case).
        await self._write([entry for entries in abandoned for entry in entries], retry=True)
        again, self._again = self._again, []
        await self._write(again)

    def _take(self, limit: int) -> list[tuple[str, str, list[list[Any]]]]:
        """Up to ``limit`` records from the buffer, as (key, entry id, records)."""
        buffer = self._buffer
        grouped: dict[str, list[list[Any]]] = {}
        taken = messages = 0
        popleft = buffer.popleft
        last: str | None = None
        records: list[list[Any]] = []
        while buffer and taken < limit:
            key, record = popleft()
            if key is not last:  # (runs of one channel: one lookup per run)
                last = key
                found = grouped.get(key)
                if found is None:
                    found = grouped[key] = []
                records = found
            records.append(record)
            taken += 1
            if len(record) != 4:
                messages += 1
        self._messages -= messages
        self._in_flight += taken
        if self._messages < self._bound:
            self._release(self._room)
        now = int(time.time() * 1000)
        batch = []
        for key, records in grouped.items():
            for start in range(0, len(records), ENTRY_RECORDS):
                batch.append((key, self._next_id(key, now), records[start : start + ENTRY_RECORDS]))
        return batch

    def _next_id(self, key: str, now: int) -> str:
        ms, n = self._last_ids.get(key, (0, -1))
        if now > ms:
            ms, n = now, 0
        else:
            n += 1
        self._last_ids[key] = (ms, n)
        return f"{ms}-{n}"

    def _encode(self, batch: list[tuple[str, str, list[list[Any]]]]) -> list[_Entry]:
        """Each entry's records as one JSON array; one that cannot be is refused."""
        encoded = []
        for key, eid, records in batch:
            try:
                encoded.append((key, eid, dumps(records), records))
            except (TypeError, ValueError, OverflowError) as exc:
                self._refused(key, records, exc)
        return encoded

    async def _write(self, encoded: list[_Entry], *, retry: bool = False) -> None:
        """Write ``encoded`` in one pipeline and wait for it, retrying through the
        backoff until Redis takes it (``retry``: an earlier attempt may have
        written some of it already)."""
        fields_run = self._run
        while encoded:
            client = await self._link.client()
            trim = self._trim_args()
            pipe = client.pipeline(transaction=False)
            for key, eid, data, _ in encoded:
                pipe.xadd(key, {"r": fields_run, "d": data}, id=eid, **trim)
            try:
                results = await pipe.execute(raise_on_error=False)
            except (OSError, RedisError) as exc:
                self._failed(exc)
                retry = True
                continue
            self._flushes += 1
            again = []
            for (key, _eid, data, records), result in zip(encoded, results, strict=True):
                if isinstance(result, ResponseError):
                    if _SMALLER in str(result):
                        if retry:
                            self._written(records)  # written by the attempt that failed
                            continue
                        # The stream is ahead of this clock: continue after its top.
                        again.append((key, await self._after_top(client, key), data, records))
                        continue
                    self._refused(key, records, result)
                    continue
                self._written(records)
            encoded = again

    def _trim_args(self) -> dict[str, Any]:
        if self._maxlen is not None:
            return {"maxlen": self._maxlen, "approximate": True}
        if self._max_age is not None:
            if self._link.version < (6, 2):
                return {}
            return {"minid": int((time.time() - self._max_age) * 1000), "approximate": True}
        return {}

    def _trim_words(self) -> tuple[Any, ...]:
        args = self._trim_args()
        if "maxlen" in args:
            return ("MAXLEN", "~", args["maxlen"])
        if "minid" in args:
            return ("MINID", "~", args["minid"])
        return ()

    async def _after_top(self, client: Any, key: str) -> str:
        top = await client.xrevrange(key, count=1)
        if top:
            ms, _, n = top[0][0].decode().partition("-")
            self._last_ids[key] = (int(ms), int(n))
        return self._next_id(key, int(time.time() * 1000))

    def _written(self, records: list[list[Any]]) -> None:
        self._in_flight -= len(records)
        self._entries += 1
        self._published += sum(1 for record in records if len(record) != 4)

    def _refused(self, key: str, records: list[list[Any]], error: Exception) -> None:
        self._in_flight -= len(records)
        lost = sum(1 for record in records if len(record) != 4)
        self._dropped += lost
        self._errors += 1
        why = f"an entry of {key} could not be written ({lost} messages lost): {error}"
        err = BusError(why)
        err.__cause__ = error
        self._emit_error(err)
        if lost:
            self._report(lost)

    def _failed(self, exc: BaseException) -> None:
        self._errors += 1
        self._link.lost(exc)

    def _release(self, future: asyncio.Future[None] | None) -> None:
        if future is not None and not future.done():
            future.set_result(None)

    # -- events ------------------------------------------------------------------------

    def _bus_connected(self, event: BusConnected) -> None:
        if self._max_age is not None and self._link.version < (6, 2):
            self._emit_error(BusError("max_age needs Redis 6.2+ (MINID): streams are not trimmed"))
        self._emit("bus_connect", event)

    def _bus_disconnected(self, event: BusDisconnected) -> None:
        self._emit("bus_disconnect", event)
        self._emit_error(BusError(f"lost Redis at {event.url}: {event.error}"))

    def _emit(self, name: str, payload: Any) -> None:
        try:
            self.emit(name, payload)
        except Exception:
            logger.exception("a %r handler of the bus publisher raised", name)

    def _emit_error(self, exc: BusError) -> None:
        if not self.listeners("error"):
            logger.error("bus publisher: %s", exc)
            return
        self._emit("error", exc)

