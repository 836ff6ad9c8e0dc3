"""How a feed is laid out in Redis Streams: stream keys and entry encoding.

Streams
    ``wsevents:<name>:<channel>`` holds one channel's messages;
    ``wsevents:<name>:_events`` every lifecycle event of the feed;
    ``wsevents:<name>:_dead`` the dead letters of every consumer group.

Entries
    One stream entry carries a *batch*: every record the publisher had for
    that stream when it flushed, encoded once as one JSON array (with orjson
    when it is installed).  One ``XADD`` per message costs about three times
    the whole receive path in client CPU; one ``XADD`` per batch is what keeps
    publishing within the budget.  Fields:

    * ``r``: the publisher's run id (random, one per publisher object);
    * ``d``: the records, ``[[p, t, payload], ...]`` for messages and
      ``[p, t, payload, name]`` for lifecycle events, where ``p`` is the
      publisher's global publish sequence number (one counter for every
      record of every stream, in delivery order), ``t`` the receive time (Unix
      seconds) and, when the publisher was given ``sequence=`` or
      ``dedup_key=``, two more items ``seq`` and ``key`` on message records.

    A record is addressed as ``<entry id>/<index>``: the entry id is what a
    consumer group acknowledges (the whole batch, once every record of it was
    handled) and what a replay starts from.

Lifecycle events travel in order with the messages they concern: the
publisher writes each one into ``_events`` *and* into every channel stream it
concerns (a ``gap`` into its channel's stream, a feed-wide event such as
``disconnect`` into every channel stream of the feed), at its place among the
records.  A consumer reading several channel streams meets the same event
several times and delivers it once, the first time, by ``(r, p)``: so a
``disconnect`` reaches a consumer before the first message received after it,
whichever channel that message is on.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any, Final

import attrs

from ..events import (
    CLOSED,
    CONNECT,
    DISCONNECT,
    GAP,
    HANDOVER,
    QUEUE_FULL,
    RECONNECTING,
    Closed,
    Connected,
    Disconnected,
    DisconnectReason,
    Gap,
    Handover,
    QueueFull,
    Reconnecting,
)


__all__ = [
    "EVENTS_STREAM",
    "LIFECYCLE",
    "channel_of",
    "dead_letter_key",
    "decode_lifecycle",
    "dumps",
    "encode_lifecycle",
    "loads",
    "stream_key",
]

#: the stream of lifecycle events, after ``wsevents:<name>:``
EVENTS_STREAM: Final = "_events"
#: the lifecycle events a publisher forwards, and their payload classes
LIFECYCLE: Final[dict[str, type]] = {
    CONNECT: Connected,
    DISCONNECT: Disconnected,
    RECONNECTING: Reconnecting,
    GAP: Gap,
    HANDOVER: Handover,
    QUEUE_FULL: QueueFull,
    CLOSED: Closed,
}
#: lifecycle events that concern one channel (the payload's ``channel``)
PER_CHANNEL: Final = frozenset({GAP})

def _default(value: Any) -> Any:
    """What JSON cannot encode natively: attrs instances as dicts, the rest as text."""
    if attrs.has(type(value)):
        return encode_lifecycle(value)
    return str(value)


dumps: Callable[[Any], bytes]
loads: Callable[[bytes | str], Any]
try:  # pragma: no cover - depends on what is installed
    import orjson

    def dumps(value: Any) -> bytes:
        encoded: bytes = orjson.dumps(value, default=_default)
        return encoded

    loads = orjson.loads
except ImportError:  # pragma: no cover - depends on what is installed
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)

    def dumps(value: Any) -> bytes:
        return _encoder.encode(value).encode()

    loads = json.loads


def stream_key(name: str, channel: str) -> str:
    """The stream of ``channel`` of feed ``name``."""
    return f"wsevents:{name}:{channel}"


def dead_letter_key(name: str) -> str:
    """The dead-letter stream of feed ``name``."""
    return f"wsevents:{name}:_dead"


def channel_of(name: str, key: str) -> str:
    """The channel of stream ``key`` of feed ``name``."""
    return key[len(name) + 10 :]


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseException):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def encode_lifecycle(payload: Any) -> Any:
    """A lifecycle payload as plain JSON values (exceptions become their repr)."""
    if attrs.has(type(payload)):
        return {f.name: _plain(getattr(payload, f.name)) for f in attrs.fields(type(payload))}
    return _plain(payload)


def decode_lifecycle(name: str, data: Any) -> Any:
    """The payload object of lifecycle event ``name`` from :func:`encode_lifecycle`'s output.

    Exceptions come back as their repr (a ``str``); an unknown event name or a
    malformed payload comes back as the plain data.  Fields the class does not
    have (a newer publisher's, or a source's own payload subclass') are left
    out: the handler still gets the class it expects.
    """
    cls = LIFECYCLE.get(name)
    if cls is None or not isinstance(data, dict):
        return data
    known = {f.name for f in attrs.fields(cls)}
    values = {k: v for k, v in data.items() if k in known}
    if "reason" in values and cls in (Disconnected, Reconnecting):
        values["reason"] = DisconnectReason(values["reason"])
    try:
        return cls(**values)
    except (TypeError, ValueError):
        return data
