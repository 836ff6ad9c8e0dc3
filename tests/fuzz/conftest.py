"""Fixtures of the fuzz tests: a live connection per transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fuzz._harness import Live, open_live


#: The transports (and picows' two frame paths: through picows.websockets'
#: ``recv()`` for compressed frames, straight from its frame callback otherwise).
VARIANTS = [
    pytest.param(("websockets", "deflate"), id="websockets"),
    pytest.param(("picows", "deflate"), id="picows"),
    pytest.param(("picows", None), id="picows-uncompressed"),
]

#: The connection's ``max_size`` in the fuzz tests (oversized inputs cross it).
MAX_SIZE = 2**16


@pytest.fixture(params=VARIANTS)
async def live(request: pytest.FixtureRequest) -> AsyncIterator[Live]:
    """A connected connection and its server, shared by the examples of one test."""
    transport, compression = request.param
    async for value in open_live(transport, compression, max_size=MAX_SIZE):
        yield value


@pytest.fixture(params=[pytest.param("websockets"), pytest.param("picows")])
async def raw_live(request: pytest.FixtureRequest) -> AsyncIterator[Live]:
    """As ``live``, without permessage-deflate: for frames written byte by byte."""
    async for value in open_live(request.param, None, max_size=1024):
        yield value
