"""Protocols: how frames map to channels, and channels to subscribe frames.

A :class:`Protocol` is the small adapter between a server's wire format and
wsevents' events.  It answers three questions:

* :meth:`Protocol.decode`: which channel does this frame belong to, and what
  is the decoded message?  The message is emitted as ``message`` and
  ``message:<channel>``.  A protocol returns the channel :data:`CONSUMED` for
  frames that are protocol traffic (acknowledgements, heartbeats), which are
  answered through :meth:`Protocol.reply` and not delivered.
* :meth:`Protocol.subscribe` / :meth:`Protocol.unsubscribe`: which frames
  ask the server for a set of channels?
* :meth:`Protocol.reply`: what to answer to a consumed frame (an
  application-level ``pong``), if anything.

Sessions (DESIGN.md section 11) add hooks that change nothing for a protocol
that does not override them:

* :meth:`Protocol.on_open` is awaited after every handshake, before the
  subscriptions: it logs in through a :class:`Session` (``send`` and
  ``request``), building its frames afresh on every call;
* :meth:`Protocol.prepare_request` stamps a request id into a frame and
  :meth:`Protocol.reply_id` / :meth:`Protocol.reply_error` recognise the
  replies.  The contract with :meth:`Protocol.decode`: a reply that has a
  :meth:`~Protocol.reply_id` is returned as :data:`CONSUMED` (error replies
  too: the pending request gets the error); an error reply without one raises
  :class:`~wsevents.FrameError` as any bad frame does;
* :attr:`Protocol.client_heartbeat` (a :class:`HeartbeatSpec`) asks for
  client-sent application heartbeats; :meth:`Protocol.wants_handover` says that
  a message asks the client to move to a new connection;
* venue limits: :attr:`Protocol.max_channels`,
  :attr:`Protocol.max_channels_per_frame`, and :attr:`Protocol.send_limit` /
  :attr:`Protocol.connect_limit` as ``(n, per_seconds)``.

Exchange adapters subclass :class:`Protocol` (or :class:`JsonProtocol`) and
override what differs.  Protocols are frozen attrs classes: one instance can be
shared by many connections.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import attrs

from ._venue import check_callable, check_seconds
from .exceptions import ConfigError, FrameError, RequestError


__all__ = [
    "CONSUMED",
    "Decoder",
    "Frame",
    "HeartbeatSpec",
    "JsonProtocol",
    "Protocol",
    "Session",
]

#: A frame to send: dict/list → JSON text, str → text frame, bytes → binary frame.
Frame: TypeAlias = "Mapping[str, Any] | Sequence[Any] | str | bytes"
#: A callable turning a frame's payload into a Python object.
Decoder: TypeAlias = Callable[[str | bytes], Any]

#: The channel a protocol returns for frames it consumes itself (acks, heartbeats).
CONSUMED: Final = "\x00consumed"

_json_loads: Final = json.loads
#: ``json.loads(s)`` for a ``str`` is ``JSONDecoder().decode(s)``, which skips
#: whitespace with a regular expression before and after the document; when the
#: document starts at index 0 and ends at ``len(s)`` both matches are empty and
#: ``raw_decode(s)`` alone gives the same object (see ``_loads_str``).
_raw_decode: Final = json.JSONDecoder().raw_decode


def _loads_str(frame: str) -> Any:
    """Exactly ``json.loads(frame)`` for a ``str``, without its two regex scans.

    Leading or trailing whitespace, a BOM, and invalid documents fall back to
    ``json.loads`` itself, so results and errors are the same.
    """
    try:
        message, end = _raw_decode(frame)
    except ValueError:
        return _json_loads(frame)
    if end != len(frame):
        return _json_loads(frame)
    return message


class Session(typing.Protocol):
    """What :meth:`Protocol.on_open` is given: the connection being opened.

    .. versionadded:: 0.2
    """

    async def send(self, frame: Frame) -> None:
        """Send ``frame`` on the connection being opened."""

    async def request(self, frame: Frame, timeout: float = 10.0) -> Any:
        """Send ``frame`` as a request (through :meth:`Protocol.prepare_request`)
        and return its reply.

        Raises:
            RequestError: the venue answered with an error reply.
            TimeoutError: no reply within ``timeout`` seconds.
            ConnectionLost: the connection dropped before the reply.
        """


def _check_frame(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if not (callable(value) or isinstance(value, (str, bytes, Mapping, list, tuple))):
        raise ConfigError(
            "heartbeat.frame", value, "must be a frame (dict, list, str, bytes) or a callable"
        )


@attrs.frozen(kw_only=True)
class HeartbeatSpec:
    """A client-sent application heartbeat (OKX's text ``ping``, Bybit's ``{"op": "ping"}``).

    Args:
        interval: seconds between heartbeats; with ``when_idle``, seconds
            without any received frame before one is sent.
        frame: the frame to send, or a callable returning it (called for
            every heartbeat: a fresh timestamp or request id).
        is_answer: tells whether a consumed message answers the heartbeat.
        timeout: seconds to wait for the answer before the connection is
            treated as dead (a ``STALE`` disconnect).
        when_idle: send only when nothing was received for ``interval``
            seconds (OKX), instead of on a fixed schedule (Bybit).

    Raises:
        ConfigError: a bad value, naming it.

    .. versionadded:: 0.2
    """

    interval: float = attrs.field(validator=check_seconds("heartbeat.interval"))
    frame: Frame | Callable[[], Frame] = attrs.field(validator=_check_frame)
    is_answer: Callable[[Any], bool] = attrs.field(validator=check_callable("heartbeat.is_answer"))
    timeout: float = attrs.field(default=10.0, validator=check_seconds("heartbeat.timeout"))
    when_idle: bool = attrs.field(default=False)

    @when_idle.validator
    def _check_when_idle(self, _attr: attrs.Attribute[bool], value: object) -> None:
        if not isinstance(value, bool):
            raise ConfigError("heartbeat.when_idle", value, "must be True or False")

    def make_frame(self) -> Frame:
        """The frame of the next heartbeat (``frame()`` when it is callable)."""
        frame = self.frame
        if callable(frame):
            made: Frame = frame()
            return made
        return frame


class Protocol:
    """Base class of protocols.  Subclasses override :meth:`decode` at least.

    The session hooks (:meth:`on_open`, :meth:`prepare_request`,
    :meth:`reply_id`, :meth:`reply_error`, :meth:`wants_handover`) and the venue
    limits default to "nothing to do".

    .. versionadded:: 0.1
    """

    #: client-sent application heartbeats, or None (the default: none)
    client_heartbeat: HeartbeatSpec | None = None
    #: most channels one connection may hold (None: no limit)
    max_channels: int | None = None
    #: most channels one subscribe frame may carry (None: no limit)
    max_channels_per_frame: int | None = None
    #: the venue's limit on frames a client sends per connection, ``(n, per_seconds)``
    send_limit: tuple[int, float] | None = None
    #: the venue's limit on connection attempts per IP, ``(n, per_seconds)``
    connect_limit: tuple[int, float] | None = None
    #: channels (None: unrouted messages) whose delivered messages may ask for a new
    #: connection: :meth:`wants_handover` is asked for those only, so the other
    #: channels' messages never pay for it (consumed messages are always asked)
    handover_channels: frozenset[str | None] = frozenset()
    #: where the venue's event time is (a key path, epoch milliseconds): the default
    #: of the ``event_time`` option with ``timestamps=True`` (None: unknown)
    event_time: str | None = None

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        """Decode one frame into ``(channel, message)``.

        ``channel`` is ``None`` for a message that belongs to no channel (it is
        emitted as ``message`` only), or :data:`CONSUMED` for protocol traffic.

        Raises:
            FrameError: the frame cannot be decoded; it becomes an ``error`` event.
        """
        raise NotImplementedError

    def subscribe(self, channels: Sequence[str]) -> list[Frame]:
        """Frames that subscribe to ``channels`` (empty: the protocol has no such thing)."""
        return []

    def unsubscribe(self, channels: Sequence[str]) -> list[Frame]:
        """Frames that unsubscribe from ``channels``."""
        return []

    def reply(self, message: Any) -> Frame | None:
        """The answer to a consumed frame (for example an application ``pong``), or None."""
        return None

    def with_decoder(self, decoder: Decoder) -> Protocol:
        """A copy of this protocol decoding with ``decoder`` (used by ``Connection(decoder=)``)."""
        return self

    async def on_open(self, session: Session) -> None:
        """Awaited after every handshake, before the subscriptions are sent.

        Log in here: build the frame afresh on every call (a new timestamp
        and signature: a resent one is rejected) and await its acknowledgement
        with ``await session.request(frame)``.

        Raises:
            AuthenticationError: the venue rejected the login (fatal).
        """
        return None

    def prepare_request(self, frame: Frame, request_id: int) -> tuple[Frame, Hashable]:
        """Stamp ``request_id`` into a request frame: ``(frame to send, key of its reply)``.

        ``request_id`` increases on each connection; the key is what
        :meth:`reply_id` returns for the reply.

        Raises:
            NotImplementedError: the protocol has no requests (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} does not support requests")

    def reply_id(self, message: Any) -> Hashable | None:
        """The key of the request a consumed ``message`` answers, or None (not a reply)."""
        return None

    def reply_error(self, message: Any) -> RequestError | None:
        """The error a reply carries (``RequestError`` with the venue's code), or None."""
        return None

    def wants_handover(self, message: Any) -> bool:
        """True when ``message`` asks the client to move to a new connection now
        (Binance's ``serverShutdown``): the connection starts a handover."""
        return False


def _default_subscribe(op: str) -> Callable[[Sequence[str]], Frame]:
    def frame(channels: Sequence[str]) -> Frame:
        return {"op": op, "channels": list(channels)}

    return frame


def _check_channel_key(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or any(not part for part in value.split(".")):
        raise ConfigError("channel_key", value, "must be a non-empty key, or a dotted path")


@attrs.frozen(kw_only=True)
class JsonProtocol(Protocol):
    """JSON text frames whose channel is one key of the top-level object.

    Args:
        channel_key: the key holding the channel name; a dotted path
            (``"arg.channel"``) looks into nested objects.
        subscribe_frame: builds the subscribe frame from a list of channels;
            default ``{"op": "subscribe", "channels": [...]}``.
        unsubscribe_frame: likewise; default ``{"op": "unsubscribe", ...}``.
        ignore: values of ``channel_key`` (or of ``"type"``/``"op"`` in
            ``heartbeat``) that are protocol traffic, consumed and not delivered.
        heartbeat: a pair ``(ping, pong)``: a frame equal to the ``ping``
            object is consumed and answered with ``pong``.
        unrouted: what to do with a message that has no channel:
            ``"message"`` delivers it on ``message`` only, ``"error"`` turns it
            into an ``error`` event.
        binary: what to do with binary frames: ``"decode"`` (decode them as
            UTF-8 JSON) or ``"error"`` (an ``error`` event: text was expected).
        decoder: the JSON decoder (``json.loads``, ``orjson.loads``, ...).
            With the default ``json.loads``, text frames are decoded by an
            exact equivalent that skips its two whitespace scans.

    .. versionadded:: 0.1
    """

    channel_key: str = attrs.field(default="channel", validator=_check_channel_key)
    subscribe_frame: Callable[[Sequence[str]], Frame] = attrs.field(
        factory=lambda: _default_subscribe("subscribe")
    )
    unsubscribe_frame: Callable[[Sequence[str]], Frame] = attrs.field(
        factory=lambda: _default_subscribe("unsubscribe")
    )
    heartbeat: tuple[Any, Any] | None = None
    unrouted: Literal["message", "error"] = attrs.field(default="message")
    binary: Literal["decode", "error"] = attrs.field(default="decode")
    decoder: Decoder = attrs.field(default=json.loads, repr=False)
    _path: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    #: the channel key when decode() may take its fast path for text frames:
    #: one plain (undotted) key and no heartbeat; None otherwise
    _key: str | None = attrs.field(init=False, repr=False, eq=False)
    #: ``decoder`` for ``str`` frames (``_loads_str`` when it is ``json.loads``)
    _loads: Decoder = attrs.field(init=False, repr=False, eq=False)

    @unrouted.validator
    def _check_unrouted(self, _attr: attrs.Attribute[str], value: str) -> None:
        if value not in ("message", "error"):
            raise ConfigError("unrouted", value, "must be 'message' or 'error'")

    @binary.validator
    def _check_binary(self, _attr: attrs.Attribute[str], value: str) -> None:
        if value not in ("decode", "error"):
            raise ConfigError("binary", value, "must be 'decode' or 'error'")

    def __attrs_post_init__(self) -> None:
        for name in ("subscribe_frame", "unsubscribe_frame", "decoder"):
            if not callable(getattr(self, name)):
                raise ConfigError(name, getattr(self, name), "must be callable")
        path = tuple(self.channel_key.split("."))
        object.__setattr__(self, "_path", path)
        fast = len(path) == 1 and self.heartbeat is None
        object.__setattr__(self, "_key", path[0] if fast else None)
        loads = _loads_str if self.decoder is _json_loads else self.decoder
        object.__setattr__(self, "_loads", loads)

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        """Decode a JSON frame and find its channel under ``channel_key``."""
        key = self._key
        if key is not None and frame.__class__ is str:
            # The fast path: a text frame, one plain channel key, no heartbeat.
            try:
                message = self._loads(frame)
            except ValueError as exc:  # JSONDecodeError (json, orjson)
                raise FrameError(f"frame is not valid JSON ({exc})", frame) from exc
            if message.__class__ is dict:
                channel = message.get(key)
                if channel.__class__ is str:
                    return channel, message
            return self._route(message, frame)
        if frame.__class__ is bytes and self.binary == "error":
            raise FrameError("binary frame received where JSON text was expected", frame)
        try:
            message = self._loads(frame) if frame.__class__ is str else self.decoder(frame)
        except ValueError as exc:  # JSONDecodeError (json, orjson), UnicodeDecodeError
            raise FrameError(f"frame is not valid JSON ({exc})", frame) from exc
        if self.heartbeat is not None and message == self.heartbeat[0]:
            return CONSUMED, message
        return self._route(message, frame)

    def _route(self, message: Any, frame: str | bytes) -> tuple[str | None, Any]:
        """The channel of a decoded ``message`` (the general case of :meth:`decode`)."""
        path = self._path
        channel: Any = message
        for key in path:
            if channel.__class__ is not dict:
                channel = None
                break
            channel = channel.get(key)
        if channel is None or channel.__class__ is not str:
            if channel is not None:
                channel = str(channel)
            elif self.unrouted == "error":
                raise FrameError(f"message has no {self.channel_key!r} channel", frame)
        return channel, message

    def subscribe(self, channels: Sequence[str]) -> list[Frame]:
        """One subscribe frame for all ``channels``."""
        return [self.subscribe_frame(list(channels))] if channels else []

    def unsubscribe(self, channels: Sequence[str]) -> list[Frame]:
        """One unsubscribe frame for all ``channels``."""
        return [self.unsubscribe_frame(list(channels))] if channels else []

    def reply(self, message: Any) -> Frame | None:
        """The ``pong`` of ``heartbeat`` for a consumed ``ping``."""
        if self.heartbeat is not None and message == self.heartbeat[0]:
            pong: Frame = self.heartbeat[1]
            return pong
        return None

    def with_decoder(self, decoder: Decoder) -> JsonProtocol:
        """A copy decoding with ``decoder``."""
        return attrs.evolve(self, decoder=decoder)


def sends_credentials(protocol: Protocol) -> bool:
    """True when ``protocol`` logs in or signs requests (it overrides
    :meth:`Protocol.on_open` or :meth:`Protocol.prepare_request`): its frames may
    carry an API key or a passphrase, so no library traces them at DEBUG."""
    kind = type(protocol)
    return kind.on_open is not Protocol.on_open or (
        kind.prepare_request is not Protocol.prepare_request
    )


def resolve_decoder(decoder: Decoder | str | None) -> Decoder | None:
    """Turn the ``decoder`` option into a callable.

    Accepts a callable, None (the protocol's own, stdlib ``json`` by default),
    or one of the names ``"json"``, ``"orjson"``, ``"msgspec"``.

    Raises:
        ConfigError: unknown name, a decoder that is not installed, or not callable.
    """
    if decoder is None:
        return None
    if isinstance(decoder, str):
        if decoder == "json":
            return json.loads
        if decoder == "orjson":
            try:
                import orjson
            except ImportError as exc:
                raise ConfigError(
                    "decoder", decoder, "orjson is not installed (pip install 'wsevents[fast]')"
                ) from exc
            loads: Decoder = orjson.loads
            return loads
        if decoder == "msgspec":
            try:
                import msgspec.json
            except ImportError as exc:
                raise ConfigError("decoder", decoder, "msgspec is not installed") from exc
            msgspec_loads: Decoder = msgspec.json.Decoder().decode
            return msgspec_loads
        raise ConfigError("decoder", decoder, "must be a callable or 'json', 'orjson', 'msgspec'")
    if not callable(decoder):
        raise ConfigError("decoder", decoder, "must be a callable str | bytes -> object")
    return decoder
