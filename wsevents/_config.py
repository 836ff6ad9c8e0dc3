"""Validation of ``Connection`` options: every bad value raises ``ConfigError``
naming the option and the value (httpcore's ``enforce_*(..., name=)`` habit)."""

from __future__ import annotations

import math
import re
import ssl as _ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .exceptions import ConfigError


__all__ = [
    "OVERFLOW_MODES",
    "check_bool",
    "check_callable",
    "check_channels",
    "check_headers",
    "check_number",
    "check_overflow",
    "check_positive_int",
    "check_proxy",
    "check_ssl",
    "check_url",
    "mask_url",
    "validate_header_mapping",
]

Overflow = Literal["drop_oldest", "drop_newest", "block"]
OVERFLOW_MODES: tuple[str, ...] = ("drop_oldest", "drop_newest", "block")

_SECRET_KEYS = re.compile(
    r"(token|key|secret|signature|sig|password|passwd|pass|auth|listenkey|session|jwt|credential)",
    re.IGNORECASE,
)


def check_url(url: object) -> str:
    """A ``ws://`` or ``wss://`` URL with a host, or ConfigError."""
    if not isinstance(url, str):
        raise ConfigError("url", url, "must be a string such as 'wss://host/path'")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("url", url, f"is not a valid URL ({exc})") from exc
    if parts.scheme not in ("ws", "wss"):
        hint = " (use wss:// for https)" if parts.scheme in ("http", "https") else ""
        raise ConfigError("url", url, f"scheme must be ws:// or wss://{hint}")
    if not parts.hostname:
        raise ConfigError("url", url, "has no host")
    if port == 0:
        raise ConfigError("url", url, "port 0 is not a port one can connect to")
    if any(ch.isspace() for ch in url):
        raise ConfigError("url", url, "contains white space")
    return url


def mask_url(url: str) -> str:
    """``url`` with credentials and secret-looking query values replaced by ``***``.

    Used everywhere a URL is logged or put in an event payload.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_KEYS.search(k) for k, _ in pairs):
            query = urlencode(
                [(k, "***" if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


#: proxy URL schemes both transports understand
PROXY_SCHEMES: tuple[str, ...] = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")


def check_proxy(value: object) -> str | bool | None:
    """``proxy=``: True (the environment's, the default), None (none), or a URL
    ``scheme://[user:pass@]host:port`` with a scheme of :data:`PROXY_SCHEMES`.

    The error never shows the credentials of a bad URL.
    """
    if value is None or value is True:
        return value
    if not isinstance(value, str):
        raise ConfigError("proxy", _redacted(value), "must be a proxy URL, None, or True")
    shown = mask_url(value)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError("proxy", shown, "is not a valid URL") from None
    if parts.scheme not in PROXY_SCHEMES:
        why = f"scheme must be one of {', '.join(PROXY_SCHEMES)}"
        raise ConfigError("proxy", shown, why)
    if not parts.hostname:
        raise ConfigError("proxy", shown, "has no host")
    if port is None and not parts.scheme.startswith("http"):
        raise ConfigError("proxy", shown, "needs a port")
    return value


def check_number(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    strict: bool = False,
    allow_none: bool = False,
) -> float | None:
    """A finite real number >= ``minimum`` (> when ``strict``), or ConfigError."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, value, "must be a number" + (" or None" if allow_none else ""))
    if math.isnan(value) or math.isinf(value):
        raise ConfigError(name, value, "must be finite")
    if value < minimum or (strict and value == minimum):
        op = ">" if strict else ">="
        raise ConfigError(name, value, f"must be {op} {minimum:g}")
    return float(value)


def check_positive_int(name: str, value: object, *, allow_none: bool = False) -> int | None:
    """An int >= 1, or ConfigError."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        why = "must be an integer >= 1" + (" or None" if allow_none else "")
        raise ConfigError(name, value, why)
    return value


def check_bool(name: str, value: object) -> bool:
    """A bool, or ConfigError (no truthiness: ``"false"`` is not a bool)."""
    if not isinstance(value, bool):
        raise ConfigError(name, value, "must be True or False")
    return value


def check_channels(name: str, value: object) -> tuple[str, ...]:
    """An iterable of non-empty channel names (not a bare string), de-duplicated in order."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(name, value, "must be a list of channel names")
    channels: dict[str, None] = {}
    for channel in value:
        if not isinstance(channel, str) or not channel:
            raise ConfigError(name, value, f"channel {channel!r} is not a non-empty string")
        channels[channel] = None
    return tuple(channels)


HeadersOption = Mapping[str, str] | Callable[[], Mapping[str, str]] | None


def check_headers(value: object) -> HeadersOption:
    """A mapping of str to str, a callable returning one, or None."""
    if value is None or callable(value):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError("headers", value, "must be a mapping, a callable returning one, or None")
    return validate_header_mapping(value)


def validate_header_mapping(value: object, *, name: str = "headers") -> Mapping[str, str]:
    """Check a headers mapping (also what a ``headers`` callable returned).

    Header values are credentials more often than not: the error names the
    header, never its value.
    """
    if not isinstance(value, Mapping):
        raise ConfigError(name, _redacted(value), "must be a mapping of header names to values")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            why = f"header {key!r} must map a str to a str"
            raise ConfigError(name, _redacted(value), why)
        if "\r" in item or "\n" in item or "\r" in key or "\n" in key:
            raise ConfigError(name, _redacted(value), f"header {key!r} contains a line break")
    return value


def _redacted(value: object) -> object:
    """``value`` for an error message: a mapping's keys only, anything else by type."""
    if isinstance(value, Mapping):
        return {key: "<redacted>" for key in value}
    return f"<{type(value).__name__}>"


def check_ssl(value: object, url: str) -> _ssl.SSLContext | None:
    """An ``ssl.SSLContext`` (only meaningful with wss://), or None."""
    if value is None:
        return None
    if not isinstance(value, _ssl.SSLContext):
        raise ConfigError("ssl", value, "must be an ssl.SSLContext or None")
    if not url.startswith("wss://"):
        raise ConfigError("ssl", value, "is only used with a wss:// URL")
    return value


def check_overflow(value: object) -> Overflow:
    """One of the overflow modes."""
    if value not in OVERFLOW_MODES:
        raise ConfigError("overflow", value, "must be 'drop_oldest', 'drop_newest' or 'block'")
    return value  # type: ignore[return-value]


def check_callable(name: str, value: object, *, allow_none: bool = True) -> Any:
    """A callable (or None)."""
    if value is None and allow_none:
        return None
    if not callable(value):
        raise ConfigError(name, value, "must be callable")
    return value
