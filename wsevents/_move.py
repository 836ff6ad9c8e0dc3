"""Moving channels between a pool's shards, make-before-break (L3).

A :class:`Move` takes channels from a *source* shard to a *target* shard
without a gap and without delivering a message twice:

1. both shards' readers get a gate for each moving channel; the source keeps
   delivering and records what it delivered; the target subscribes, and its
   messages on those channels are held;
2. a channel *switches* once the two copies of its stream overlap: the target
   holds a message the source delivered (by sequence number, ``dedup_key``,
   or equality), or ``timeout`` passed.  The source's later messages on it
   are dropped from then on; the held messages the source did not deliver
   are delivered, in order, and the target's gate opens (when the source was
   ahead, the target's late copies of what it delivered are dropped up to the
   first new message);
3. the source unsubscribes the switched channels; the gates go once the
   source's late messages had time to arrive.

Both copies of a channel carry the same stream in the same order, so
everything after the last message the source delivered comes from the
target, once: with ``sequence=`` the numbers say so exactly (and a real gap
is still a ``gap`` event); otherwise the identity is the ``dedup_key``, or the
decoded message itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from ._reader import Reader
from ._signal import Signal
from ._stats import Counters


__all__ = ["Move"]


class _Track:
    """One channel's move."""

    __slots__ = ("held", "held_keys", "last_seq", "open", "seen", "switched", "witnessed")

    def __init__(self) -> None:
        #: identities of the messages the source delivered during the move
        self.seen: set[Hashable] = set()
        #: the last sequence number the source delivered (with ``sequence=``)
        self.last_seq: int | None = None
        #: the target's messages, held: (message, identity, sequence number)
        self.held: list[tuple[Any, Hashable, int | None]] = []
        self.held_keys: set[Hashable] = set()
        #: the copies overlap: switching now loses nothing
        self.witnessed = False
        #: the source's messages are dropped from now on
        self.switched = False
        #: the target delivers directly
        self.open = False


class Move:
    """The move of ``channels`` from one shard's reader to another's.

    Args:
        channels: the channels to move.
        source: the reader of the shard they leave.
        target: the reader of the shard they join.
        source_counters: the source shard's counters (its late duplicates).
        target_counters: the target shard's counters (its early duplicates).
        dedup_key: ``message -> hashable`` identifying a message, or None.
        report: where the errors of the user's ``dedup_key`` go.
    """

    __slots__ = (
        "_changed",
        "_dedup_key",
        "_report",
        "_source",
        "_source_counters",
        "_target",
        "_target_counters",
        "_tracks",
        "duplicates",
    )

    def __init__(
        self,
        channels: list[str],
        *,
        source: Reader,
        target: Reader,
        source_counters: Counters,
        target_counters: Counters,
        dedup_key: Callable[[Any], Hashable] | None,
        report: Callable[[Exception], None],
    ) -> None:
        self._tracks = {channel: _Track() for channel in channels}
        self._source = source
        self._target = target
        self._source_counters = source_counters
        self._target_counters = target_counters
        self._dedup_key = dedup_key
        self._report = report
        self._changed = Signal()
        #: messages received on both shards and delivered once
        self.duplicates = 0
        for channel in channels:
            source.set_gate(channel, self._from_source)
            target.set_gate(channel, self._from_target)

    @property
    def channels(self) -> list[str]:
        """The channels this move takes."""
        return list(self._tracks)

    def _key(self, message: Any, seq: int | None) -> Hashable:
        if seq is not None:
            return seq
        if self._dedup_key is not None:
            try:
                return self._dedup_key(message)
            except Exception as exc:  # noqa: BLE001 - the user's dedup_key
                self._report(exc)
        return repr(message)

    # -- the gates (called from the readers' step) ---------------------------------------

    def _from_source(self, channel: str | None, message: Any, seq: int | None) -> bool:
        track = self._tracks[channel]  # type: ignore[index]
        if track.switched:
            self._source_counters.duplicates_dropped += 1
            self.duplicates += 1
            return False
        key = self._key(message, seq)
        track.seen.add(key)
        if seq is not None:
            track.last_seq = seq
        if not track.witnessed and (key in track.held_keys or self._contiguous(track)):
            track.witnessed = True
            self._changed.set()
        return True

    def _from_target(self, channel: str | None, message: Any, seq: int | None) -> bool:
        track = self._tracks[channel]  # type: ignore[index]
        if track.open:
            if not track.seen:
                return True
            # Switched while the source was ahead: the target's copies of what the
            # source delivered are dropped, up to the first message that is new.
            if self._key(message, seq) in track.seen:
                self._drop_early(1)
                return False
            track.seen = set()
            return True
        key = self._key(message, seq)
        track.held.append((message, key, seq))
        track.held_keys.add(key)
        if not track.witnessed and (key in track.seen or self._contiguous(track)):
            track.witnessed = True
            self._changed.set()
        return False

    @staticmethod
    def _contiguous(track: _Track) -> bool:
        """With sequence numbers: the target's first held number follows the source's."""
        if track.last_seq is None or not track.held:
            return False
        first = track.held[0][2]
        return first is not None and first <= track.last_seq + 1

    # -- the switch ------------------------------------------------------------------------

    async def run(
        self,
        subscribe: Callable[[list[str]], Awaitable[None]],
        timeout: float,
        clock: Callable[[], float],
    ) -> list[str]:
        """Subscribe the target, switch every channel (at its overlap, or at
        ``timeout``), and return the channels switched, in order."""
        await subscribe(self.channels)
        deadline = clock() + timeout
        switched: list[str] = []
        while len(switched) < len(self._tracks):
            for channel, track in self._tracks.items():
                if not track.switched and (track.witnessed or clock() >= deadline):
                    await self._switch(channel, track)
                    switched.append(channel)
            if len(switched) == len(self._tracks):
                break
            self._changed.clear()
            left = deadline - clock()
            if left > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except (TimeoutError, asyncio.TimeoutError):
                    pass
        return switched

    async def _switch(self, channel: str, track: _Track) -> None:
        """The source stops here; the target delivers what the source did not."""
        track.switched = True
        self._target.adopt_sequence(channel, track.last_seq)
        # The source delivered a prefix of the stream: skip the held messages up to
        # the last one it delivered, deliver the rest.
        start = 0
        for index, (_message, key, _seq) in enumerate(track.held):
            if key in track.seen:
                start = index + 1
        self._drop_early(start)
        delivered = False
        while start < len(track.held):
            message, _key, seq = track.held[start]
            start += 1
            if seq is not None and track.last_seq is not None and seq <= track.last_seq:
                self._drop_early(1)
                continue
            delivered = True
            await self._target.feed_moved(channel, message, seq)
        # No await since the last held message was taken: the gate opens in order.
        track.open = True
        track.held = []
        track.held_keys = set()
        if delivered:
            track.seen = set()

    def _drop_early(self, count: int) -> None:
        self._target_counters.duplicates_dropped += count
        self.duplicates += count

    def close(self) -> None:
        """The move is over: both readers forget its gates."""
        for channel in self._tracks:
            self._source.clear_gate(channel, self._from_source)
            self._target.clear_gate(channel, self._from_target)
