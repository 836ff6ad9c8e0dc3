"""What the command line's commands share (layer L5): one-line descriptions of
lifecycle events, and argument helpers.

Used by ``wsevents tail`` (:mod:`wsevents.cli`), ``wsevents demo``
(:mod:`wsevents._demo`) and ``wsevents publish`` / ``consume``
(:mod:`wsevents._cli_bus`).
"""

from __future__ import annotations

import argparse

from wsevents import Disconnected, Gap, Handover, QueueFull, Reconnecting


__all__ = [
    "describe_disconnect",
    "describe_gap",
    "describe_handover",
    "describe_queue_full",
    "describe_reconnecting",
    "one_line",
    "positive_int",
    "verbose_option",
]


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (white space collapsed), shortened to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe_disconnect(event: Disconnected) -> str:
    """``network_error 1006 (reactive, up 2.20 s)``, ``server_close 1013 "..." (...)``."""
    text = event.reason.value
    if event.code is not None:
        text += f" {event.code}"
    if event.reason_text and event.reason_text != event.reason.value:
        text += f' "{one_line(event.reason_text, 60)}"'
    kind = "proactive" if event.proactive else "reactive"
    return f"{text} ({kind}, up {event.uptime:.2f} s)"


def describe_reconnecting(event: Reconnecting) -> str:
    """``attempt 2 in 0.20 s (server_close): <the error>``."""
    text = f"attempt {event.attempt} in {event.delay:.2f} s ({event.reason.value})"
    if event.error is not None:
        text += f": {one_line(event.error, 160)}"
    return text


def describe_queue_full(event: QueueFull) -> str:
    """``159 dropped on trades (159 in all), queue of 32 full, drop_oldest``."""
    where = f" on {event.channel}" if event.channel else ""
    return (
        f"{event.dropped} dropped{where} ({event.total_dropped} in all), "
        f"queue of {event.size} full, {event.overflow}"
    )


def describe_gap(event: Gap) -> str:
    """``trades: #57 to #64 missed (8), delivering #65``, or a repeat / step back."""
    if event.missing == 0:
        return (
            f"{event.channel}: #{event.received} again (expected #{event.expected}), "
            "not delivered twice"
        )
    missed = (
        f"#{event.expected}"
        if event.missing == 1
        else f"#{event.expected} to #{event.received - 1}"
    )
    return f"{event.channel}: {missed} missed ({event.missing}), delivering #{event.received}"


def describe_handover(event: Handover) -> str:
    """``switched after 180 ms of overlap, 1 duplicate dropped``."""
    plural = "" if event.duplicates_dropped == 1 else "s"
    return (
        f"switched after {event.overlap * 1000:.0f} ms with both connections open, "
        f"{event.duplicates_dropped} duplicate{plural} dropped (received on both, delivered once)"
    )


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def verbose_option(parser: argparse.ArgumentParser) -> None:
    """``-v`` / ``--verbose`` (counted) on ``parser``."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the library's messages on stderr (-vv: debug)",
    )
