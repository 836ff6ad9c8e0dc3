"""The options of a connection, validated once into frozen values (L1).

:func:`connection_options` checks every keyword option of ``Connection`` (a bad
value raises :class:`~wsevents.ConfigError` naming it) and returns one frozen
:class:`Options`; its :class:`TransportOptions` part is what a transport
takes to open a connection.  A pool applies the same value to every shard.
"""

from __future__ import annotations

import datetime as _dt
import json
import ssl as _ssl
from collections.abc import Callable, Hashable, Iterable
from os import PathLike
from typing import Any, Final

import attrs

from . import _config as cfg
from ._latency import event_time_getter
from ._tracking import SequenceOption, check_sequence_option
from .backoff import Backoff, ExponentialBackoff
from .exceptions import ConfigError
from .policies._base import (
    DisconnectPolicy,
    ReconnectPolicy,
    as_disconnect_policy,
    as_reconnect_policy,
)
from .routing import Decoder, JsonProtocol, Protocol, resolve_decoder, sends_credentials


__all__ = ["Observe", "Options", "TransportOptions", "connection_options"]

#: protocols are frozen and stateless: connections share the default one
_DEFAULT_PROTOCOL: Final = JsonProtocol()


@attrs.frozen(kw_only=True)
class TransportOptions:
    """What a transport needs to open a connection (the same for every attempt)."""

    #: bound on the opening handshake, seconds
    open_timeout: float | None = 10.0
    #: protocol keepalive (None disables it)
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    #: bound on the closing handshake
    close_timeout: float = 5.0
    #: largest accepted message, bytes (None: unlimited)
    max_size: int | None = 2**20
    ssl: _ssl.SSLContext | None = attrs.field(default=None, repr=False)
    #: the User-Agent header (None: the transport's default)
    user_agent: str | None = None
    #: True: the environment's proxy (``https_proxy``, ``no_proxy``...); None: none;
    #: or a proxy URL (its credentials never shown)
    proxy: str | bool | None = attrs.field(default=True, repr=False)
    #: the WebSocket subprotocols to offer, in order of preference
    subprotocols: tuple[str, ...] | None = None
    #: the local address to bind, ``(host, port)`` (port 0: any)
    local_addr: tuple[str, int] | None = None
    #: ``"deflate"``: offer permessage-deflate; None: no compression
    compression: str | None = "deflate"
    #: let the library log every frame at DEBUG (off for protocols that send
    #: credentials: a login frame carries the API key, OKX's the passphrase)
    trace_frames: bool = True


@attrs.frozen(kw_only=True)
class Observe:
    """What the reader observes besides delivering (``timestamps``, ``event_time``,
    ``record``); None in :class:`Options` when all are off."""

    #: stamp every frame and answer ``ws.receive_time(message)``
    timestamps: bool = False
    #: ``message -> raw event time`` (epoch milliseconds), or None: no latency
    event_time: Callable[[Any], Any] | None = None
    #: the recorder (a ``wsevents.record.Recorder``), or a path to record to
    record: Any = None


def _check_observe(protocol: Protocol, timestamps: object, event_time: object, record: object) -> (
    Observe | None
):
    stamps = cfg.check_bool("timestamps", timestamps)
    if event_time is False:
        getter = None
    elif event_time is None:
        getter = event_time_getter(protocol.event_time) if stamps else None
    else:
        getter = event_time_getter(event_time)
    if record is not None and not (
        isinstance(record, (str, PathLike)) or callable(getattr(record, "frame", None))
    ):
        raise ConfigError("record", record, "must be a file path or a wsevents.record.Recorder")
    if not stamps and getter is None and record is None:
        return None
    return Observe(timestamps=stamps, event_time=getter, record=record)


@attrs.frozen(kw_only=True)
class Options:
    """Every option of a connection, validated (see ``Connection`` for their meaning)."""

    protocol: Protocol
    subscriptions: tuple[str, ...]
    headers: cfg.HeadersOption = attrs.field(repr=False)
    backoff: Backoff
    #: consecutive failed attempts before giving up; 0: never reconnect after a loss
    max_reconnect_attempts: int | None
    stable_after: float
    server_unavailable_delay: float
    reconnect_on_clean_close: bool
    should_disconnect: DisconnectPolicy | None
    should_reconnect: ReconnectPolicy | None
    check_interval: float
    queue_size: int
    overflow: cfg.Overflow
    stale_after: float | None
    should_retry: Callable[..., bool] | None
    encoder: Callable[[Any], str]
    sequence: SequenceOption
    dedup_key: Callable[[Any], Hashable] | None
    handover: bool
    handover_timeout: float
    #: the monotonic clock (None: ``time.monotonic``)
    clock: Callable[[], float] | None
    #: the wall clock for policies (None: the current UTC time)
    utc_now: Callable[[], _dt.datetime] | None
    transport: TransportOptions
    #: paces every frame the client sends (None: the protocol's ``send_limit``)
    send_limit: Any = None
    #: paces every connection attempt (None: the protocol's ``connect_limit``)
    connect_limit: Any = None
    #: receive times, latency, recording (None: all off)
    observe: Observe | None = None


def _check_subprotocols(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = cfg.check_channels("subprotocols", value)
    if not names:
        raise ConfigError("subprotocols", value, "must name at least one subprotocol, or be None")
    return names


def _check_compression(value: object) -> str | None:
    if value is not None and value != "deflate":
        raise ConfigError("compression", value, "must be 'deflate' or None")
    return value


def _check_local_addr(value: object) -> tuple[str, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value, 0)
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not isinstance(value[0], str)
        or isinstance(value[1], bool)
        or not isinstance(value[1], int)
        or not 0 <= value[1] <= 65535
    ):
        raise ConfigError("local_addr", value, "must be a host, or a (host, port) pair")
    return (value[0], value[1])


def _num(name: str, value: object, *, strict: bool = False) -> float:
    checked = cfg.check_number(name, value, strict=strict)
    assert checked is not None
    return checked


def connection_options(
    url: str,
    *,
    protocol: Protocol | None = None,
    subscriptions: Iterable[str] = (),
    headers: cfg.HeadersOption = None,
    ssl: _ssl.SSLContext | None = None,
    backoff: Backoff | None = None,
    max_reconnect_attempts: int | None = None,
    stable_after: float = 30.0,
    server_unavailable_delay: float = 30.0,
    reconnect_on_clean_close: bool = True,
    should_disconnect: Any = None,
    should_reconnect: Any = None,
    check_interval: float = 1.0,
    queue_size: int = 10_000,
    overflow: cfg.Overflow = "drop_oldest",
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    stale_after: float | None = None,
    open_timeout: float = 10.0,
    close_timeout: float = 5.0,
    max_size: int | None = 2**20,
    decoder: Decoder | str | None = None,
    should_retry: Callable[..., bool] | None = None,
    encoder: Callable[[Any], str] | None = None,
    sequence: SequenceOption = None,
    dedup_key: Callable[[Any], Hashable] | None = None,
    handover: bool = True,
    handover_timeout: float = 10.0,
    clock: Callable[[], float] | None = None,
    utc_now: Callable[[], _dt.datetime] | None = None,
    user_agent: str | None = None,
    send_limit: Any = None,
    connect_limit: Any = None,
    proxy: str | bool | None = True,
    subprotocols: Iterable[str] | None = None,
    local_addr: tuple[str, int] | str | None = None,
    compression: str | None = "deflate",
    timestamps: bool = False,
    event_time: Any = None,
    record: Any = None,
) -> Options:
    """Validate the keyword options of ``Connection(url, ...)``.

    Raises:
        ConfigError: a bad option, naming it and its value.
    """
    if protocol is None:
        protocol = _DEFAULT_PROTOCOL
    elif not isinstance(protocol, Protocol):
        raise ConfigError("protocol", protocol, "must be a wsevents.Protocol instance")
    resolved = resolve_decoder(decoder)
    if resolved is not None:
        protocol = protocol.with_decoder(resolved)
    if backoff is None:
        backoff = ExponentialBackoff()
    elif not callable(getattr(backoff, "delay", None)):
        raise ConfigError("backoff", backoff, "must have a delay(attempt) method")
    if max_reconnect_attempts is not None and (
        isinstance(max_reconnect_attempts, bool)
        or not isinstance(max_reconnect_attempts, int)
        or max_reconnect_attempts < 0
    ):
        why = "must be an integer >= 0 (0: never reconnect) or None (never give up)"
        raise ConfigError("max_reconnect_attempts", max_reconnect_attempts, why)
    if user_agent is not None and not isinstance(user_agent, str):
        raise ConfigError("user_agent", user_agent, "must be a string or None")
    for name, limit in (("send_limit", send_limit), ("connect_limit", connect_limit)):
        if limit is not None and not callable(getattr(limit, "acquire", None)):
            raise ConfigError(name, limit, "must be a wsevents.RateLimit (or have acquire())")
    queue_bound = cfg.check_positive_int("queue_size", queue_size)
    assert queue_bound is not None
    return Options(
        protocol=protocol,
        subscriptions=cfg.check_channels("subscriptions", subscriptions),
        headers=cfg.check_headers(headers),
        backoff=backoff,
        max_reconnect_attempts=max_reconnect_attempts,
        stable_after=_num("stable_after", stable_after),
        server_unavailable_delay=_num("server_unavailable_delay", server_unavailable_delay),
        reconnect_on_clean_close=cfg.check_bool(
            "reconnect_on_clean_close", reconnect_on_clean_close
        ),
        should_disconnect=as_disconnect_policy(should_disconnect),
        should_reconnect=as_reconnect_policy(should_reconnect),
        check_interval=_num("check_interval", check_interval, strict=True),
        queue_size=queue_bound,
        overflow=cfg.check_overflow(overflow),
        stale_after=cfg.check_number("stale_after", stale_after, strict=True, allow_none=True),
        should_retry=cfg.check_callable("should_retry", should_retry),
        encoder=cfg.check_callable("encoder", encoder) or json.dumps,
        sequence=check_sequence_option(sequence),
        dedup_key=cfg.check_callable("dedup_key", dedup_key),
        handover=cfg.check_bool("handover", handover),
        handover_timeout=_num("handover_timeout", handover_timeout, strict=True),
        clock=cfg.check_callable("clock", clock),
        utc_now=cfg.check_callable("utc_now", utc_now),
        transport=TransportOptions(
            open_timeout=_num("open_timeout", open_timeout, strict=True),
            ping_interval=cfg.check_number("ping_interval", ping_interval, allow_none=True),
            ping_timeout=cfg.check_number("ping_timeout", ping_timeout, allow_none=True),
            close_timeout=_num("close_timeout", close_timeout, strict=True),
            max_size=cfg.check_positive_int("max_size", max_size, allow_none=True),
            ssl=cfg.check_ssl(ssl, url),
            user_agent=user_agent,
            trace_frames=not sends_credentials(protocol),
            proxy=cfg.check_proxy(proxy),
            subprotocols=_check_subprotocols(subprotocols),
            local_addr=_check_local_addr(local_addr),
            compression=_check_compression(compression),
        ),
        send_limit=send_limit,
        connect_limit=connect_limit,
        observe=_check_observe(protocol, timestamps, event_time, record),
    )
