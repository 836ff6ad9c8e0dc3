"""Fuzzing what a server can send in a well-formed frame: any text, any bytes,
invalid UTF-8, deeply nested and huge JSON, NUL bytes, frames around ``max_size``."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from tests.fuzz._harness import Expect, Keep, Live, Replace, expected_event, fuzz_settings
from tests.fuzz.conftest import MAX_SIZE
from wsevents import DisconnectReason
from wsevents.testing import FakeClient


PROTOCOL_ERROR = DisconnectReason.PROTOCOL_ERROR

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@st.composite
def json_messages(draw: st.DrawFn) -> str:
    """A JSON document, often an object with a channel (of any JSON type)."""
    value = draw(json_values)
    if draw(st.booleans()):
        value = {**draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))}
        value["channel"] = draw(st.text(max_size=12) | json_values)
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


@st.composite
def nested(draw: st.DrawFn) -> str:
    """Deeply nested arrays/objects, closed or not, up to about ``MAX_SIZE`` deep."""
    depth = draw(st.integers(1, MAX_SIZE // 6) | st.sampled_from([998, 999, 1000, 1001, 5000]))
    opener, closer = draw(
        st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"channel":"c","x":[', "]}")])
    )
    inner = draw(st.sampled_from(["1", "", "null", '"\\u0000"']))
    close = draw(st.booleans())
    return opener * depth + inner + (closer * depth if close else "")


@st.composite
def huge_numbers(draw: st.DrawFn) -> str:
    """Numbers of thousands of digits (past ``sys.int_max_str_digits``), exponents, floats."""
    digits = draw(st.integers(1, 12_000))
    number = draw(st.sampled_from(["", "-"])) + "9" * digits
    number += draw(st.sampled_from(["", ".5", "e999999", "E-999999", "e+400", ".0e1"]))
    if draw(st.booleans()):
        return json.dumps({"channel": "n"})[:-1] + f',"v":{number}}}'
    return number


@st.composite
def with_nul(draw: st.DrawFn) -> str:
    """NUL characters, raw (invalid in JSON strings) or escaped, in keys, values, channels."""
    piece = draw(st.sampled_from(["\x00", "\\u0000", "\x00\x00", "a\x00b"]))
    where = draw(st.sampled_from(["channel", "key", "value", "outside"]))
    if where == "channel":
        return '{"channel":"' + piece + '"}'
    if where == "key":
        return '{"' + piece + '":1,"channel":"k"}'
    if where == "value":
        return '{"channel":"v","x":"' + piece + '"}'
    return piece + '{"channel":"v"}'


@st.composite
def near_max_size(draw: st.DrawFn) -> str:
    """A valid JSON message whose encoded size is within a few bytes of ``max_size``."""
    size = MAX_SIZE + draw(st.integers(-3, 3))
    filler = draw(st.sampled_from(["x", "é", "\u20ac", "\U0001f600"]))
    head = '{"channel":"big","x":"'
    tail = '"}'
    room = size - len(head) - len(tail)
    width = len(filler.encode())
    text = head + filler * (room // width) + "y" * (room % width) + tail
    assert len(text.encode()) == size
    return text


texts = (
    st.text()
    | json_messages()
    | nested()
    | huge_numbers()
    | with_nul()
    | near_max_size()
)


def expect_frame(frame: str | bytes) -> Expect:
    """A complete text (str) or binary (bytes) frame: too large → 1009, else decoded."""
    size = len(frame.encode() if isinstance(frame, str) else frame)
    if size > MAX_SIZE:
        return Replace(PROTOCOL_ERROR, 1009)
    return Keep((expected_event(frame),))


@fuzz_settings(300)
@given(frame=texts)
async def test_text_frames(live: Live, frame: str) -> None:
    """Any text frame is delivered, or is an error event, or (too large) a 1009 reconnect."""
    await live.check(lambda client: client.websocket.send(frame), expect_frame(frame))


@fuzz_settings(200)
@given(frame=st.binary(max_size=300) | texts.map(lambda t: t.encode()))
async def test_binary_frames(live: Live, frame: bytes) -> None:
    """Binary frames are decoded as JSON (any UTF), else an error event; the feed goes on."""
    await live.check(lambda client: client.websocket.send(frame), expect_frame(frame))


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    """Bytes that are not UTF-8: a bad byte, a truncated sequence, a surrogate, an overlong form."""
    bad = draw(
        st.sampled_from(
            [b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xc3", b"\xe2\x82",
             b"\xf4\x90\x80\x80", b"\x80", b"\xf8\x88\x80\x80\x80"]
        )
    )
    before = draw(st.text(max_size=40)).encode()
    after = draw(st.text(max_size=40)).encode()
    return before + bad + after


def expect_text_bytes(data: bytes) -> Expect:
    if len(data) > MAX_SIZE:
        return Replace(PROTOCOL_ERROR, 1009)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return Replace(PROTOCOL_ERROR, 1007)
    return Keep((expected_event(text),))


@fuzz_settings(150)
@given(data=invalid_utf8() | st.binary(max_size=64))
async def test_text_frames_with_invalid_utf8(live: Live, data: bytes) -> None:
    """A text frame that is not UTF-8 ends the connection with 1007 (PROTOCOL_ERROR)."""

    def send(client: FakeClient) -> object:
        return client.websocket.send(data, text=True)

    await live.check(send, expect_text_bytes(data))
