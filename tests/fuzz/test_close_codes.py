"""Fuzzing the server's close handshake: every valid close code, any reason."""

from __future__ import annotations

from hypothesis import given, strategies as st

from tests.fuzz._harness import Live, Replace, fuzz_settings
from tests.fuzz.test_raw_frames import WIRE_CODES, reason_for
from wsevents.testing import FakeClient


reasons = st.text(max_size=123).filter(lambda text: len(text.encode()) <= 123)


@fuzz_settings(200)
@given(code=st.sampled_from(sorted(WIRE_CODES)), reason=reasons)
async def test_close_codes_map_to_documented_reasons(live: Live, code: int, reason: str) -> None:
    """A close from the server with any valid code and reason is a ``disconnect`` with
    that code and reason (``PROTOCOL_ERROR`` for 1002/1003/1007/1009, else
    ``SERVER_CLOSE``), then a reconnect, and the next message arrives."""

    def send(client: FakeClient) -> object:
        return client.close(code, reason)

    await live.check(send, Replace(reason_for(code), code, reason))
