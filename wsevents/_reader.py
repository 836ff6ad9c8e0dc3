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

import asyncio
import collections
import contextvars
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol as _TypingProtocol

from ._delivery import Dispatcher
from ._emitter import Emitter
from ._handover import Handover
from ._lane import Lane
from ._latency import StampLog, Timing
from ._options import Observe
from ._stats import Counters, ReceiveTime
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
#: the timed step takes latency samples from the first :data:`SAMPLES_PER_READ`
#: frames of a transport read (a turn of the event loop), of reads at least this
#: far apart (nanoseconds): every message of a feed whose reads come less often
#: than every 20 µs and carry few messages
SAMPLE_EVERY_NS: Final = 20_000
SAMPLES_PER_READ: Final = 4


def _end_of_turn(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
) -> Callable[[], object]:
    """What schedules ``callback`` to run once, at the loop's next turn.

    Once per transport read: ``loop.call_soon`` makes a ``Handle`` each time
    (about 0.35 µs, as much as the rest of a sparse feed's per-read work), so on
    asyncio's own loops one handle, made once, is appended to the loop's ready
    queue, as ``call_soon`` appends its new one (no context copied either).
    Other loops (uvloop) get ``call_soon``.
    """
    ready = getattr(loop, "_ready", None)
    if isinstance(ready, collections.deque) and isinstance(loop, asyncio.BaseEventLoop):
        return functools.partial(
            ready.append, asyncio.Handle(callback, (), loop, contextvars.Context())
        )
    return functools.partial(  # pragma: no cover - uvloop (not a test dependency)
        loop.call_soon, callback, context=contextvars.Context()
    )


def _no_log(value: int) -> None:  # pragma: no cover - never called (no log, no append)
    pass


def _no_stamp(message: Any) -> None:
    return None


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
        "_conn_id",
        "_counters",
        "_decoded",
        "_dispatcher",
        "_gates",
        "_handover",
        "_held",
        "_inline_stamp",
        "_log",
        "_names",
        "_next_conn",
        "_older",
        "_protocol",
        "_recorder",
        "_reply",
        "_timing",
        "_tracker",
        "_tracking",
        "_watched",
        "_ws",
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
        #: the transport connection being read (its ping round trip is in stats)
        self._ws: TransportConnection | None = None
        counters.ping_rtt_source = self._ping_rtt
        #: receive times and latency samples, and what ``receive_time`` reads (observe())
        self._timing: Timing | None = None
        self._log: StampLog | None = None
        #: the stamps before the last time the queue was found empty
        self._older: StampLog | None = None
        #: the stamp of the message the timed step delivers in the transport's
        #: callback (None for any other message)
        self._inline_stamp: Callable[[Any], int | None] = _no_stamp
        #: the receive times of the messages decode() read (a handover's new
        #: connection), by id
        self._decoded: dict[int, int] = {}
        self._recorder: Any = None
        #: the transport connections read so far (the recorder's connection ids)
        self._conn_id = 0
        #: the recorder's number for the connection being opened (0: none yet)
        self._next_conn = 0

    @property
    def last_sequences(self) -> dict[str, int]:
        """The last sequence number delivered per channel (empty when untracked)."""
        return {} if self._tracker is None else dict(self._tracker.last)

    # -- observing (timestamps, latency, recording) ---------------------------------------

    def observe(self, observe: Observe | None, emitter: Emitter) -> None:
        """Turn on what ``observe`` asks for, before the first connection: the timed
        step replaces the plain one (which is left as it is when all is off)."""
        if observe is None:
            return
        self._timing = self._counters.timing = Timing(time.time_ns() - time.monotonic_ns())
        if observe.timestamps:
            # The step keeps the ids of the messages it stamps (ints only: no
            # reference to the message); receive_time() looks a message up while
            # it is alive.
            self._log = StampLog()
        if observe.record is not None:
            from .record import Recorder

            recorder = observe.record
            if not callable(getattr(recorder, "frame", None)):
                recorder = Recorder(recorder, close_with_connection=True)
            self._recorder = recorder
            emitter.add_observer(recorder.event)
        self.step = self._make_timed_step(observe.event_time)

    def receive_time(self, message: Any) -> ReceiveTime | None:
        """The receive time of ``message``, one this reader delivered (None: unknown)."""
        timing = self._timing
        if self._log is None or timing is None:
            return None
        found = self._inline_stamp(message)
        if found is None:
            key = id(message)
            found = self._decoded.get(key)
            for log in (self._log, self._older):
                if found is None and log is not None:
                    found = log.find(key)
        return None if found is None else timing.receive_time(found)

    def _ping_rtt(self) -> float | None:
        ws = self._ws
        return None if ws is None else getattr(ws, "ping_rtt", None)

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

    def _make_timed_step(self, event_time: Callable[[Any], Any] | None) -> Step:
        """:meth:`_make_step` with a receive time: every frame is stamped and
        recorded when a recorder is on; each delivered message leaves its stamp
        for :meth:`receive_time` and, with an event time, a latency sample is
        taken (its window's ``append``; the arithmetic is done when ``stats`` is
        read).

        One clock read per turn of the event loop, not per frame: the frames
        stepped in the same turn came from the same transport read (picows'
        callback, or the frames websockets parsed from it, which ``recv()``
        returns without waiting) and share its ``time.monotonic_ns()``; a
        frame numbered n (``messages_received``) is stamped + n ns past the
        turn's first (unique, increasing stamps; no counter of its own).  The
        first frame of a turn does the per-read work (``turn``): it schedules
        the end of the turn (:func:`_end_of_turn`), reads the clock, forgets old
        stamps, and makes the turn's first :data:`SAMPLES_PER_READ` messages
        latency samples (of reads at least :data:`SAMPLE_EVERY_NS` apart).

        A message delivered in the transport's callback is remembered in cells
        (:meth:`receive_time` compares identities) until the next one; a queued
        one leaves its id and stamp in the :class:`~wsevents._latency.StampLog`
        (two appends).  The step
        itself refers to few variables: a closure's call copies every one.
        """
        decode = self._protocol.decode
        names = self._names
        counters = self._counters
        dispatcher = self._dispatcher
        offer = dispatcher.offer
        deliver_now = dispatcher.deliver_now
        monotonic_ns = time.monotonic_ns
        get_running_loop = asyncio.get_running_loop
        timing = self._timing
        assert timing is not None
        windows: dict[str | None, Callable[[tuple[Any, int]], None]] = {}
        keep = self._log is not None
        log_append: Callable[[int], None] = _no_log
        if self._log is not None:
            log_append = self._log.entries.append
        # stamps are forgotten when the queue is found empty, or past this bound
        most = 2 * (4 * dispatcher.queue_size + 4096)  # two entries per message
        next_sample = 0
        samples_left = 0  # the latency samples still to take from this read
        #: this turn's stamp minus its first frame's number (frame n: offset + n),
        #: and whether the next frame starts a turn
        offset = 0
        fresh = True
        #: the message delivered in the transport's callback: its number, its turn's
        #: offset
        current: Any = None
        current_n = 0
        current_offset = 0

        def turn_over() -> None:
            nonlocal fresh
            fresh = True

        #: the loop the turns are counted on, and what schedules a turn's end there
        loop: asyncio.AbstractEventLoop | None = None
        end_of_turn: Callable[[], object] = turn_over

        def turn(n: int) -> None:
            """The first frame of a turn (numbered ``n``): the per-read work."""
            nonlocal fresh, offset, next_sample, samples_left, log_append, loop, end_of_turn
            fresh = False
            running = get_running_loop()
            if running is not loop:
                loop, end_of_turn = running, _end_of_turn(running, turn_over)
            end_of_turn()
            now = monotonic_ns()
            floor = offset + n  # one past the last stamp given
            if now < floor:
                now = floor
            offset = now - n
            log = self._log
            if log is not None and len(log.entries) > 128:  # 64 messages
                if not dispatcher.depth:
                    # Every message of the reads before this one was delivered, or
                    # is in a handler now (then nothing is read until it is done,
                    # or its stamp is kept one turn more): forget them.
                    self._older = log
                    log = self._log = StampLog()
                elif len(log.entries) > most:
                    log = self._log = StampLog()  # a queue that never empties
                log_append = log.entries.append
            if event_time is not None and now >= next_sample:
                next_sample = now + SAMPLE_EVERY_NS
                samples_left = SAMPLES_PER_READ

        def sample(channel: str | None, message: Any) -> None:
            assert event_time is not None
            try:
                event = event_time(message)
            except Exception:  # noqa: BLE001 - no event time: no sample
                return
            append = windows.get(channel)
            if append is None:
                append = windows[channel] = timing.window(channel).append
            append((event, offset + counters.messages_received))

        def inline_stamp(message: Any) -> int | None:
            return current_offset + current_n if message is current else None

        self._inline_stamp = inline_stamp
        tap: Callable[[str | bytes], None] | None = None
        if self._recorder is not None:
            record = self._record_frame

            def tap(frame: str | bytes) -> None:
                record(frame, offset + counters.messages_received)

        def step(frame: str | bytes, inline: bool = True) -> _Item | None:
            """One frame: None when it is done, or what the asynchronous part finishes."""
            nonlocal samples_left, current, current_n, current_offset
            n = counters.messages_received + 1
            counters.messages_received = n
            if fresh:
                turn(n)
            if tap is not None:
                tap(frame)
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
            if samples_left:
                samples_left -= 1
                sample(channel, message)
            if inline:
                if keep:
                    current = message  # for the handlers deliver_now runs
                    current_n = n
                    current_offset = offset
                if deliver_now(name, message):
                    return None
                if keep:
                    log_append(id(message))  # queued: found by id while alive
                    log_append(offset + n)
                if offer(name, message):
                    return None
                self._dispatcher.blocked(name)  # a full queue: say so at once
                return self._hold((name, message))
            if keep:
                log_append(id(message))  # queued: found by id while alive
                log_append(offset + n)
            if offer(name, message):
                return None
            return (name, message)

        return step

    def _record_frame(self, frame: str | bytes, now: int) -> None:
        timing = self._timing
        assert timing is not None
        self._recorder.frame(self._conn_id, now + timing.wall_base_ns, frame)

    def _hold(self, item: _Item) -> _Item:
        """Keep a frame the callback cannot finish for :meth:`run` (decoded once)."""
        self._held = item
        return item

    def decode(self, frame: str | bytes) -> tuple[str | None, str | None, Any] | None:
        """Count and decode one frame without delivering it (a handover's new
        connection): ``(channel, event name, message)``, the name None for protocol
        traffic to answer; None for a bad frame (reported)."""
        self._counters.messages_received += 1
        if self._recorder is not None:
            # the frames of the connection being opened (a login, a handover's
            # new connection): the next one run() reads
            self._recorder.frame(self._opening_id(), time.time_ns(), frame)
        try:
            channel, message = self._protocol.decode(frame)
        except Exception as exc:  # noqa: BLE001 - a bad frame is an error event
            self._bad_frame(exc, frame)
            return None
        if self._log is not None:
            decoded = self._decoded
            if len(decoded) > 64:
                decoded.clear()  # a handover's buffer is fed long before
            decoded[id(message)] = time.monotonic_ns()
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
        if channel is CONSUMED:
            return None
        name = MESSAGE if channel is None else MESSAGE_PREFIX + channel
        if channel in self._watched:
            if self.on_handover_wanted is not None and self._protocol.wants_handover(message):
                self.on_handover_wanted()
        elif channel != CONSUMED:
            # A feed's own channel spelled like CONSUMED is delivered, never memoised
            # (the memo would then take the protocol's consumed frames for it).
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

    def _opening_id(self) -> int:
        """The recorder's number of the connection being opened (taken from the
        recorder once, so that connections sharing it never share a number)."""
        conn = self._next_conn
        if not conn:
            number = getattr(self._recorder, "new_connection", None)
            conn = self._next_conn = number() if callable(number) else self._conn_id + 1
        return conn

    async def run(self, ws: TransportConnection) -> BaseException:
        """Read ``ws`` until it closes; returns the ``ws.closed_error`` that ended it."""
        recv = ws.recv
        step = self.step
        finish = self._finish
        self._ws = ws
        if self._recorder is not None:
            self._conn_id = self._opening_id()
            self._next_conn = 0
        else:
            self._conn_id += 1
        timing = self._timing
        if timing is not None:
            timing.rebase(time.time_ns() - time.monotonic_ns())
            if self._recorder is not None:
                self._recorder.opened(
                    self._conn_id, time.time_ns(), sent=self._counters.messages_sent
                )
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
            if self._recorder is not None:
                self._recorder.closed_connection(
                    self._conn_id,
                    time.time_ns(),
                    ws.close_info(exc),
                    sent=self._counters.messages_sent,
                )
            return exc
        finally:
            ws.set_receiver(None)
            self._held = None
            self._ws = None

    async def _finish(self, ws: TransportConnection, item: _Item) -> None:
        name, message = item
        if name is None:
            await self._reply(ws, message)
        else:
            await self._dispatcher.put(name, message)
