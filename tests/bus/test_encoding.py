"""Pure parts of the bus: stream keys, lifecycle payloads, URL masking, option checks."""

from __future__ import annotations

import datetime as dt

import pytest

import wsevents
from wsevents.bus import Consumer, RedisPublisher
from wsevents.bus._encoding import (
    channel_of,
    dead_letter_key,
    decode_lifecycle,
    dumps,
    encode_lifecycle,
    loads,
    stream_key,
)
from wsevents.bus._link import mask_url
from wsevents.bus.consumer import _pairs, _start_id


URL = "redis://127.0.0.1:1/0"


def test_stream_keys() -> None:
    """Streams are wsevents:<name>:<channel>; the channel is recovered from the key."""
    assert stream_key("binance", "btcusdt@trade") == "wsevents:binance:btcusdt@trade"
    assert channel_of("binance", "wsevents:binance:btcusdt@trade") == "btcusdt@trade"
    assert dead_letter_key("x") == "wsevents:x:_dead"


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("connect", wsevents.Connected(url="ws://h/", attempt=2, is_reconnect=True, downtime=1.5)),
        ("disconnect", wsevents.Disconnected(reason=wsevents.DisconnectReason.PING_TIMEOUT,
                                             code=1006, reason_text="x", uptime=3.0)),
        ("reconnecting", wsevents.Reconnecting(attempt=1, delay=0.5,
                                               reason=wsevents.DisconnectReason.NETWORK_ERROR)),
        ("gap", wsevents.Gap(channel="a", expected=4, received=6, missing=2)),
        ("handover", wsevents.Handover(overlap=0.2, duplicates_dropped=3)),
        ("queue_full", wsevents.QueueFull(channel="a", size=10, dropped=2, overflow="drop_oldest",
                                          total_dropped=7)),
        ("closed", wsevents.Closed(reason="close() called")),
    ],
)
def test_lifecycle_payloads_survive_the_round_trip(name: str, payload: object) -> None:
    """Every lifecycle payload comes back as the same frozen class, equal to the original."""
    data = loads(dumps(encode_lifecycle(payload)))
    assert decode_lifecycle(name, data) == payload


def test_exceptions_in_payloads_become_text() -> None:
    """An exception inside a payload travels as its repr."""
    closed = wsevents.Closed(reason="fatal", error=ValueError("bad"))
    back = decode_lifecycle("closed", loads(dumps(encode_lifecycle(closed))))
    assert back.error == "ValueError('bad')"
    assert encode_lifecycle({"k": RuntimeError("x")}) == {"k": "RuntimeError('x')"}


def test_unknown_or_malformed_lifecycle_comes_back_as_data() -> None:
    """An unknown event name or a payload that does not fit its class is left as is."""
    assert decode_lifecycle("something", {"a": 1}) == {"a": 1}
    assert decode_lifecycle("gap", [1, 2]) == [1, 2]
    assert decode_lifecycle("gap", {"nope": 1}) == {"nope": 1}


def test_mask_url_hides_the_password() -> None:
    """A password never shows in what the bus reports."""
    assert mask_url("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask_url("redis://:secret@host/0") == "redis://:***@host/0"
    assert mask_url("redis://host:6379/0") == "redis://host:6379/0"
    with pytest.raises(wsevents.ConfigError) as raised:
        RedisPublisher("http://u:secret@h/", name="x")
    assert "secret" not in str(raised.value)


def test_start_ids() -> None:
    """start= accepts "$", ids, Unix times and aware datetimes."""
    assert _start_id("$") == "$"
    assert _start_id("0") == "0"
    assert _start_id("1700000000000-3") == "1700000000000-3"
    assert _start_id(0) == "0-0"
    assert _start_id(1700000000.5) == "1700000000499-18446744073709551615"
    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert _start_id(when) == f"{int(when.timestamp() * 1000) - 1}-18446744073709551615"
    for bad in ("now", True, None, dt.datetime(2024, 1, 1), "12-x"):
        with pytest.raises(wsevents.ConfigError):
            _start_id(bad)


def test_reply_shapes() -> None:
    """Both RESP2 (list) and RESP3 (dict) read replies are understood."""
    assert _pairs(None) == []
    assert _pairs([[b"k", [(b"1-0", {})]]]) == [(b"k", [(b"1-0", {})])]
    assert _pairs({b"k": [[(b"1-0", {})]]}) == [(b"k", [(b"1-0", {})])]


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"name": ""}, "name"),
        ({"name": "a:b"}, "name"),
        ({"name": "x", "maxlen": 0}, "maxlen"),
        ({"name": "x", "max_age": -1}, "max_age"),
        ({"name": "x", "maxlen": 10, "max_age": 60}, "max_age"),
        ({"name": "x", "buffer": 0}, "buffer"),
        ({"name": "x", "timeout": 0}, "timeout"),
        ({"name": "x", "overflow": "sometimes"}, "overflow"),
        ({"name": "x", "sequence": 3}, "sequence"),
        ({"name": "x", "dedup_key": "k"}, "dedup_key"),
    ],
)
def test_publisher_rejects_bad_options(options: dict[str, object], key: str) -> None:
    """A bad publisher option is a ConfigError naming it."""
    with pytest.raises(wsevents.ConfigError) as raised:
        RedisPublisher(URL, **options)  # type: ignore[arg-type]
    assert raised.value.key == key


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"name": "a:b"}, "name"),
        ({"name": "x", "channels": "abc"}, "channels"),
        ({"name": "x", "channels": ["ok", ""]}, "channels"),
        ({"name": "x", "group": ""}, "group"),
        ({"name": "x", "claim_after": 0}, "claim_after"),
        ({"name": "x", "block": -1}, "block"),
        ({"name": "x", "max_deliveries": 0}, "max_deliveries"),
        ({"name": "x", "queue_size": 0}, "queue_size"),
        ({"name": "x", "count": 0}, "count"),
        ({"name": "x", "start": "later"}, "start"),
        ({"name": "x", "url": "nope"}, "url"),
    ],
)
def test_consumer_rejects_bad_options(options: dict[str, object], key: str) -> None:
    """A bad consumer option is a ConfigError naming it."""
    url = options.pop("url", URL)
    with pytest.raises(wsevents.ConfigError) as raised:
        Consumer(url, **options)  # type: ignore[arg-type]
    assert raised.value.key == key


def test_attach_needs_an_observable_source() -> None:
    """attach() refuses an object without add_observer."""
    with pytest.raises(TypeError):
        RedisPublisher(URL, name="x").attach(object())
