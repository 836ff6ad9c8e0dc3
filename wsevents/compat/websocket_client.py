"""A drop-in for websocket-client's ``WebSocketApp``, on wsevents (layer L5).

Change one line::

    from websocket import WebSocketApp          # before
    from wsevents.compat import WebSocketApp    # after

and the callbacks keep their websocket-client signatures, while the
connection underneath is :class:`wsevents.sync.Connection`: callbacks run on
one dispatch thread, never on the thread that reads the socket, so a slow
callback no longer causes ping timeouts; reconnects use wsevents' supervisor.

Behaviour (websocket-client 1.x first, then what changes):

* ``on_open(ws)`` after every connection; on a reconnect ``on_reconnect(ws)``
  instead when it is given (as in websocket-client).
* ``on_message(ws, message)``: the raw ``str`` of a text frame, ``bytes`` of a
  binary frame; ``on_data(ws, data, opcode, fin)`` just before it, with
  ``fin`` always True (fragments are reassembled by ``websockets``).
* ``on_close(ws, close_status_code, close_msg)`` **after every connection
  that opened**, drops included (websocket-client does not call it on a drop),
  with the close frame's code and reason, or ``None, None`` when there was no
  close frame; and once at the end when no connection ever opened.
* ``on_error(ws, exc)``: a failed connection attempt, the fatal error that
  ends ``run_forever`` (before the final ``on_close``), and any exception
  raised by another callback.  Errors are wsevents' own:
  :class:`~wsevents.HandshakeRejected` (with ``.status``) for a refused
  handshake, :class:`~wsevents.ConnectError` for the network.
* ``run_forever(reconnect=N)`` waits ``N`` seconds before every attempt, like
  websocket-client, but an HTTP 401, 403, 404 (any 4xx except 408/425/429)
  is fatal instead of retried forever: ``on_error``, ``on_close``, then
  ``run_forever`` returns.  A server's close frame is reconnected like a drop.
  Without ``reconnect`` (or with 0) the first disconnect ends ``run_forever``.
* ``run_forever`` returns True when an error occurred (a drop, a failed
  attempt, a fatal error), False when it ended by :meth:`WebSocketApp.close`,
  a server's close frame, or Ctrl-C.
* ``ping_interval``/``ping_timeout`` are ``websockets``' keepalive (0 or None
  disables it, as in websocket-client); ``ping_interval > ping_timeout`` is not
  required.
* ``sslopt`` becomes an :class:`ssl.SSLContext`: ``context`` (used as is),
  ``cert_reqs`` (``ssl.CERT_NONE`` also turns ``check_hostname`` off unless it
  is given), ``check_hostname``, ``ca_certs``, ``ca_cert_path``, ``certfile``,
  ``keyfile``, ``password``, ``ciphers``, ``ecdh_curve``.  It is ignored for
  ``ws://`` URLs, as in websocket-client.
* ``header`` (a list of ``"Name: value"`` strings, a dict, or a callable
  returning either, called before every connect), ``cookie`` and ``origin``
  become handshake headers; no ``Origin`` header is sent unless ``origin`` is
  given (``suppress_origin`` is accepted).
* ``http_proxy_host``, ``http_proxy_port``, ``http_proxy_auth``, ``proxy_type``
  and ``http_no_proxy`` become ``Connection(proxy=...)`` (HTTP CONNECT or
  SOCKS; without them, the environment's proxy); ``subprotocols`` is offered.
* ``skip_utf8_validation`` and ``keep_running`` are accepted and have no effect.

Not supported, and refused with :class:`UnsupportedOption` (a
:class:`~wsevents.ConfigError` and a :exc:`NotImplementedError`) naming the
argument rather than silently ignored: ``get_mask_key``, ``socket``,
``on_ping``, ``on_pong`` and ``on_cont_message`` (control frames and
fragments stay inside ``websockets``); ``run_forever``'s ``sockopt``,
``ping_payload``, ``http_proxy_timeout``, ``host`` and ``dispatcher`` (no ``rel``: the loop is
wsevents' own); ``sslopt`` keys other than those above; ``close(status=)``
other than 1000, and ``close(reason=)``.
"""

from __future__ import annotations

import logging
import ssl as _ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

from .. import (
    Closed,
    ConfigError,
    Connected,
    Disconnected,
    DisconnectReason,
    FixedDelay,
    NotConnected,
    Protocol,
    Reconnecting,
    State,
    WSEventsError,
    sync,
)


__all__ = [
    "ABNF",
    "UnsupportedOption",
    "WebSocketApp",
    "WebSocketConnectionClosedException",
    "WebSocketException",
    "enableTrace",
]

logger = logging.getLogger("wsevents")

#: the close code ``websockets`` reports when no close frame was exchanged
_NO_CLOSE_FRAME: Final = 1006
#: without ``reconnect`` the connection is closed on its first disconnect; the
#: engine's reconnect waits this long meanwhile, so it never happens
#: websocket-client's close handshake timeout
_CLOSE_TIMEOUT: Final = 3.0


class ABNF:
    """The frame opcodes of websocket-client's ``ABNF`` (only the constants)."""

    OPCODE_CONT: Final = 0x0
    OPCODE_TEXT: Final = 0x1
    OPCODE_BINARY: Final = 0x2
    OPCODE_CLOSE: Final = 0x8
    OPCODE_PING: Final = 0x9
    OPCODE_PONG: Final = 0xA


class WebSocketException(WSEventsError):
    """Root of the errors named after websocket-client's."""


class WebSocketConnectionClosedException(WebSocketException, NotConnected):
    """``send()`` while there is no open connection (also a :class:`~wsevents.NotConnected`)."""


class UnsupportedOption(ConfigError, NotImplementedError):
    """A websocket-client argument that wsevents cannot honour; names the argument."""


def enableTrace(
    traceable: bool,
    handler: logging.Handler | None = None,
    level: str | int = "DEBUG",
) -> None:
    """websocket-client's ``enableTrace``: log wsevents (and ``websockets``) in detail.

    Args:
        traceable: turn tracing on (False: back to the default level).
        handler: where to log (default: a ``StreamHandler`` on stderr).
        level: the level while tracing.
    """
    for name in ("wsevents", "websockets"):
        target = logging.getLogger(name)
        if not traceable:
            target.setLevel(logging.NOTSET)
            continue
        target.setLevel(level)
        if handler is not None:
            if handler not in target.handlers:
                target.addHandler(handler)
        elif not target.handlers:
            target.addHandler(logging.StreamHandler())


class _RawProtocol(Protocol):
    """Frames are delivered as they came: ``str`` or ``bytes``, on ``message`` only."""

    __slots__ = ()

    def decode(self, frame: str | bytes) -> tuple[str | None, Any]:
        return None, frame


class _Sock:
    """What ``WebSocketApp.sock`` offers of websocket-client's ``WebSocket``."""

    __slots__ = ("_app", "_conn")

    def __init__(self, app: WebSocketApp, conn: sync.Connection) -> None:
        self._app = app
        self._conn = conn

    @property
    def connected(self) -> bool:
        """True while the connection is open."""
        return self._conn.state is State.CONNECTED

    def send(self, data: str | bytes, opcode: int = ABNF.OPCODE_TEXT) -> None:
        """Send a frame (see :meth:`WebSocketApp.send`)."""
        self._app.send(data, opcode)


def _unsupported(name: str, value: Any, why: str) -> UnsupportedOption:
    return UnsupportedOption(name, value, f"not supported by wsevents.compat.WebSocketApp: {why}")


class WebSocketApp:
    """websocket-client's ``WebSocketApp`` on wsevents (see the module docstring).

    The callbacks are read from the attributes at call time, so
    ``app.on_message = f`` after construction works, as in websocket-client.

    Raises:
        UnsupportedOption: an argument wsevents cannot honour, named.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        url: str,
        header: list[str] | Mapping[str, str] | Callable[[], Any] | None = None,
        on_open: Callable[..., Any] | None = None,
        on_reconnect: Callable[..., Any] | None = None,
        on_message: Callable[..., Any] | None = None,
        on_error: Callable[..., Any] | None = None,
        on_close: Callable[..., Any] | None = None,
        on_ping: Callable[..., Any] | None = None,
        on_pong: Callable[..., Any] | None = None,
        on_cont_message: Callable[..., Any] | None = None,
        keep_running: bool = True,
        get_mask_key: Callable[..., Any] | None = None,
        cookie: str | None = None,
        subprotocols: list[str] | None = None,
        on_data: Callable[..., Any] | None = None,
        socket: Any = None,
    ) -> None:
        self.url = url
        self.header = header if header is not None else []
        self.cookie = cookie
        self.on_open = on_open
        self.on_reconnect = on_reconnect
        self.on_message = on_message
        self.on_data = on_data
        self.on_error = on_error
        self.on_close = on_close
        self.on_ping = on_ping
        self.on_pong = on_pong
        self.on_cont_message = on_cont_message
        self.get_mask_key = get_mask_key
        self.subprotocols = subprotocols
        self.prepared_socket = socket
        #: True while run_forever() runs (websocket-client's attribute)
        self.keep_running = False
        #: True once an error occurred in the current run (what run_forever returns)
        self.has_errored = False
        self._lock = threading.Lock()
        self._conn: sync.Connection | None = None
        self._opened = False
        self._closed_once = False
        self._check_constructor_options()

    def __repr__(self) -> str:
        return f"<wsevents.compat.WebSocketApp {self.url!r} running={self.keep_running}>"

    @property
    def sock(self) -> _Sock | None:
        """While ``run_forever`` runs, an object with ``connected`` and ``send``; else None."""
        conn = self._conn
        return None if conn is None else _Sock(self, conn)

    # -- sending and closing -----------------------------------------------------------

    def send(self, data: str | bytes, opcode: int = ABNF.OPCODE_TEXT) -> None:
        """Send ``data`` as a text frame (default) or, with ``ABNF.OPCODE_BINARY``, binary.

        Callable from any thread, callbacks included.

        Raises:
            WebSocketConnectionClosedException: there is no open connection.
            UnsupportedOption: another opcode (pings are ``websockets``' own).
        """
        if opcode == ABNF.OPCODE_TEXT:
            frame: str | bytes = (
                bytes(data).decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
            )
        elif opcode == ABNF.OPCODE_BINARY:
            frame = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        else:
            raise _unsupported(
                "opcode", opcode, "only ABNF.OPCODE_TEXT and ABNF.OPCODE_BINARY can be sent"
            )
        conn = self._conn
        if conn is None:
            raise WebSocketConnectionClosedException("Connection is already closed.")
        try:
            conn.send(frame)
        except NotConnected as exc:
            raise WebSocketConnectionClosedException("Connection is already closed.") from exc

    def send_text(self, text_data: str) -> None:
        """Send a text frame."""
        self.send(text_data, ABNF.OPCODE_TEXT)

    def send_bytes(self, data: bytes | bytearray) -> None:
        """Send a binary frame."""
        self.send(bytes(data), ABNF.OPCODE_BINARY)

    def close(
        self, *, status: int = 1000, reason: bytes | str = b"", timeout: float | None = None
    ) -> None:
        """Close the connection; ``run_forever`` returns.  Any thread, callbacks included.

        Args:
            status: only 1000 is supported.
            reason: only an empty reason is supported.
            timeout: seconds to wait for the shutdown (default
                :data:`wsevents.sync.DEFAULT_TIMEOUT`).
        """
        if status != 1000:
            raise _unsupported("status", status, "the close code is always 1000")
        if reason:
            raise _unsupported("reason", reason, "the close reason is always empty")
        self.keep_running = False
        conn = self._conn
        if conn is not None:
            conn.close(sync.DEFAULT_TIMEOUT if timeout is None else timeout)

    # -- running ----------------------------------------------------------------------------

    def run_forever(
        self,
        sockopt: Any = None,
        sslopt: Mapping[str, Any] | None = None,
        ping_interval: float = 0,
        ping_timeout: float | None = None,
        ping_payload: str = "",
        http_proxy_host: str | None = None,
        http_proxy_port: int | str | None = None,
        http_no_proxy: list[str] | None = None,
        http_proxy_auth: tuple[str, str] | None = None,
        http_proxy_timeout: float | None = None,
        skip_utf8_validation: bool = False,
        host: str | None = None,
        origin: str | None = None,
        dispatcher: Any = None,
        suppress_origin: bool = False,
        proxy_type: str | None = None,
        reconnect: float | None = None,
    ) -> bool:
        """Connect and serve until closed, calling the callbacks on the dispatch thread.

        Args:
            sslopt: TLS options, mapped to an ``ssl.SSLContext`` (module docstring).
            ping_interval: seconds between keepalive pings (0: none).
            ping_timeout: seconds to wait for a pong (None: no limit).
            origin: the ``Origin`` header.
            suppress_origin: send no ``Origin`` header.
            reconnect: seconds to wait before each reconnect (0 or None: do not
                reconnect).

        Returns:
            True when an error occurred, False after ``close()``, a server's
            close frame or Ctrl-C.

        Raises:
            UnsupportedOption: an argument wsevents cannot honour, named.
            ConfigError: a bad URL or option value.
            WebSocketException: ``run_forever`` is already running.
        """
        refused = {
            "sockopt": sockopt or None,
            "ping_payload": ping_payload or None,
            "http_proxy_timeout": http_proxy_timeout,
            "host": host,
            "dispatcher": dispatcher,
        }
        for name, value in refused.items():
            if value is not None:
                raise _unsupported(name, value, _WHY.get(name, "wsevents has no equivalent"))
        self._check_constructor_options()
        delay = _reconnect_delay(reconnect)
        proxy = _proxy_url(
            self.url, http_proxy_host, http_proxy_port, http_proxy_auth, proxy_type, http_no_proxy
        )
        options: dict[str, Any] = {
            "protocol": _RawProtocol(),
            "headers": self._headers_callable(origin, suppress_origin),
            "ping_interval": float(ping_interval) if ping_interval else None,
            "ping_timeout": float(ping_timeout) if ping_timeout else None,
            "close_timeout": _CLOSE_TIMEOUT,
            "proxy": proxy,
            "subprotocols": self.subprotocols,
        }
        if isinstance(self.url, str) and self.url.startswith("wss://"):
            options["ssl"] = _ssl_context(sslopt)
        if delay:
            options["backoff"] = FixedDelay(delay)
        else:
            options["max_reconnect_attempts"] = 0  # one connection only, as websocket-client
        with self._lock:
            if self._conn is not None:
                raise WebSocketException("socket is already opened")
            conn = sync.Connection(self.url, **options)
            self._conn = conn
            self._opened = False
            self._closed_once = False
            self.has_errored = False
            self.keep_running = True
        conn.on("connect", self._on_connect)
        conn.on("message", self._on_message)
        conn.on("disconnect", self._on_disconnect)
        conn.on("reconnecting", self._on_reconnecting)
        conn.on("closed", self._on_closed)
        conn.on("error", self._on_error)
        interrupted = False
        try:
            conn.run_forever()
        except KeyboardInterrupt:
            interrupted = True
        except WSEventsError:
            pass  # the fatal error was given to on_error
        finally:
            with self._lock:
                self.keep_running = False
                self._conn = None
        return False if interrupted else self.has_errored

    # -- events (on the dispatch thread) --------------------------------------------------------

    def _on_connect(self, event: Connected) -> None:
        self._opened = True
        if event.is_reconnect and self.on_reconnect is not None:
            self._callback(self.on_reconnect)
        else:
            self._callback(self.on_open)

    def _on_message(self, message: str | bytes) -> None:
        opcode = ABNF.OPCODE_BINARY if isinstance(message, bytes) else ABNF.OPCODE_TEXT
        self._callback(self.on_data, message, opcode, True)
        self._callback(self.on_message, message)

    def _on_disconnect(self, event: Disconnected) -> None:
        if not event.proactive and event.reason is not DisconnectReason.SERVER_CLOSE:
            self.has_errored = True
        if self._opened:
            self._opened = False
            self._closed_once = True
            if event.code is None or event.code == _NO_CLOSE_FRAME:
                self._callback(self.on_close, None, None)
            else:
                self._callback(self.on_close, int(event.code), event.reason_text)

    def _on_reconnecting(self, event: Reconnecting) -> None:
        if event.error is not None:
            self.has_errored = True
            self._callback(self.on_error, event.error)

    def _on_closed(self, event: Closed) -> None:
        if event.error is not None:
            self.has_errored = True
            self._callback(self.on_error, event.error)
        if not self._closed_once:
            self._closed_once = True
            self._callback(self.on_close, None, None)

    def _on_error(self, exc: Exception) -> None:
        self._callback(self.on_error, exc)

    def _callback(self, callback: Callable[..., Any] | None, *args: Any) -> None:
        if callback is None:
            return
        if callback is self.on_error:
            try:
                callback(self, *args)
            except Exception:
                logger.exception("wsevents.compat: on_error raised")
            return
        # Any other callback's exception reaches on_error through the
        # connection's error event, as websocket-client does.
        callback(self, *args)

    # -- options ---------------------------------------------------------------------------------

    def _check_constructor_options(self) -> None:
        for name in ("get_mask_key", "prepared_socket", "on_ping", "on_pong", "on_cont_message"):
            value = getattr(self, name)
            if value is not None:
                label = "socket" if name == "prepared_socket" else name
                raise _unsupported(label, value, _WHY[label])

    def _headers_callable(
        self, origin: str | None, suppress_origin: bool
    ) -> Callable[[], dict[str, str]]:
        header, cookie = self.header, self.cookie
        extra: dict[str, str] = {}
        if cookie:
            extra["Cookie"] = cookie
        if origin and not suppress_origin:
            extra["Origin"] = origin
        if not callable(header):
            fixed = {**_parse_header(header), **extra}
            return lambda: fixed

        def headers() -> dict[str, str]:
            return {**_parse_header(header()), **extra}

        return headers


_WHY: Final[dict[str, str]] = {
    "sockopt": "socket options are not exposed by websockets",
    "ping_payload": "keepalive pings are websockets' own (use ping_interval/ping_timeout)",
    "http_proxy_timeout": "the proxy handshake is bounded by the connection's open_timeout",
    "host": "the Host header comes from the URL",
    "dispatcher": "the event loop is wsevents' own (no rel); run_forever() reconnects itself",
    "get_mask_key": "frame masking is websockets' own",
    "socket": "wsevents opens its own connections (a prepared socket cannot be reconnected)",
    "on_ping": "pings are answered by websockets and not reported",
    "on_pong": "keepalive pongs are checked by websockets (ping_timeout) and not reported",
    "on_cont_message": "fragments are reassembled by websockets: whole messages reach "
    "on_message",
}


def _proxy_url(
    url: str,
    host: str | None,
    port: int | str | None,
    auth: tuple[str, str] | None,
    proxy_type: str | None,
    no_proxy: list[str] | None,
) -> str | bool | None:
    """websocket-client's proxy arguments as ``Connection(proxy=)``: a URL, or True
    (the environment's) when no ``http_proxy_host`` is given."""
    if host is None:
        if port is not None or auth is not None or proxy_type is not None:
            raise ConfigError("http_proxy_host", host, "is needed with the other proxy options")
        return True
    kind = proxy_type or "http"
    if kind not in ("http", "socks4", "socks4a", "socks5", "socks5h"):
        raise ConfigError("proxy_type", kind, "must be http, socks4, socks4a, socks5 or socks5h")
    if no_proxy:
        target = urlsplit(url).hostname or ""
        if any(target == h or target.endswith("." + h.lstrip(".")) for h in no_proxy):
            return None
    creds = ""
    if auth is not None:
        if not (isinstance(auth, tuple) and len(auth) == 2):
            raise ConfigError("http_proxy_auth", "<hidden>", "must be a (user, password) tuple")
        creds = f"{quote(str(auth[0]), safe='')}:{quote(str(auth[1]), safe='')}@"
    default_port = 1080 if kind.startswith("socks") else 80
    return f"{kind}://{creds}{host}:{port or default_port}"


def _reconnect_delay(reconnect: object) -> float:
    if reconnect is None:
        return 0.0
    if isinstance(reconnect, bool) or not isinstance(reconnect, (int, float)) or reconnect < 0:
        raise ConfigError("reconnect", reconnect, "must be a number of seconds >= 0, or None")
    return float(reconnect)


def _parse_header(header: object) -> dict[str, str]:
    """websocket-client's ``header``: a list of ``"Name: value"`` strings, or a mapping."""
    if header is None:
        return {}
    if isinstance(header, Mapping):
        return {str(key): str(value) for key, value in header.items()}
    if isinstance(header, (list, tuple)):
        parsed: dict[str, str] = {}
        for line in header:
            name, sep, value = str(line).partition(":")
            if not sep or not name.strip():
                raise ConfigError("header", line, "expected 'Name: value'")
            parsed[name.strip()] = value.strip()
        return parsed
    raise ConfigError("header", header, "must be a list of 'Name: value' strings, or a dict")


_SSLOPT_KEYS: Final = frozenset(
    {
        "context",
        "cert_reqs",
        "check_hostname",
        "ca_certs",
        "ca_cert_path",
        "certfile",
        "keyfile",
        "password",
        "ciphers",
        "ecdh_curve",
    }
)


def _ssl_context(sslopt: Mapping[str, Any] | None) -> _ssl.SSLContext | None:
    """websocket-client's ``sslopt`` as an ``ssl.SSLContext`` (None: the defaults)."""
    if not sslopt:
        return None
    for key in sslopt:
        if key not in _SSLOPT_KEYS:
            raise _unsupported(f"sslopt[{key!r}]", sslopt[key], "unknown or unsupported key")
    context = sslopt.get("context")
    if context is not None:
        if not isinstance(context, _ssl.SSLContext):
            raise ConfigError("sslopt['context']", context, "must be an ssl.SSLContext")
        return context
    ctx = _ssl.create_default_context(
        cafile=sslopt.get("ca_certs"), capath=sslopt.get("ca_cert_path")
    )
    cert_reqs = sslopt.get("cert_reqs", _ssl.CERT_REQUIRED)
    # check_hostname must be off before verification can be turned off.
    ctx.check_hostname = bool(sslopt.get("check_hostname", cert_reqs != _ssl.CERT_NONE))
    ctx.verify_mode = _ssl.VerifyMode(cert_reqs)
    if sslopt.get("certfile"):
        ctx.load_cert_chain(
            sslopt["certfile"], sslopt.get("keyfile"), password=sslopt.get("password")
        )
    if sslopt.get("ciphers"):
        ctx.set_ciphers(sslopt["ciphers"])
    if sslopt.get("ecdh_curve"):
        ctx.set_ecdh_curve(sslopt["ecdh_curve"])
    return ctx
