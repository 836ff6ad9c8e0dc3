"""wsevents.compat's WebSocketApp without a server: tracing, its repr, what close()
and send() refuse, and the options that run_forever() checks before connecting."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from wsevents import ConfigError
from wsevents.compat import (
    ABNF,
    UnsupportedOption,
    WebSocketApp,
    WebSocketConnectionClosedException,
    enableTrace,
)
from wsevents.compat.websocket_client import _ssl_context


URL = "ws://127.0.0.1:9/"


@pytest.fixture
def loggers() -> Iterator[None]:
    """Restore the wsevents and websockets loggers after a test that traces."""
    saved = {
        name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers))
        for name in ("wsevents", "websockets")
    }
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers


@pytest.mark.usefixtures("loggers")
def test_enable_trace() -> None:
    mine = logging.NullHandler()
    enableTrace(True, handler=mine, level="INFO")
    enableTrace(True, handler=mine, level="INFO")  # added once
    for name in ("wsevents", "websockets"):
        logger = logging.getLogger(name)
        assert logger.level == logging.INFO
        assert logger.handlers.count(mine) == 1
    for name in ("wsevents", "websockets"):
        logging.getLogger(name).handlers[:] = []
    enableTrace(True)  # no handler given: one on stderr
    assert all(
        isinstance(h, logging.StreamHandler) for h in logging.getLogger("wsevents").handlers
    )
    assert len(logging.getLogger("wsevents").handlers) == 1
    enableTrace(False)
    assert logging.getLogger("wsevents").level == logging.NOTSET


def test_repr_and_an_app_that_never_ran() -> None:
    app = WebSocketApp(URL)
    assert repr(app) == f"<wsevents.compat.WebSocketApp {URL!r} running=False>"
    assert app.sock is None
    with pytest.raises(WebSocketConnectionClosedException):
        app.send("x")
    with pytest.raises(WebSocketConnectionClosedException):
        app.send_bytes(b"x")
    with pytest.raises(UnsupportedOption) as raised:
        app.send("x", opcode=ABNF.OPCODE_PING)
    assert raised.value.key == "opcode"
    app.close()  # not running: nothing to close


@pytest.mark.parametrize(("kwargs", "key"), [({"status": 1001}, "status"),
                                             ({"reason": "bye"}, "reason")])
def test_close_codes_and_reasons_are_not_supported(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(UnsupportedOption) as raised:
        WebSocketApp(URL).close(**kwargs)
    assert raised.value.key == key


@pytest.mark.parametrize("reconnect", [-1, True, "5"])
def test_bad_reconnect_delays(reconnect: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        WebSocketApp(URL).run_forever(reconnect=reconnect)
    assert raised.value.key == "reconnect"


@pytest.mark.parametrize("header", [42, ["no colon"], [": no name"]])
def test_bad_headers(header: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        WebSocketApp(URL, header=header).run_forever()
    assert raised.value.key == "header"


def test_sslopt_context_must_be_a_context() -> None:
    with pytest.raises(ConfigError) as raised:
        _ssl_context({"context": "not a context"})
    assert raised.value.key == "sslopt['context']"


def test_sslopt_certificate_ciphers_and_curve(tmp_path: Path) -> None:
    """A client certificate, a cipher list and an ECDH curve reach the context."""
    ca = trustme.CA()
    cert = ca.issue_cert("client.example")
    certfile = tmp_path / "client.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    ctx = _ssl_context({
        "certfile": str(certfile),
        "ciphers": "ECDHE+AESGCM",
        "ecdh_curve": "prime256v1",
    })
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    names = {c["name"] for c in ctx.get_ciphers()}
    assert names
    assert all("ECDHE" in n or n.startswith("TLS_") for n in names)
    with pytest.raises(ssl.SSLError):
        _ssl_context({"ciphers": "NO-SUCH-CIPHER"})
