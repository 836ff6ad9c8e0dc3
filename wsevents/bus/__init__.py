"""Beyond one machine: a feed published into Redis Streams and consumed anywhere.

Needs the extra ``wsevents[redis]`` (redis-py with hiredis); importing this
package is what loads it, ``import wsevents`` never does.

* :class:`RedisPublisher` follows a connection and writes every message and
  lifecycle event into ``wsevents:<name>:<channel>`` streams, in pipelined
  batches, within a bounded buffer when Redis is slow or down.
* :class:`Consumer` reads them back as events, with the decorators and
  handler rules of :class:`wsevents.Connection`, alone (fan-out) or in a
  consumer group (shared, acknowledged, claimed, dead-lettered).

The layout of streams and entries is described in ``wsevents.bus._encoding``.
"""

from __future__ import annotations

from ..exceptions import BusError
from ._link import BusConnected, BusDisconnected
from .consumer import Consumer, ConsumerStats
from .publisher import PublisherStats, RedisPublisher


__all__ = [
    "BusConnected",
    "BusDisconnected",
    "BusError",
    "Consumer",
    "ConsumerStats",
    "PublisherStats",
    "RedisPublisher",
]
