"""Sequence tracking and handover de-duplication (layer L1: pure, no I/O).

:class:`SequenceTracker` follows one sequence number per channel across every
connection of a ``Connection``: a number that skips ahead is a gap (reported,
then delivered); a number already seen is a repeat or a step back (reported,
never delivered twice).

:class:`Overlap` is the bookkeeping of one make-before-break handover: the old
connection records what it delivered while the new one was opening; the new
connection's first messages are dropped while they are among those, and the
switch happens at the first message that is not.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeAlias

from .events import Gap
from .exceptions import ConfigError


__all__ = ["Overlap", "SequenceFn", "SequenceTracker", "check_sequence_option"]

#: Returns a message's sequence number, or None when it carries none.
SequenceFn: TypeAlias = Callable[[Any], "int | None"]
SequenceOption: TypeAlias = "SequenceFn | Mapping[str, SequenceFn] | None"


def check_sequence_option(value: object) -> SequenceOption:
    """``sequence=``: a callable, a mapping of channel to callable, or None."""
    if value is None or callable(value):
        return value
    if isinstance(value, Mapping):
        for channel, fn in value.items():
            if not isinstance(channel, str) or not callable(fn):
                raise ConfigError(
                    "sequence", value, f"entry {channel!r} must map a channel to a callable"
                )
        return value
    why = "must be a callable, a mapping channel -> callable, or None"
    raise ConfigError("sequence", value, why)


class SequenceTracker:
    """Follows the last sequence number of each channel.

    Args:
        sequence: ``message -> int | None`` for every channel, or a mapping of
            channel names to such callables (channels not in it are not tracked).
    """

    def __init__(self, sequence: SequenceFn | Mapping[str, SequenceFn]) -> None:
        self._all: SequenceFn | None = None if isinstance(sequence, Mapping) else sequence
        self._per_channel: Mapping[str, SequenceFn] = (
            sequence if isinstance(sequence, Mapping) else {}
        )
        #: last sequence number delivered, per channel
        self.last: dict[str, int] = {}

    def number(self, channel: str | None, message: Any) -> int | None:
        """The sequence number of ``message`` (None if untracked).

        Raises:
            Exception: whatever the user's callable raised.
        """
        fn = self._per_channel.get(channel) if channel is not None else None
        if fn is None:
            fn = self._all
        if fn is None:
            return None
        value = fn(message)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"sequence function returned {value!r}, not an int or None")
        return value

    def check(self, channel: str | None, seq: int) -> tuple[bool, Gap | None]:
        """Whether to deliver a message numbered ``seq``, and the gap it reveals.

        Returns:
            ``(deliver, gap)``: ``gap`` is None for the expected next number.
        """
        key = channel or ""
        last = self.last.get(key)
        if last is None or seq == last + 1:
            self.last[key] = seq
            return True, None
        if seq > last + 1:
            self.last[key] = seq
            return True, Gap(
                channel=key, expected=last + 1, received=seq, missing=seq - last - 1
            )
        # A repeat or a step back: reported, never delivered twice.
        return False, Gap(channel=key, expected=last + 1, received=seq, missing=0)

    def is_old(self, channel: str | None, seq: int) -> bool:
        """True when ``seq`` was already delivered on ``channel``."""
        last = self.last.get(channel or "")
        return last is not None and seq <= last


class Overlap:
    """De-duplication across one handover.

    Args:
        key: ``message -> hashable`` identifying a message (trade id, ...);
            None compares whole decoded messages.
    """

    __slots__ = ("_key", "duplicates", "seen", "switched")

    def __init__(self, key: Callable[[Any], Hashable] | None) -> None:
        self._key = key
        #: identities of messages delivered from the old connection during the overlap
        self.seen: set[Hashable] | list[Any] = set() if key is not None else []
        #: messages of the new connection dropped as duplicates
        self.duplicates = 0
        #: True once the new connection delivered its first new message
        self.switched = False

    def record(self, message: Any) -> None:
        """The old connection delivered ``message``."""
        if self._key is not None:
            assert isinstance(self.seen, set)
            self.seen.add(self._key(message))
        else:
            assert isinstance(self.seen, list)
            self.seen.append(message)

    def is_duplicate(self, message: Any) -> bool:
        """For a message of the new connection: was it already delivered from the old?

        Both connections carry the same stream in the same order, so after the
        first message that is new, no later one can be a duplicate.
        """
        if self.switched:
            return False
        if self._key is not None:
            duplicate = self._key(message) in self.seen
        else:
            duplicate = message in self.seen
        if duplicate:
            self.duplicates += 1
        else:
            self.switched = True
            self.seen = set()
        return duplicate
