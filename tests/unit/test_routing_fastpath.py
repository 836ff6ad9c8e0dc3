"""JsonProtocol's fast path decodes exactly like the general one (issue 8)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from wsevents import CONSUMED, FrameError, JsonProtocol
from wsevents.routing import _loads_str


def _outcome(fn: Any, arg: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(arg)
    except ValueError as exc:
        return type(exc).__name__, str(exc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
whitespace = st.text(alphabet=" \t\n\r", max_size=3)


class TestLoadsStr:
    @given(json_values, whitespace, whitespace)
    @settings(max_examples=300)
    def test_same_as_json_loads_on_documents(self, value: Any, before: str, after: str) -> None:
        """Valid documents, with or without surrounding whitespace: the same object."""
        text = before + json.dumps(value) + after
        assert _outcome(_loads_str, text) == _outcome(json.loads, text)

    @given(st.text(max_size=40))
    @settings(max_examples=300)
    def test_same_as_json_loads_on_any_text(self, text: str) -> None:
        """Any text at all: the same object or the same error message."""
        assert _outcome(_loads_str, text) == _outcome(json.loads, text)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            " ",
            "\ufeff{}",
            '{"a": 1} x',
            '{"a": 1}{"b": 2}',
            '{"a": 1}\n',
            "\n[1]",
            "NaN",
            "1e400",
        ],
    )
    def test_edge_cases(self, text: str) -> None:
        """BOM, trailing data, trailing/leading whitespace, NaN, overflowing floats."""
        assert repr(_outcome(_loads_str, text)) == repr(_outcome(json.loads, text))


class TestDecodeFastPath:
    @given(json_values)
    @settings(max_examples=200)
    def test_fast_and_general_paths_agree(self, value: Any) -> None:
        """The fast path routes like the general one (forced by a heartbeat that never matches)."""
        document = value if isinstance(value, dict) else {"channel": value, "x": 1}
        text = json.dumps(document)
        fast = JsonProtocol()
        general = JsonProtocol(heartbeat=(object(), "pong"))  # no fast path; equals no message
        assert fast._key == "channel"
        assert general._key is None
        assert _outcome(fast.decode, text) == _outcome(general.decode, text)

    def test_non_dict_and_unrouted(self) -> None:
        """Lists, missing channels and non-str channels take the general route."""
        assert JsonProtocol().decode("[1]") == (None, [1])
        assert JsonProtocol().decode('{"channel": 1.5}') == ("1.5", {"channel": 1.5})
        with pytest.raises(FrameError, match="has no 'channel' channel"):
            JsonProtocol(unrouted="error").decode('{"channel": null}')

    def test_heartbeat_still_consumed(self) -> None:
        """A heartbeat protocol never skips the ping comparison."""
        proto = JsonProtocol(heartbeat=({"op": "ping"}, {"op": "pong"}))
        assert proto.decode('{"op": "ping"}') == (CONSUMED, {"op": "ping"})

    def test_custom_decoder_is_used(self) -> None:
        """Another decoder is called as given, on str and bytes frames."""
        seen: list[Any] = []

        def decoder(frame: str | bytes) -> Any:
            seen.append(frame)
            return json.loads(frame)

        proto = JsonProtocol(decoder=decoder)
        assert proto.decode('{"channel": "a"}')[0] == "a"
        assert proto.decode(b'{"channel": "b"}')[0] == "b"
        assert seen == ['{"channel": "a"}', b'{"channel": "b"}']
        assert proto.with_decoder(json.loads)._loads is _loads_str

    def test_equality_ignores_the_cached_fields(self) -> None:
        """The fast-path fields are derived: equality and hashing are unchanged."""
        proto = JsonProtocol()
        copy = attrs.evolve(proto)
        assert copy == proto
        assert hash(copy) == hash(proto)
        assert copy._loads is proto._loads
        assert "_loads" not in repr(proto)
        assert repr(proto).count("_key=") == 1  # channel_key only
