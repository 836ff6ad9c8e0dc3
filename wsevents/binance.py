"""Binance market-data streams: :class:`BinanceProtocol` (layer L1).

Binance serves streams on two kinds of endpoints (``wss://stream.binance.com:9443``;
the USDⓈ-M and COIN-M futures endpoints speak the same format):

* **combined streams**, ``/stream?streams=btcusdt@trade/ethusdt@kline_1m`` or
  ``/stream`` plus ``SUBSCRIBE`` requests, wrap every event in an envelope
  ``{"stream": "btcusdt@trade", "data": {...}}``.  :class:`BinanceProtocol`
  routes it to the channel ``btcusdt@trade`` (event ``message:btcusdt@trade``)
  and delivers the ``data`` payload (or the whole envelope with
  ``envelope=True``);
* **raw streams**, ``/ws/btcusdt@trade``, send the payload alone.  A payload
  with an event type ``"e"`` (``{"e": "trade", ...}``) is routed to that
  type (``message:trade``, ``message:kline``, ``message:serverShutdown``);
  one without (``bookTicker``, partial depth, the ``!ticker@arr`` arrays) is
  delivered on ``message`` only.  ``raw="message"`` delivers every raw
  payload on ``message`` only.

Subscriptions are live requests: ``{"method": "SUBSCRIBE", "params": [...],
"id": n}`` with ids increasing from 1.  Their replies are protocol traffic: an
acknowledgement ``{"result": null, "id": n}`` (and any other ``result`` reply)
is consumed, never delivered; an error reply (``{"error": {"code": 2, "msg":
"..."}, "id": n}``, or the documented bare ``{"code": 2, "msg": "..."}``)
raises :class:`~wsevents.FrameError`, which the connection reports as an
``error`` event.

Binance closes every connection after 24 hours; :data:`BINANCE_MAX_AGE`
(``MaxConnectionAge("24h", margin="5m")``) recycles it on the client's own
schedule instead::

    ws = wsevents.Connection(
        COMBINED_STREAM_URL,
        protocol=BinanceProtocol(),
        subscriptions=["btcusdt@trade", "ethusdt@kline_1m"],
        should_disconnect=BINANCE_MAX_AGE,
    )

    @ws.on("message:btcusdt@trade")
    def on_trade(trade): ...          # the "data" payload: {"e": "trade", "p": ...}

Binance allows 5 incoming messages per second and 1024 streams per
connection: all the channels of one ``subscribe()`` call go in a single
request, so a reconnect re-subscribes with one frame.  Stream names are sent
as given (Binance wants lower-case symbols: ``btcusdt@trade``).

Before a server goes down for maintenance Binance sends ``{"e":
"serverShutdown", "E": ...}`` and asks for a new connection:
:meth:`BinanceProtocol.wants_handover` recognises it (the message is still
delivered, on ``message:serverShutdown``).

:class:`BinanceApiProtocol` speaks the WebSocket API
(``wss://ws-api.binance.com:443/ws-api/v3``): requests ``{"id", "method",
"params"}`` whose replies come back by ``id``; SIGNED methods get ``apiKey``,
``timestamp`` and the hex HMAC-SHA256 ``signature`` of their sorted
parameters; replies with ``status != 200`` (rate limits: 429, and the 418 IP
ban) become :class:`~wsevents.RequestError`.

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from ._venue import check_callable, check_credential
from .exceptions import ConfigError, FrameError, RequestError
from .policies import Duration, MaxConnectionAge
from .routing import CONSUMED, Decoder, Frame, Protocol


__all__ = [
    "API_KEY_METHODS",
    "BINANCE_MAX_AGE",
    "COMBINED_STREAM_URL",
    "SIGNED_METHODS",
    "WEBSOCKET_API_URL",
    "BinanceApiProtocol",
    "BinanceFuturesProtocol",
    "BinanceOptionsProtocol",
    "BinanceProtocol",
    "binance_signature",
]

#: Binance's combined-stream endpoint (spot), to use with ``subscriptions=[...]``.
COMBINED_STREAM_URL: Final = "wss://stream.binance.com:9443/stream"

#: Binance's WebSocket API endpoint (spot), for :class:`BinanceApiProtocol`.
WEBSOCKET_API_URL: Final = "wss://ws-api.binance.com:443/ws-api/v3"

#: Recycle a Binance connection 5 minutes before the server's 24-hour cut
#: (use as ``should_disconnect``; the connection comes straight back).
BINANCE_MAX_AGE: Final = MaxConnectionAge("24h", margin="5m")

_MISSING: Final = object()
_ERROR_KEYS: Final = frozenset({"code", "msg", "id"})


def _check_bool(name: str) -> Callable[[object, attrs.Attribute[bool], object], None]:
    def check(_inst: object, _attr: attrs.Attribute[bool], value: object) -> None:
        if not isinstance(value, bool):
            raise ConfigError(name, value, "must be True or False")

    return check


@attrs.frozen(kw_only=True)
class BinanceProtocol(Protocol):
    """Binance combined and raw streams, with live ``SUBSCRIBE`` / ``UNSUBSCRIBE``.

    Channels are Binance stream names (``btcusdt@trade``, ``ethusdt@kline_1m``,
    ``!miniTicker@arr``).  One instance may serve several connections: the
    request ids it hands out keep increasing across all of them.

    Args:
        envelope: deliver a combined-stream frame whole
            (``{"stream": ..., "data": ...}``) instead of its ``data`` payload.
        raw: how to route a raw-stream payload: ``"event"`` routes it to its
            event type ``"e"`` (``message:trade``) and delivers one without it
            on ``message`` only; ``"message"`` delivers every raw payload on
            ``message`` only.
        decoder: the JSON decoder (``json.loads``, ``orjson.loads``, ...).

    Raises:
        ConfigError: a bad option, naming it.

    .. versionadded:: 0.1
    """

    envelope: bool = attrs.field(default=False, validator=_check_bool("envelope"))
    raw: Literal["event", "message"] = attrs.field(default="event")
    decoder: Decoder = attrs.field(default=json.loads, repr=False)
    _ids: Iterator[int] = attrs.field(
        init=False, factory=lambda: itertools.count(1), repr=False, eq=False
    )

    #: 1024 streams per connection.
    max_channels = 1024
    handover_channels = frozenset({"serverShutdown"})
    #: 5 incoming messages per second per connection (pings and pongs count).
    send_limit = (5, 1.0)
    #: 300 connection attempts per 5 minutes per IP.
    connect_limit = (300, 300.0)
    #: the event time of a push (epoch milliseconds)
    event_time = "E"

    @raw.validator
    def _check_raw(self, _attr: attrs.Attribute[str], value: str) -> None:
        if value not in ("event", "message"):
            raise ConfigError("raw", value, "must be 'event' or 'message'")

    @decoder.validator
    def _check_decoder(self, _attr: attrs.Attribute[Decoder], value: object) -> None:
        if not callable(value):
            raise ConfigError("decoder", value, "must be callable")

    @staticmethod
    def max_connection_age(margin: Duration = "5m") -> MaxConnectionAge:
        """A policy recycling connections ``margin`` before Binance's 24-hour cut.

        ``BinanceProtocol.max_connection_age()`` equals :data:`BINANCE_MAX_AGE`.

        Args:
            margin: how long before the 24-hour mark to reconnect.

        Raises:
            ConfigError: ``margin`` is not a duration shorter than 24 hours.
        """
        return MaxConnectionAge("24h", margin=margin)

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        """Decode a frame: a combined-stream event, a raw event, or a request's reply.

        Raises:
            FrameError: the frame is not valid JSON, or it is an error reply.
        """
        try:
            message = self.decoder(frame)
        except ValueError as exc:  # JSONDecodeError (json, orjson), UnicodeDecodeError
            raise FrameError(f"frame is not valid JSON ({exc})", frame) from exc
        if message.__class__ is not dict:
            return None, message  # a raw ``!ticker@arr`` array, or a bare value
        stream = message.get("stream", _MISSING)
        if stream is not _MISSING:
            data = message.get("data", _MISSING)
            if data is not _MISSING:
                if stream.__class__ is not str:
                    raise FrameError("combined-stream frame whose 'stream' is not a string", frame)
                return stream, message if self.envelope else data
        if "id" in message or "error" in message or "result" in message:
            if "result" in message and "error" not in message:
                return CONSUMED, message
            error = message.get("error", _MISSING)
            if error is not _MISSING:
                raise _error_reply(message, error, frame)
        if "code" in message and "msg" in message and message.keys() <= _ERROR_KEYS:
            raise _error_reply(message, message, frame)
        if self.raw == "event":
            event = message.get("e")
            if event.__class__ is str and event:
                return event, message
        return None, message

    def subscribe(self, channels: Sequence[str]) -> list[Frame]:
        """One ``SUBSCRIBE`` request for all ``channels``, with the next id."""
        return [self.request("SUBSCRIBE", list(channels))] if channels else []

    def unsubscribe(self, channels: Sequence[str]) -> list[Frame]:
        """One ``UNSUBSCRIBE`` request for all ``channels``, with the next id."""
        return [self.request("UNSUBSCRIBE", list(channels))] if channels else []

    def request(self, method: str, params: Sequence[Any] | None = None) -> dict[str, Any]:
        """A request frame ``{"method": ..., "params": [...], "id": n}`` with the next id.

        For example ``await ws.send(protocol.request("LIST_SUBSCRIPTIONS"))``
        (its reply is consumed like any other; a subclass overriding
        :meth:`decode` can deliver it).

        Args:
            method: ``"SUBSCRIBE"``, ``"UNSUBSCRIBE"``, ``"LIST_SUBSCRIPTIONS"``,
                ``"SET_PROPERTY"``, ``"GET_PROPERTY"``.
            params: the request's parameters (left out when None).
        """
        frame: dict[str, Any] = {"method": method}
        if params is not None:
            frame["params"] = list(params)
        frame["id"] = next(self._ids)
        return frame

    def wants_handover(self, message: Any) -> bool:
        """True for ``serverShutdown`` (raw, a combined stream's data, or enveloped)."""
        return _is_shutdown(message)

    def with_decoder(self, decoder: Decoder) -> BinanceProtocol:
        """A copy decoding with ``decoder`` (its request ids start again at 1)."""
        return attrs.evolve(self, decoder=decoder)


def _is_shutdown(message: Any) -> bool:
    """``{"e": "serverShutdown"}``, alone or under ``"data"`` or ``"event"``."""
    if message.__class__ is not dict:
        return False
    if message.get("e") == "serverShutdown":
        return True
    for key in ("data", "event"):
        inner = message.get(key)
        if inner.__class__ is dict and inner.get("e") == "serverShutdown":
            return True
    return False


def _error_reply(message: dict[str, Any], error: object, frame: str | bytes) -> FrameError:
    """The FrameError of an error reply: names the request id, the code and the message."""
    detail = repr(error)
    if isinstance(error, dict) and ("code" in error or "msg" in error):
        detail = f"code {error.get('code')}: {error.get('msg')}"
    return FrameError(f"Binance error reply to request id {message.get('id')!r}: {detail}", frame)


#: WebSocket API methods that are SIGNED (TRADE and USER_DATA, spot and
#: USDⓈ-M futures): they get ``apiKey``, ``timestamp`` and ``signature``.
SIGNED_METHODS: Final = frozenset(
    {
        "order.place", "order.test", "order.status", "order.cancel", "order.cancelReplace",
        "order.modify", "order.amend.keepPriority", "order.amendments",
        "openOrders.status", "openOrders.cancelAll", "allOrders",
        "orderList.place", "orderList.place.oco", "orderList.place.oto",
        "orderList.place.otoco", "orderList.cancel", "orderList.status",
        "openOrderLists.status", "allOrderLists",
        "sor.order.place", "sor.order.test",
        "account.status", "account.rateLimits.orders", "account.commission",
        "account.balance", "account.position", "v2/account.balance",
        "v2/account.position", "v2/account.status",
        "myTrades", "myPreventedMatches", "myAllocations",
        "userDataStream.subscribe.signature",
    }
)  # fmt: skip
#: WebSocket API methods that need ``apiKey`` but no signature (USER_STREAM).
API_KEY_METHODS: Final = frozenset(
    {"userDataStream.start", "userDataStream.ping", "userDataStream.stop"}
)


def _param(value: object) -> str:
    """A parameter as Binance reads it in the signature payload."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def binance_signature(api_secret: str, params: Mapping[str, Any]) -> str:
    """The hex HMAC-SHA256 of ``params`` sorted by name (``k=v&...``), keyed with ``api_secret``.

    ``params`` holds everything but ``signature`` (``apiKey`` and ``timestamp``
    included), as Binance's WebSocket API signs them.
    """
    payload = "&".join(f"{k}={_param(params[k])}" for k in sorted(params))
    return hmac.new(api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _check_recv_window(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60_000
    ):
        raise ConfigError("recv_window", value, "must be milliseconds in (0, 60000], or None")


def _frozen_methods(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen(kw_only=True)
class BinanceFuturesProtocol(BinanceProtocol):
    """:class:`BinanceProtocol` with the limits of Binance's USDⓈ-M and COIN-M
    futures streams: 1,024 streams and 10 incoming frames per second per
    connection (the connection-attempt budget stays the spot one, 300 per
    5 minutes, the conservative choice: the futures documentation states none).

    .. versionadded:: 0.2
    """

    #: 10 incoming messages per second per connection.
    send_limit = (10, 1.0)


@attrs.frozen(kw_only=True)
class BinanceOptionsProtocol(BinanceProtocol):
    """:class:`BinanceProtocol` with the limits of Binance's options streams:
    200 streams and 10 incoming frames per second per connection.

    .. versionadded:: 0.2
    """

    #: 200 streams per connection.
    max_channels = 200
    #: 10 incoming messages per second per connection.
    send_limit = (10, 1.0)


@attrs.frozen(kw_only=True)
class BinanceApiProtocol(Protocol):
    """Binance's WebSocket API: requests by ``id``, SIGNED methods signed with HMAC-SHA256.

    ``await ws.request({"method": "order.place", "params": {...}})`` gets the
    next ``id``; for a SIGNED method the parameters get ``apiKey``,
    ``timestamp`` (the clock, in milliseconds), ``recvWindow`` when set and
    not given, and ``signature``, computed afresh for every request.  Replies
    (``{"id", "status", "result" | "error", "rateLimits"}``) are consumed by
    the request machinery; ``status != 200`` raises
    :class:`~wsevents.RequestError` with Binance's ``code`` and ``msg`` (429:
    rate limited, 418: IP banned).  Events (``{"event": {"e": ...}}``, user
    data and ``serverShutdown``) are routed to their type ``e`` with the inner
    event as the message.

    HMAC keys have no session login (``session.logon`` takes Ed25519 keys), so
    :meth:`on_open` sends nothing.

    Args:
        api_key: the API key (None: only unsigned methods).
        api_secret: its HMAC secret (required with ``api_key``).
        recv_window: ``recvWindow`` in milliseconds for signed requests (None:
            Binance's default, 5000).
        signed_methods: the methods to sign (default :data:`SIGNED_METHODS`).
        clock: wall-clock seconds since the epoch (injectable for tests).
        decoder: the JSON decoder.

    Raises:
        ConfigError: a bad option, naming it (never showing a credential).

    .. versionadded:: 0.2
    """

    api_key: str | None = attrs.field(
        default=None, repr=False, validator=check_credential("api_key")
    )
    api_secret: str | None = attrs.field(
        default=None, repr=False, validator=check_credential("api_secret")
    )
    recv_window: float | None = attrs.field(default=None, validator=_check_recv_window)
    signed_methods: frozenset[str] = attrs.field(
        default=SIGNED_METHODS, converter=_frozen_methods, repr=False
    )
    clock: Callable[[], float] = attrs.field(
        default=time.time, repr=False, validator=check_callable("clock")
    )
    decoder: Decoder = attrs.field(
        default=json.loads, repr=False, validator=check_callable("decoder")
    )

    #: 300 connection attempts per 5 minutes per IP.
    connect_limit = (300, 300.0)

    handover_channels = frozenset({"serverShutdown"})

    def __attrs_post_init__(self) -> None:
        if (self.api_key is None) != (self.api_secret is None):
            raise ConfigError("api_secret", "<hidden>", "api_key and api_secret go together")

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        """Consume replies (they have an ``id``); route events to their type.

        Raises:
            FrameError: the frame is not valid JSON, or it is an error reply
                without an ``id`` (a request Binance could not parse).
        """
        try:
            message = self.decoder(frame)
        except ValueError as exc:  # JSONDecodeError (json, orjson), UnicodeDecodeError
            raise FrameError(f"frame is not valid JSON ({exc})", frame) from exc
        if message.__class__ is not dict:
            return None, message
        if "status" in message or "id" in message:
            if self.reply_id(message) is not None:
                return CONSUMED, message
            error = self.reply_error(message)
            if error is not None:
                raise FrameError(f"Binance error reply without an id: {error}", frame)
            return CONSUMED, message
        event = message.get("event")
        if event.__class__ is dict:
            kind = event.get("e")
            return (kind if kind.__class__ is str and kind else None), event
        return None, message

    def wants_handover(self, message: Any) -> bool:
        """True for ``serverShutdown``."""
        return _is_shutdown(message)

    def prepare_request(self, frame: Frame, request_id: int) -> tuple[Frame, Hashable]:
        """Stamp ``id`` into ``frame`` and sign its ``params`` when its method is SIGNED.

        Raises:
            TypeError: ``frame`` is not a mapping with a ``method``, or its
                ``params`` are not a mapping.
            ConfigError: a SIGNED method, and the protocol has no credentials.
        """
        if not isinstance(frame, Mapping) or not isinstance(frame.get("method"), str):
            raise TypeError("a Binance WebSocket API request is a mapping with a 'method'")
        method = frame["method"]
        request: dict[str, Any] = {"id": request_id, "method": method}
        params = frame.get("params")
        if params is not None and not isinstance(params, Mapping):
            raise TypeError("the 'params' of a Binance WebSocket API request must be a mapping")
        if method in self.signed_methods or method in API_KEY_METHODS:
            params = self.sign(params or {}, signed=method in self.signed_methods)
        if params is not None:
            request["params"] = dict(params)
        return request, request_id

    def sign(self, params: Mapping[str, Any], *, signed: bool = True) -> dict[str, Any]:
        """``params`` with ``apiKey``, and for ``signed`` also ``timestamp``,
        ``recvWindow`` (when set) and ``signature``.

        Raises:
            ConfigError: the protocol has no credentials.
        """
        if self.api_key is None or self.api_secret is None:
            raise ConfigError("api_key", None, "signed requests need api_key and api_secret")
        out = {k: v for k, v in params.items() if k != "signature"}
        out["apiKey"] = self.api_key
        if not signed:
            return out
        out.setdefault("timestamp", int(self.clock() * 1000))
        if self.recv_window is not None:
            out.setdefault("recvWindow", self.recv_window)
        out["signature"] = binance_signature(self.api_secret, out)
        return out

    def reply_id(self, message: Any) -> Hashable | None:
        """The reply's ``id`` (None when absent or null)."""
        if message.__class__ is not dict:
            return None
        key: Hashable | None = message.get("id")
        return key

    def reply_error(self, message: Any) -> RequestError | None:
        """A :class:`RequestError` for ``status != 200``: Binance's code and message."""
        if message.__class__ is not dict:
            return None
        status = message.get("status")
        if status is None or status == 200:
            return None
        error = message.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        text = str(error.get("msg", "")) if isinstance(error, dict) else ""
        if status == 429:
            text = f"rate limited (HTTP 429): {text}"
        elif status == 418:
            text = f"IP banned for breaking rate limits (HTTP 418): {text}"
        else:
            text = f"HTTP {status}: {text}"
        return RequestError(code, text, message)

    def with_decoder(self, decoder: Decoder) -> BinanceApiProtocol:
        """A copy decoding with ``decoder``."""
        return attrs.evolve(self, decoder=decoder)
