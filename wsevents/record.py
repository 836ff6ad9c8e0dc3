"""Recording a feed: every raw frame with its receive time, and every lifecycle event.

A :class:`Recorder` writes JSON lines, append-only (``.gz``: gzip-compressed).
Give it to a connection with ``Connection(url, record="feed.jsonl.gz")`` (the
connection owns the file and closes it with itself) or ``record=Recorder(path)``
(share one between connections; close it yourself).  Lines are buffered and
written and flushed once per batch (one turn of the event loop), so a crash
loses at most the last batch.

The lines (``t``: nanoseconds since the epoch, ``conn``: the connection's
number, from 1, in the order the connections opened: one numbering for all the
connections that share a recorder, such as a pool's shards)::

    {"kind": "recording", "version": 1, "t": ...}
    {"kind": "open", "conn": 1, "t": ..., "sent": 2}          (frames the client sent so far)
    {"kind": "frame", "conn": 1, "t": ..., "text": "{...}"}    ("bytes": base64 for binary)
    {"kind": "close", "conn": 1, "t": ..., "rcvd_code": 1011, "rcvd_reason": "...",
     "sent_code": null, "sent_reason": "", "rcvd_then_sent": true, "sent": 2}
    {"kind": "event", "t": ..., "event": "disconnect", "payload": {...}}

:func:`read_recording` reads one back; ``FakeServer.replay`` serves it.

.. versionadded:: 0.3
"""

from __future__ import annotations

import asyncio
import base64
import enum
import gzip
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, Final

import attrs

from .events import CLOSED, MESSAGE, MESSAGE_PREFIX


__all__ = ["FORMAT_VERSION", "Recorder", "read_recording"]

#: the version written in a recording's first line
FORMAT_VERSION: Final = 1


def _open(path: str | os.PathLike[str], mode: str) -> IO[str]:
    if os.fspath(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def _plain(value: Any) -> Any:
    """A lifecycle payload as JSON values (attrs classes, enums, exceptions)."""
    if attrs.has(value.__class__):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(value.__class__)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


class Recorder:
    """Writes a feed's frames and lifecycle events to a JSON-lines file.

    Args:
        path: the file, appended to (``.gz``: gzip; a new gzip member per
            recorder, which readers of ``.gz`` files read as one stream).
        close_with_connection: close the file on the connection's ``closed``
            event (what ``record="path"`` does).
        clock: the wall clock, nanoseconds (tests).

    .. versionadded:: 0.3
    """

    __slots__ = (
        "_buffer",
        "_clock",
        "_closed",
        "_connections",
        "_file",
        "_flush_pending",
        "_path",
        "close_with_connection",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        close_with_connection: bool = False,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._path = path
        #: opened by the first flush (a connection that never ran leaves no file)
        self._file: IO[str] | None = None
        self._closed = False
        self._buffer: list[str] = []
        self._flush_pending = False
        self._clock = clock
        self.close_with_connection = close_with_connection
        #: the connection numbers handed out (one numbering for every connection
        #: that shares this recorder: a pool's shards)
        self._connections = 0

    def __repr__(self) -> str:
        return f"<wsevents.record.Recorder {'closed' if self._closed else 'open'}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # -- what the reader calls ---------------------------------------------------------

    def new_connection(self) -> int:
        """The number of the next connection recorded (from 1; unique within this
        recorder, whichever of the connections sharing it opens it)."""
        self._connections += 1
        return self._connections

    def frame(self, conn: int, wall_ns: int, frame: str | bytes) -> None:
        """One raw frame of connection ``conn``, received at ``wall_ns``."""
        if isinstance(frame, str):
            self._write({"kind": "frame", "conn": conn, "t": wall_ns, "text": frame})
        else:
            data = base64.b64encode(frame).decode("ascii")
            self._write({"kind": "frame", "conn": conn, "t": wall_ns, "bytes": data})

    def opened(self, conn: int, wall_ns: int, *, sent: int = 0) -> None:
        """Connection ``conn`` opened (its frames follow); ``sent``: the frames the
        client had sent in all when it did (a replay waits for the opening ones)."""
        self._write({"kind": "open", "conn": conn, "t": wall_ns, "sent": sent})

    def closed_connection(self, conn: int, wall_ns: int, info: Any, *, sent: int = 0) -> None:
        """Connection ``conn`` ended; ``info`` is its ``CloseInfo`` (codes None: the
        TCP connection broke without a close frame)."""
        self._write(
            {
                "kind": "close",
                "conn": conn,
                "t": wall_ns,
                "rcvd_code": info.rcvd_code,
                "rcvd_reason": info.rcvd_reason,
                "sent_code": info.sent_code,
                "sent_reason": info.sent_reason,
                "rcvd_then_sent": info.rcvd_then_sent,
                "sent": sent,
            }
        )

    def event(self, name: str, payload: Any) -> None:
        """An observer of the connection: lifecycle events (messages are in the frames)."""
        if name == MESSAGE or name.startswith(MESSAGE_PREFIX):
            return
        line = {"kind": "event", "t": self._clock(), "event": name, "payload": _plain(payload)}
        self._write(line)
        if name == CLOSED and self.close_with_connection:
            self.close()

    # -- the file ------------------------------------------------------------------------

    def _write(self, line: dict[str, Any]) -> None:
        if self._closed:
            return
        self._buffer.append(json.dumps(line, separators=(",", ":")))
        if not self._flush_pending:
            self._flush_pending = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: write at once
                self.flush()

    def flush(self) -> None:
        """Write and flush what is buffered (the batch)."""
        self._flush_pending = False
        if self._closed or not self._buffer:
            return
        if self._file is None:
            self._start()
        assert self._file is not None
        self._buffer.append("")
        self._file.write("\n".join(self._buffer))
        self._buffer.clear()
        self._file.flush()

    def _start(self) -> None:
        """Open the file and write the recording's first line."""
        self._file = _open(self._path, "a")
        header = {"kind": "recording", "version": FORMAT_VERSION, "t": self._clock()}
        self._file.write(json.dumps(header, separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Flush and close the file (idempotent; the file exists afterwards)."""
        if self._closed:
            return
        self.flush()
        if self._file is None:
            self._start()
        assert self._file is not None
        self._file.close()
        self._file = None
        self._closed = True

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_recording(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The lines of a recording, in order, as dicts (a truncated last line, from a
    crash, is skipped).

    Raises:
        ValueError: the file is not a wsevents recording.
    """
    with _open(path, "r") as file:
        first = True
        for line in file:
            if not line.endswith("\n"):
                break  # the last line, cut short
            record = json.loads(line)
            if first and record.get("kind") != "recording":
                msg = f"{os.fspath(path)!r} is not a wsevents recording"
                raise ValueError(msg)
            first = False
            yield record
