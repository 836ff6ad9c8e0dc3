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

.. versionadded:: 0.1
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, Literal

import attrs

from .exceptions import ConfigError, FrameError
from .policies import Duration, MaxConnectionAge
from .routing import CONSUMED, Decoder, Frame, Protocol


__all__ = [
    "BINANCE_MAX_AGE",
    "COMBINED_STREAM_URL",
    "BinanceProtocol",
]

#: Binance's combined-stream endpoint (spot), to use with ``subscriptions=[...]``.
COMBINED_STREAM_URL: Final = "wss://stream.binance.com:9443/stream"

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

    def with_decoder(self, decoder: Decoder) -> BinanceProtocol:
        """A copy decoding with ``decoder`` (its request ids start again at 1)."""
        return attrs.evolve(self, decoder=decoder)


def _error_reply(message: dict[str, Any], error: object, frame: str | bytes) -> FrameError:
    """The FrameError of an error reply: names the request id, the code and the message."""
    detail = repr(error)
    if isinstance(error, dict) and ("code" in error or "msg" in error):
        detail = f"code {error.get('code')}: {error.get('msg')}"
    return FrameError(f"Binance error reply to request id {message.get('id')!r}: {detail}", frame)
