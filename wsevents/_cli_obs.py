"""Observing a feed from the command line: ``tail --record / --metrics-port``, ``replay``.

``wsevents tail URL --record FILE``
    Also writes every raw frame (with its receive time) and lifecycle event to
    FILE as JSON lines (``.gz``: compressed), see :mod:`wsevents.record`.

``wsevents tail URL --metrics-port N``
    Also serves the connection's ``stats`` as Prometheus metrics on
    ``http://127.0.0.1:N/metrics`` (needs ``wsevents[prometheus]``); receive
    timestamps are on, so the latency of venues with an event time shows.

``wsevents replay FILE [--speed X] [--port P]``
    Serves a recording on ``ws://127.0.0.1:P/`` (a FakeServer): the n-th
    connection gets the n-th recorded connection's frames and ends as it did.
    ``--speed 0``: as fast as the client reads.  Prints the URL on stdout, then
    serves until Ctrl-C, or until every recorded connection was played with
    ``--exit-when-done``.

``wsevents.cli`` wires these in with :func:`add_tail_options`,
:func:`add_commands`, :func:`tail_options`, :func:`start_metrics` and :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any, Final

from wsevents import ConfigError
from wsevents._format import one_line


__all__ = [
    "COMMANDS",
    "Metrics",
    "add_commands",
    "add_tail_options",
    "run",
    "start_metrics",
    "tail_options",
]

#: the commands this module adds
COMMANDS: Final = ("replay",)
EXIT_OK: Final = 0
EXIT_USAGE: Final = 2


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0 (0: as fast as possible)")
    return value


def add_tail_options(tail: argparse.ArgumentParser) -> None:
    """Add ``--record`` and ``--metrics-port`` to ``wsevents tail``."""
    tail.add_argument("--record", metavar="FILE",
                      help="also record every frame and event to FILE (JSON lines; .gz ok)")
    tail.add_argument("--metrics-port", type=_port, metavar="N",
                      help="serve Prometheus metrics on 127.0.0.1:N/metrics "
                      "(needs wsevents[prometheus])")


def tail_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Connection`` options these flags ask for."""
    options: dict[str, Any] = {}
    if args.record is not None:
        options["record"] = args.record
    if args.metrics_port is not None:
        options["timestamps"] = True
    return options


class Metrics:
    """The ``--metrics-port`` server of ``wsevents tail`` (or nothing without it)."""

    def __init__(self, port: int | None) -> None:
        self.registry: Any = None
        self._stop: Callable[[], None] | None = None
        if port is None:
            return
        try:
            from prometheus_client import CollectorRegistry

            from wsevents.metrics import start_http_server
        except ImportError as exc:
            raise ConfigError("--metrics-port", port, str(exc)) from None
        self.registry = CollectorRegistry()
        try:
            server, thread = start_http_server(port, registry=self.registry)
        except OSError as exc:
            raise ConfigError("--metrics-port", port, f"cannot listen ({exc})") from None
        print(f"wsevents: metrics on http://127.0.0.1:{server.server_port}/metrics",
              file=sys.stderr)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5.0)

        self._stop = stop

    def watch(self, ws: Any) -> None:
        """Expose ``ws``'s stats (nothing without ``--metrics-port``)."""
        if self.registry is not None:
            from wsevents.metrics import StatsCollector

            StatsCollector(ws, feed=ws.url, registry=self.registry)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


def start_metrics(args: argparse.Namespace) -> Metrics:
    """Serve metrics when ``--metrics-port`` is given (call :meth:`Metrics.watch`).

    Raises:
        ConfigError: prometheus_client is missing, or the port cannot be bound.
    """
    return Metrics(args.metrics_port)


def add_commands(commands: Any) -> None:
    """Add ``replay`` to the CLI's subparsers."""
    replay = commands.add_parser(
        "replay",
        help="serve a recording (wsevents tail --record) as a WebSocket server",
        description=(
            "Serve FILE on ws://127.0.0.1:PORT/: each connection gets the next recorded "
            "connection's frames, at the recorded pace / SPEED, and ends as it did."
        ),
    )
    replay.set_defaults(command="replay", verbose=0)
    replay.add_argument("file", help="a recording (JSON lines, .gz ok)")
    replay.add_argument("--speed", type=_speed, default=1.0, metavar="X",
                        help="X times the recorded pace (default 1; 0: as fast as possible)")
    replay.add_argument("--port", type=_port, default=0, metavar="P",
                        help="port to listen on (default: any free one)")
    replay.add_argument("--exit-when-done", action="store_true",
                        help="exit once every recorded connection was played")


async def run(args: argparse.Namespace) -> int:
    """Run ``wsevents replay``; the exit status."""
    from wsevents.testing import FakeServer

    server = FakeServer(port=args.port, compression=None)
    try:
        replay = server.replay(args.file, speed=args.speed or None)
    except (OSError, ValueError) as exc:
        print(f"wsevents replay: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    async with server:
        print(server.url, flush=True)
        if args.exit_when_done:
            await replay.wait_finished(timeout=None)
        else:
            await asyncio.Event().wait()  # until Ctrl-C
    return EXIT_OK
