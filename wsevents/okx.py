"""OKX v5 WebSocket channels: :class:`OkxProtocol` (layer L1).

OKX pushes ``{"arg": {"channel": "tickers", "instId": "BTC-USDT"}, "data":
[...]}`` (``wss://ws.okx.com:8443/ws/v5/public``, ``.../private``,
``.../business``).  wsevents names such a channel ``channel:instId``
(``message:tickers:BTC-USDT``, ``message:books5:ETH-USDT``), or
``channel:instType`` when the argument has an instrument type instead
(``orders:SPOT``), or just ``channel`` (``account``); the whole message is
delivered (books need its ``action``).

* Subscriptions: one ``{"op": "subscribe", "args": [{"channel": ...,
  "instId": ...}, ...]}`` frame; ``"orders:SPOT"`` becomes ``{"channel":
  "orders", "instType": "SPOT"}`` (the part after the colon is an instrument
  type when it is one of ``SPOT``, ``MARGIN``, ``SWAP``, ``FUTURES``,
  ``OPTION``, ``ANY``).
* Event replies (``{"event": "subscribe", ...}``, ``unsubscribe``, ``login``,
  ``channel-conn-count``) are consumed; ``{"event": "error", "code": ...,
  "msg": ...}`` answering no request raises :class:`~wsevents.FrameError`.
* Heartbeat: OKX closes a connection after 30 s without data (close 4004);
  when nothing was received for 25 s the client sends the text ``ping`` and
  expects ``pong``.
* Login, with ``api_key``, ``api_secret`` and ``passphrase``, on every connect:
  ``{"op": "login", "args": [{"apiKey", "passphrase", "timestamp", "sign"}]}``
  where ``sign`` is base64(HMAC-SHA256(timestamp + "GET" +
  "/users/self/verify")) with the secret and ``timestamp`` the clock's Unix
  seconds, built afresh on each call.  A rejected login raises
  :class:`~wsevents.AuthenticationError`.
* ``{"event": "notice", "code": "64008"}`` (the connection will close for a
  service upgrade) asks for a handover: :meth:`OkxProtocol.wants_handover`.
* Requests (``op: order``, ``batch-orders``, ``cancel-order``, ...) carry a
  string ``id``; replies with ``code != "0"`` become
  :class:`~wsevents.RequestError`.

The credentials are never shown: not in the repr, not in any message.

.. versionadded:: 0.2
"""

from __future__ import annotations

import base64
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
    "OKX_HEARTBEAT",
    "OkxProtocol",
    "PRIVATE_URL",
    "PUBLIC_URL",
    "channel_arg",
    "channel_name",
    "okx_signature",
]

#: OKX's public endpoint (v5).
PUBLIC_URL: Final = "wss://ws.okx.com:8443/ws/v5/public"
#: OKX's private endpoint (v5): account, positions, orders; trading requests.
PRIVATE_URL: Final = "wss://ws.okx.com:8443/ws/v5/private"

_INST_TYPES: Final = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"})
_CONSUMED_EVENTS: Final = frozenset(
    {"subscribe", "unsubscribe", "login", "channel-conn-count", "channel-conn-count-error"}
)
#: error codes OKX answers a failed login with (an ``event: error`` without an id):
#: 60001-60003 empty key/sign/passphrase, 60004 invalid timestamp, 60005 invalid
#: key, 60006 timestamp expired, 60007 invalid sign, 60009 login failed,
#: 60024 wrong passphrase
_LOGIN_ERRORS: Final = frozenset(
    {"60001", "60002", "60003", "60004", "60005", "60006", "60007", "60009", "60024"}
)
#: ``event: notice`` code: the connection will be closed soon (service upgrade)
_UPGRADE_NOTICE: Final = "64008"


def _is_pong(message: Any) -> bool:
    return message.__class__ is str and message == "pong"


#: The text ``ping`` after 25 s without data; ``pong`` is due within 5 s
#: (OKX closes at 30 s).
OKX_HEARTBEAT: Final = HeartbeatSpec(
    interval=25.0, frame="ping", is_answer=_is_pong, timeout=5.0, when_idle=True
)


def okx_signature(api_secret: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(timestamp + "GET" + "/users/self/verify")) keyed with ``api_secret``."""
    payload = f"{timestamp}GET/users/self/verify".encode()
    digest = hmac.new(api_secret.encode(), payload, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def channel_name(arg: Mapping[str, Any]) -> str:
    """The wsevents channel of an OKX ``arg``: ``channel:instId``, ``channel:instType``
    or ``channel``."""
    channel = str(arg.get("channel"))
    for key in ("instId", "instType"):
        value = arg.get(key)
        if value:
            return f"{channel}:{value}"
    return channel


def channel_arg(name: str) -> dict[str, str]:
    """The OKX ``arg`` of a wsevents channel name (the inverse of :func:`channel_name`)."""
    channel, sep, rest = name.partition(":")
    if not sep:
        return {"channel": channel}
    return {"channel": channel, ("instType" if rest in _INST_TYPES else "instId"): rest}


@attrs.frozen(kw_only=True)
class OkxProtocol(Protocol):
    """OKX v5 public, private and business channels, with login and requests.

    Args:
        api_key: the API key, for the private endpoints (None: no login).
        api_secret: its secret key (required with ``api_key``).
        passphrase: the API key's passphrase (required with ``api_key``).
        login_timeout: seconds to wait for the login's acknowledgement.
        clock: wall-clock seconds since the epoch (injectable for tests).
        client_heartbeat: the heartbeat (default :data:`OKX_HEARTBEAT`).
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
    passphrase: str | None = attrs.field(
        default=None, repr=False, validator=check_credential("passphrase")
    )
    login_timeout: float = attrs.field(default=10.0, validator=check_seconds("login_timeout"))
    clock: Callable[[], float] = attrs.field(
        default=time.time, repr=False, validator=check_callable("clock")
    )
    client_heartbeat: HeartbeatSpec | None = attrs.field(default=OKX_HEARTBEAT)
    #: the service-upgrade notice (64008) arrives unrouted
    handover_channels = frozenset({None})
    decoder: Decoder = attrs.field(
        default=json.loads, repr=False, validator=check_callable("decoder")
    )

    #: 3 connection attempts per second per IP.
    connect_limit = (3, 1.0)
    #: the event time of a push (epoch milliseconds)
    event_time = "data.0.ts"

    def __attrs_post_init__(self) -> None:
        given = [name for name in ("api_key", "api_secret", "passphrase") if getattr(self, name)]
        if given and len(given) != 3:
            missing = {"api_key", "api_secret", "passphrase"} - set(given)
            raise ConfigError(
                sorted(missing)[0], None, "api_key, api_secret and passphrase go together"
            )

    @property
    def private(self) -> bool:
        """True when the protocol logs in (it has credentials)."""
        return self.api_key is not None

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        """Route a push to ``channel:instId``; consume event replies and ``pong``.

        Raises:
            FrameError: the frame is not valid JSON, or it is an error event
                that answers no request.
        """
        if frame == "pong":
            return CONSUMED, "pong"
        try:
            message = self.decoder(frame)
        except ValueError as exc:  # JSONDecodeError (json, orjson), UnicodeDecodeError
            raise FrameError(f"frame is not valid JSON ({exc})", frame) from exc
        if message.__class__ is not dict:
            return None, message
        event = message.get("event")
        if event is None:
            if self.reply_id(message) is not None:
                return CONSUMED, message  # a trading request's reply
            arg = message.get("arg")
            if arg.__class__ is dict and "data" in message:
                return channel_name(arg), message
            return None, message
        if event in _CONSUMED_EVENTS or self.reply_id(message) is not None:
            return CONSUMED, message
        if event == "error":
            error = self.reply_error(message)
            detail = f"code {error.code}: {error.message}" if error is not None else "no detail"
            raise FrameError(f"OKX error event ({detail})", frame)
        return None, message  # "notice" and events to come: delivered on "message"

    def subscribe(self, channels: Sequence[str]) -> list[Frame]:
        """One ``{"op": "subscribe", "args": [{"channel", "instId"}, ...]}`` frame."""
        return [{"op": "subscribe", "args": [channel_arg(c) for c in channels]}] if channels else []

    def unsubscribe(self, channels: Sequence[str]) -> list[Frame]:
        """One ``{"op": "unsubscribe", "args": [...]}`` frame."""
        if not channels:
            return []
        return [{"op": "unsubscribe", "args": [channel_arg(c) for c in channels]}]

    def wants_handover(self, message: Any) -> bool:
        """True for OKX's notice that the connection will close for a service upgrade."""
        return (
            message.__class__ is dict
            and message.get("event") == "notice"
            and message.get("code") == _UPGRADE_NOTICE
        )

    # -- sessions ------------------------------------------------------------------------

    def login_frame(self) -> dict[str, Any]:
        """A fresh ``login`` frame: the clock's timestamp, a new signature.

        Raises:
            ConfigError: the protocol has no credentials.
        """
        if self.api_key is None or self.api_secret is None or self.passphrase is None:
            raise ConfigError("api_key", None, "a login needs api_key, api_secret and passphrase")
        timestamp = str(int(self.clock()))
        arg = {
            "apiKey": self.api_key,
            "passphrase": self.passphrase,
            "timestamp": timestamp,
            "sign": okx_signature(self.api_secret, timestamp),
        }
        return {"op": "login", "args": [arg]}

    async def on_open(self, session: Session) -> None:
        """Log in (when the protocol has credentials) and await the acknowledgement.

        Raises:
            AuthenticationError: OKX rejected the login.
        """
        if self.api_key is None:
            return
        try:
            await session.request(self.login_frame(), self.login_timeout)
        except RequestError as exc:
            raise AuthenticationError(f"OKX rejected the login: {exc.message}", exc.code) from exc

    def prepare_request(self, frame: Frame, request_id: int) -> tuple[Frame, Hashable]:
        """Stamp a string ``id`` into ``frame``; the ``login`` frame's reply is keyed ``"login"``.

        Raises:
            TypeError: ``frame`` is not a mapping with an ``op``.
        """
        if not isinstance(frame, Mapping) or not isinstance(frame.get("op"), str):
            raise TypeError("an OKX request is a mapping with an 'op'")
        if frame["op"] == "login":
            return dict(frame), "login"
        key = str(request_id)
        return {**frame, "id": key}, key

    def reply_id(self, message: Any) -> Hashable | None:
        """The reply's ``id``; ``"login"`` for the login's answer (success or a login error)."""
        if message.__class__ is not dict:
            return None
        key = message.get("id")
        if key:
            return str(key)
        event = message.get("event")
        if event == "login" or (event == "error" and message.get("code") in _LOGIN_ERRORS):
            return "login"
        return None

    def reply_error(self, message: Any) -> RequestError | None:
        """A :class:`RequestError` for ``event: error`` or ``code != "0"``, else None.

        A failed batch or order request names the first rejected item's
        ``sCode`` / ``sMsg`` when the top-level message is empty.
        """
        if message.__class__ is not dict:
            return None
        code = message.get("code")
        if message.get("event") != "error" and (code is None or str(code) == "0"):
            return None
        text = str(message.get("msg") or "")
        if not text:
            for item in message.get("data") or ():
                if isinstance(item, dict) and str(item.get("sCode", "0")) != "0":
                    text = f"{item.get('sCode')}: {item.get('sMsg', '')}"
                    break
        return RequestError(code, text, message)

    def with_decoder(self, decoder: Decoder) -> OkxProtocol:
        """A copy decoding with ``decoder``."""
        return attrs.evolve(self, decoder=decoder)
