"""Hand-built WebSocket frames, written straight to a FakeServer connection's socket.

websockets' server will not send an invalid frame, so the fuzz tests build the
bytes themselves (RFC 6455 section 5.2: server frames are never masked) and
write them with the server connection's transport, below its protocol.
"""

from __future__ import annotations

import struct

from wsevents.testing import FakeClient


__all__ = ["CONT", "TEXT", "BINARY", "CLOSE", "PING", "PONG", "build", "close_payload", "write"]

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def build(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    length: int | None = None,
) -> bytes:
    """One unmasked frame.

    Args:
        opcode: 4-bit opcode, valid or not.
        payload: the payload bytes written after the header.
        fin: the FIN bit.
        rsv: the three RSV bits (0-7).
        length: the length announced in the header (default ``len(payload)``):
            more than ``len(payload)`` makes a truncated frame.
    """
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | opcode & 0xF])
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """The payload of a close frame (no code: empty)."""
    return b"" if code is None else struct.pack("!H", code) + reason


def write(client: FakeClient, data: bytes) -> None:
    """Write ``data`` to the client's TCP connection, bypassing the server's protocol."""
    client.websocket.transport.write(data)
