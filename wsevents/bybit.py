"""Bybit v5 WebSocket streams: :class:`BybitProtocol` (layer L1).

Public endpoints (``wss://stream.bybit.com/v5/public/spot``, ``.../linear``,
``.../inverse``, ``.../option``) push ``{"topic": "publicTrade.BTCUSDT",
"type": "snapshot", "ts": ..., "data": [...]}``; the private endpoint
(``wss://stream.bybit.com/v5/private``) pushes ``{"topic": "order", ...}``.
Messages are routed by ``topic``: ``message:orderbook.50.BTCUSDT``,
``message:publicTrade.BTCUSDT``, ``message:order``, and delivered whole.

* Subscriptions: ``{"op": "subscribe", "args": [...]}`` with at most 10 topics
  per frame (Bybit's limit for spot); longer lists are split.
* Replies to ``op`` frames (``{"success": true, "ret_msg": "", "conn_id": ...,
  "op": "subscribe"}``) are consumed; a failed one without a request id raises
  :class:`~wsevents.FrameError` (an ``error`` event naming ``ret_msg``).
* Heartbeat: ``{"op": "ping"}`` every 20 s (Bybit closes a silent client);
  its answer (``"ret_msg": "pong"`` or ``"op": "pong"``) is consumed.
* Login, with ``api_key`` and ``api_secret``, on every connect:
  ``{"op": "auth", "args": [api_key, expires, signature]}``, where ``expires``
  is a millisecond timestamp a few seconds ahead and ``signature`` the hex
  HMAC-SHA256 of ``"GET/realtime" + expires`` with the secret, built afresh on
  each call.  A rejected login raises :class:`~wsevents.AuthenticationError`.
* Requests (the v5 trade WebSocket, ``order.create`` and friends) carry
  ``reqId``; other ``op`` requests carry ``req_id``.  Error replies
  (``retCode != 0``, ``success: false``) become :class:`~wsevents.RequestError`.

The credentials are never shown: not in the repr, not in any message.

.. versionadded:: 0.2
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Final

import attrs

from ._venue import check_callable, check_credential, check_seconds
from .exceptions import AuthenticationError, ConfigError, FrameError, RequestError
from .routing import CONSUMED, Decoder, Frame, HeartbeatSpec, Protocol, Session


__all__ = [
    "BYBIT_HEARTBEAT",
    "BybitProtocol",
    "PRIVATE_URL",
    "PUBLIC_SPOT_URL",
    "bybit_signature",
]

#: Bybit's public spot endpoint (v5).
PUBLIC_SPOT_URL: Final = "wss://stream.bybit.com/v5/public/spot"
#: Bybit's private endpoint (v5): orders, executions, positions, wallet.
PRIVATE_URL: Final = "wss://stream.bybit.com/v5/private"

_PING: Final = {"op": "ping"}


def _is_pong(message: Any) -> bool:
    """Bybit's answers to ``{"op": "ping"}``: ``op: pong`` (derivatives) or
    ``op: ping`` with ``ret_msg: pong`` (spot)."""
    if message.__class__ is not dict:
        return False
    op = message.get("op")
    return op == "pong" or (op == "ping" and message.get("ret_msg") == "pong")


#: ``{"op": "ping"}`` every 20 seconds; the answer is due within 10.
BYBIT_HEARTBEAT: Final = HeartbeatSpec(
    interval=20.0, frame=_PING, is_answer=_is_pong, timeout=10.0, when_idle=False
)


def bybit_signature(api_secret: str, expires: int) -> str:
    """The hex HMAC-SHA256 of ``"GET/realtime" + expires`` keyed with ``api_secret``."""
    payload = f"GET/realtime{expires}".encode()
    return hmac.new(api_secret.encode(), payload, hashlib.sha256).hexdigest()


@attrs.frozen(kw_only=True)
class BybitProtocol(Protocol):
    """Bybit v5 public and private streams, with login and requests.

    Args:
        api_key: the API key, for the private endpoint (None: no login).
        api_secret: its secret (required with ``api_key``).
        expires_in: seconds from now until the login's ``expires``.
        login_timeout: seconds to wait for the login's acknowledgement.
        clock: wall-clock seconds since the epoch (injectable for tests).
        client_heartbeat: the heartbeat (default :data:`BYBIT_HEARTBEAT`).
        decoder: the JSON decoder (``json.loads``, ``orjson.loads``, ...).

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
    expires_in: float = attrs.field(default=5.0, validator=check_seconds("expires_in"))
    login_timeout: float = attrs.field(default=10.0, validator=check_seconds("login_timeout"))
    clock: Callable[[], float] = attrs.field(
        default=time.time, repr=False, validator=check_callable("clock")
    )
    client_heartbeat: HeartbeatSpec | None = attrs.field(default=BYBIT_HEARTBEAT)
    decoder: Decoder = attrs.field(
        default=json.loads, repr=False, validator=check_callable("decoder")
    )

    #: Bybit accepts at most 10 topics in one spot subscribe frame.
    max_channels_per_frame = 10
    #: 500 connection attempts per 5 minutes per IP.
    connect_limit = (500, 300.0)
    #: the event time of a push (epoch milliseconds)
    event_time = "ts"

    def __attrs_post_init__(self) -> None:
        if (self.api_key is None) != (self.api_secret is None):
            raise ConfigError("api_secret", "<hidden>", "api_key and api_secret go together")

    @property
    def private(self) -> bool:
        """True when the protocol logs in (it has credentials)."""
        return self.api_key is not None

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        """Route a frame by its ``topic``; consume ``op`` replies and heartbeat answers.

        Raises:
            FrameError: the frame is not valid JSON, or it is a failed ``op``
                reply that answers no request.
        """
        try:
            message = self.decoder(frame)
        except ValueError as exc:  # JSONDecodeError (json, orjson), UnicodeDecodeError
            raise FrameError(f"frame is not valid JSON ({exc})", frame) from exc
        if message.__class__ is not dict:
            return None, message
        topic = message.get("topic")
        if topic.__class__ is str and topic:
            return topic, message
        if "op" in message:
            if _is_pong(message) or self.reply_id(message) is not None:
                return CONSUMED, message
            error = self.reply_error(message)
            if error is not None:
                raise FrameError(f"Bybit {message.get('op')!r} failed: {error.message}", frame)
            return CONSUMED, message
        return None, message

    def subscribe(self, channels: Sequence[str]) -> list[Frame]:
        """``{"op": "subscribe", "args": [...]}`` frames of at most 10 topics."""
        return self._frames("subscribe", channels)

    def unsubscribe(self, channels: Sequence[str]) -> list[Frame]:
        """``{"op": "unsubscribe", "args": [...]}`` frames of at most 10 topics."""
        return self._frames("unsubscribe", channels)

    def _frames(self, op: str, channels: Sequence[str]) -> list[Frame]:
        topics = list(channels)
        step = self.max_channels_per_frame
        return [{"op": op, "args": topics[i : i + step]} for i in range(0, len(topics), step)]

    # -- sessions ------------------------------------------------------------------------

    def login_frame(self) -> dict[str, Any]:
        """A fresh ``auth`` frame: ``expires`` from the clock, a new signature.

        Raises:
            ConfigError: the protocol has no credentials.
        """
        if self.api_key is None or self.api_secret is None:
            raise ConfigError("api_key", None, "a login needs api_key and api_secret")
        expires = int((self.clock() + self.expires_in) * 1000)
        return {
            "op": "auth",
            "args": [self.api_key, expires, bybit_signature(self.api_secret, expires)],
        }

    async def on_open(self, session: Session) -> None:
        """Log in (when the protocol has credentials) and await the acknowledgement.

        Raises:
            AuthenticationError: Bybit rejected the login.
        """
        if self.api_key is None:
            return
        try:
            await session.request(self.login_frame(), self.login_timeout)
        except RequestError as exc:
            raise AuthenticationError(f"Bybit rejected the login: {exc.message}", exc.code) from exc

    def prepare_request(self, frame: Frame, request_id: int) -> tuple[Frame, Hashable]:
        """Stamp ``reqId`` (trade requests: ``op`` with a dot) or ``req_id`` into ``frame``.

        The ``auth`` frame's reply is keyed ``"auth"`` (Bybit does not always
        echo its ``req_id``).

        Raises:
            TypeError: ``frame`` is not a mapping with an ``op``.
        """
        if not isinstance(frame, Mapping) or not isinstance(frame.get("op"), str):
            raise TypeError("a Bybit request is a mapping with an 'op'")
        key = str(request_id)
        op = frame["op"]
        if op == "auth":
            return dict(frame), "auth"
        field = "reqId" if "." in op else "req_id"
        return {**frame, field: key}, key

    def reply_id(self, message: Any) -> Hashable | None:
        """``"auth"`` for the login's reply, else its ``reqId`` / ``req_id`` (None if empty)."""
        if message.__class__ is not dict:
            return None
        if message.get("op") == "auth":
            return "auth"
        key = message.get("reqId") or message.get("req_id")
        return str(key) if key else None

    def reply_error(self, message: Any) -> RequestError | None:
        """A :class:`RequestError` for ``success: false`` or ``retCode != 0``, else None."""
        if message.__class__ is not dict:
            return None
        if message.get("success") is False:
            return RequestError(message.get("ret_code"), str(message.get("ret_msg", "")), message)
        code = message.get("retCode")
        if code is not None and code != 0:
            return RequestError(code, str(message.get("retMsg", "")), message)
        return None

    def with_decoder(self, decoder: Decoder) -> BybitProtocol:
        """A copy decoding with ``decoder``."""
        return attrs.evolve(self, decoder=decoder)
