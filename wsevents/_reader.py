"""The reader: the one step every received frame goes through (L3).

A :class:`Reader` belongs to one ``Connection`` and outlives its transport
connections (sequence numbers are followed across reconnects).  Every frame,
whichever way it arrives, takes the same step, and is decoded once:

* frames that ``recv()`` returns (the websockets transport; on picows the
  frames its callback declined and those it never offers);
* frames that a transport hands over from its own frame callback
  (:meth:`Reader.receive`, picows), delivered there and then when the
  dispatcher is idle;
* the messages a handover collected on its new connection before the switch
  (:meth:`Reader.feed`, already decoded).

The step: count, decode (a bad frame is an ``error`` event), route
(``message:<channel>``), track sequence numbers and handover duplicates, and
offer to delivery.  When delivery cannot take the message at once (a full
queue) or the frame needs an answer (protocol traffic), the asynchronous part
(:meth:`Reader.run`) finishes it: the overflow mode is decided by
:meth:`Dispatcher.put <wsevents._delivery.Dispatcher.put>`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol as _TypingProtocol

from ._delivery import Dispatcher
from ._handover import Handover
from ._lane import Lane
from ._stats import Counters
from ._tracking import SequenceTracker
from ._transport import TransportConnection
from .events import GAP, MESSAGE, MESSAGE_PREFIX
from .exceptions import FrameError
from .routing import CONSUMED, Protocol


__all__ = ["Reader"]

#: an item the asynchronous part finishes: (event name, message), the name None
#: for protocol traffic to answer
_Item = tuple["str | None", Any]
Replier = Callable[[TransportConnection, Any], Awaitable[None]]
#: a channel's gate while a pool moves the channel between shards:
#: ``(channel, message, sequence number) -> deliver now``
ChannelGate = Callable[["str | None", Any, "int | None"], bool]


class Step(_TypingProtocol):
    """The per-frame step (see :meth:`Reader._make_step`)."""

    def __call__(self, frame: str | bytes, inline: bool = True) -> _Item | None: ...
_NO_CHANNEL: Final = None


class Reader:
    """Decodes, routes, tracks, counts and offers every frame of one connection.

    Args:
        protocol: decodes frames into ``(channel, message)``.
        dispatcher: where messages, gaps and errors go.
        counters: the connection's counters (received, decode errors, gaps,
            duplicates).
        tracker: sequence numbers to follow, or None.
        reply: sends the protocol's answer to a consumed frame.
    """

    __slots__ = (
        "_counters",
        "_dispatcher",
        "_gates",
        "_handover",
        "_held",
        "_names",
        "_protocol",
        "_reply",
        "_tracker",
        "_tracking",
        "_watched",
        "on_handover_wanted",
        "step",
        "take",
    )

    def __init__(
        self,
        protocol: Protocol,
        dispatcher: Dispatcher | Lane,
        counters: Counters,
        *,
        tracker: SequenceTracker | None,
        reply: Replier,
    ) -> None:
        self._protocol = protocol
        self._dispatcher = dispatcher
        self._counters = counters
        self._tracker = tracker
        self._reply = reply
        self._handover: Handover | None = None
        #: the channels a pool is moving to or from this reader's shard, and their gates
        self._gates: dict[str | None, ChannelGate] | None = None
        #: True when the step must call _admit (sequences, a handover or a move running)
        self._tracking = tracker is not None
        #: a frame the transport callback declined, already decoded: the next
        #: frame ``recv()`` returns is that frame
        self._held: _Item | None = None
        #: channels whose messages may ask for a handover (never memoised)
        self._watched: frozenset[str | None] = protocol.handover_channels
        #: called when such a message does
        self.on_handover_wanted: Callable[[], object] | None = None
        #: takes protocol traffic that needs no answer at once (a request's reply):
        #: True when it did; the rest goes to the asynchronous part
        self.take: Callable[[Any], bool] | None = None
        #: channel -> event name ("message:<channel>"), memoised
        self._names: dict[str | None, str] = (
            {} if _NO_CHANNEL in self._watched else {_NO_CHANNEL: MESSAGE}
        )
        #: ``step(frame, inline=True)``: the per-frame step.  As a transport's frame
        #: callback (inline): None when it took the frame, else the frame is left to
        #: ``recv()`` and :meth:`run` finishes it without decoding it again
        self.step = self._make_step()

    @property
    def last_sequences(self) -> dict[str, int]:
        """The last sequence number delivered per channel (empty when untracked)."""
        return {} if self._tracker is None else dict(self._tracker.last)

    # -- the step ----------------------------------------------------------------------

    def _make_step(self) -> Step:
        """The per-frame step: a closure, whose locals are cheaper than attributes
        (one closure for both callers, so an idle connection keeps one set of cells).

        ``step(frame, inline=True)`` is what a transport's frame callback calls: it
        may deliver at once (:meth:`Dispatcher.deliver_now`), and a frame it
        cannot finish is held, decoded, for :meth:`run` (it then returns that
        item, meaning "not taken").  :meth:`run` calls ``step(frame, False)``.
        """
        decode = self._protocol.decode
        names = self._names
        counters = self._counters
        dispatcher = self._dispatcher
        offer = dispatcher.offer
        deliver_now = dispatcher.deliver_now

        def step(frame: str | bytes, inline: bool = True) -> _Item | None:
            """One frame: None when it is done, or what the asynchronous part finishes."""
            counters.messages_received += 1
            try:
                channel, message = decode(frame)
            except Exception as exc:  # noqa: BLE001 - a bad frame is an error event
                self._bad_frame(exc, frame)
                return None
            name = names.get(channel)
            if name is None:
                name = self._name_for(channel, message)
                if name is None:
                    take = self.take
                    if take is not None and take(message):
                        return None  # a reply or a heartbeat's answer, taken here
                    return self._hold((None, message)) if inline else (None, message)
            if self._tracking and not self._admit(channel, message):
                return None
            if inline:
                if deliver_now(name, message) or offer(name, message):
                    return None
                dispatcher.blocked(name)  # a full queue: say so at once
                return self._hold((name, message))
            if offer(name, message):
                return None
            return (name, message)

        return step

    def _hold(self, item: _Item) -> _Item:
        """Keep a frame the callback cannot finish for :meth:`run` (decoded once)."""
        self._held = item
        return item

    def decode(self, frame: str | bytes) -> tuple[str | None, str | None, Any] | None:
        """Count and decode one frame without delivering it (a handover's new
        connection): ``(channel, event name, message)``, the name None for protocol
        traffic to answer; None for a bad frame (reported)."""
        self._counters.messages_received += 1
        try:
            channel, message = self._protocol.decode(frame)
        except Exception as exc:  # noqa: BLE001 - a bad frame is an error event
            self._bad_frame(exc, frame)
            return None
        return (channel, self._names.get(channel) or self._name_for(channel, message), message)

    async def feed(self, channel: str | None, name: str, message: Any) -> None:
        """Deliver a message decoded earlier (a handover's buffer), as the step would."""
        if self._tracking and not self._admit(channel, message):
            return
        await self._dispatcher.put(name, message)

    def _name_for(self, channel: str | None, message: Any) -> str | None:
        """The event name of a channel (memoised), or None for a consumed frame.

        The channels of :attr:`Protocol.handover_channels
        <wsevents.Protocol.handover_channels>` are not memoised: each of their
        messages comes here, where :meth:`~wsevents.Protocol.wants_handover` is
        asked (the other channels' messages never pay for it).
        """
        if channel == CONSUMED:
            return None
        name = MESSAGE if channel is None else MESSAGE_PREFIX + channel
        if channel in self._watched:
            if self.on_handover_wanted is not None and self._protocol.wants_handover(message):
                self.on_handover_wanted()
        else:
            self._names[channel] = name
        return name

    def _bad_frame(self, exc: Exception, frame: str | bytes) -> None:
        self._counters.decode_errors += 1
        if not isinstance(exc, FrameError):
            error = FrameError(f"the protocol could not decode a frame ({exc!r})", frame)
            error.__cause__ = exc
            exc = error
        self._dispatcher.report_error(exc)

    # -- sequences and handover duplicates -----------------------------------------------

    def begin_handover(self, handover: Handover) -> None:
        """A handover runs: its duplicates are checked from now on."""
        self._handover = handover
        self._tracking = True

    def end_handover(self, handover: Handover) -> None:
        """That handover is over (resolved, failed or cancelled)."""
        if self._handover is handover:
            self._handover = None
            self._retrack()

    def set_gate(self, channel: str, gate: ChannelGate) -> None:
        """A pool moves ``channel``: its messages pass ``gate`` first (False: not delivered)."""
        if self._gates is None:
            self._gates = {}
        self._gates[channel] = gate
        self._tracking = True

    def clear_gate(self, channel: str, gate: ChannelGate) -> None:
        """The move of ``channel`` is over (a newer move's gate stays)."""
        gates = self._gates
        if gates is not None and gates.get(channel) == gate:
            del gates[channel]
            if not gates:
                self._gates = None
            self._retrack()

    def _retrack(self) -> None:
        self._tracking = (
            self._tracker is not None or self._handover is not None or self._gates is not None
        )

    def sequence_of(self, channel: str) -> int | None:
        """The last sequence number delivered on ``channel`` (None: none, or untracked)."""
        return None if self._tracker is None else self._tracker.last.get(channel)

    def adopt_sequence(self, channel: str, seq: int | None) -> None:
        """Continue ``channel``'s numbering from another shard's (a pool's move)."""
        if self._tracker is not None and seq is not None:
            self._tracker.last[channel] = seq

    async def feed_moved(self, channel: str, message: Any, seq: int | None) -> None:
        """Deliver a message a move held back, past the gate (sequences still checked)."""
        if self._sequenced(channel, seq):
            name = self._names.get(channel) or self._name_for(channel, message)
            assert name is not None
            await self._dispatcher.put(name, message)

    def _admit(self, channel: str | None, message: Any) -> bool:
        """Whether to deliver ``message``: sequence, handover and move checks."""
        seq: int | None = None
        tracker = self._tracker
        if tracker is not None:
            try:
                seq = tracker.number(channel, message)
            except Exception as exc:  # noqa: BLE001 - user code: report, deliver anyway
                error = FrameError(f"sequence function failed: {exc!r}")
                error.__cause__ = exc
                self._dispatcher.report_error(error)
        handover = self._handover
        if handover is not None and not handover.admit(channel, message, seq, tracker):
            self._counters.duplicates_dropped += 1
            return False
        gates = self._gates
        if gates is not None:
            gate = gates.get(channel)
            if gate is not None and not gate(channel, message, seq):
                return False
        return self._sequenced(channel, seq)

    def _sequenced(self, channel: str | None, seq: int | None) -> bool:
        tracker = self._tracker
        if seq is not None and tracker is not None:
            deliver, gap = tracker.check(channel, seq)
            if gap is not None:
                self._counters.gaps += 1
                self._dispatcher.offer_lifecycle(GAP, gap)
            if not deliver:
                self._counters.duplicates_dropped += 1
                return False
        return True

    # -- the asynchronous part -----------------------------------------------------------

    async def run(self, ws: TransportConnection) -> BaseException:
        """Read ``ws`` until it closes; returns the ``ws.closed_error`` that ended it."""
        recv = ws.recv
        step = self.step
        finish = self._finish
        try:
            if not ws.set_receiver(step):
                while True:
                    item = step(await recv(), False)
                    if item is not None:
                        await finish(ws, item)
            handled = ws.handled
            while True:
                frame = await recv()
                held = self._held
                if held is None:
                    item = step(frame, False)
                    if item is not None:
                        await finish(ws, item)
                else:
                    self._held = None
                    await finish(ws, held)
                handled()
        except ws.closed_error as exc:
            return exc
        finally:
            ws.set_receiver(None)
            self._held = None

    async def _finish(self, ws: TransportConnection, item: _Item) -> None:
        name, message = item
        if name is None:
            await self._reply(ws, message)
        else:
            await self._dispatcher.put(name, message)
