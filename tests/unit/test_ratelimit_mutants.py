"""RateLimit and its window, the details mutation testing found untested: the
value and reason every ConfigError carries, the default window, the jitter's
range and generator, copy(), the queue's order when a slot frees before the
waiter's timer, and the window's delay once it has passed (pure; virtual time)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

import wsevents
from tests.unit.test_ratelimit import VirtualLoop, run
from wsevents._window import Window, check_limit
from wsevents.ratelimit import RateLimit, chunks


class RecordingRandom(random.Random):
    """A generator whose ``uniform`` returns the low end and records its bounds."""

    def __init__(self) -> None:
        super().__init__(0)
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return a


def error(call: Any, *args: Any, **kwargs: Any) -> tuple[str, Any, str]:
    with pytest.raises(wsevents.ConfigError) as raised:
        call(*args, **kwargs)
    return raised.value.key, raised.value.value, raised.value.why


def test_every_config_error_names_the_value_and_the_rule() -> None:
    assert error(check_limit, "x", 0, 1.0) == ("x.n", 0, "must be an integer >= 1")
    assert error(check_limit, "x", 1, "1") == ("x.per", "1", "must be a number of seconds")
    assert error(check_limit, "x", 1, -2.0) == (
        "x.per", -2.0, "must be a finite number of seconds > 0"
    )
    assert error(chunks, "abc", 2) == (
        "items", "abc", "must be an iterable of items, not one string"
    )
    assert error(RateLimit, 1, clock=3) == (
        "RateLimit.clock", 3, "must be a callable returning seconds"
    )
    assert error(RateLimit, 1, rng=3) == ("RateLimit.rng", 3, "must be a random.Random or None")


def test_the_default_window_is_one_second() -> None:
    assert RateLimit(3).per == 1.0


def test_jitter_draws_from_the_given_generator_up_to_jitter_per_over_n() -> None:
    """The extra delay is uniform in [0, jitter * per / n], from ``rng``."""
    rng = RecordingRandom()

    async def main(loop: VirtualLoop) -> None:
        limit = RateLimit(2, per=4.0, jitter=0.5, clock=loop.time, rng=rng)
        await limit.acquire()

    run(main)
    assert rng.calls == [(0.0, 0.5 * 4.0 / 2)]


def test_copy_has_the_settings_and_an_empty_window() -> None:
    """copy(): same n, per, jitter, clock and generator; a window of its own."""
    now = [0.0]
    rng = RecordingRandom()
    limit = RateLimit(1, per=2.0, jitter=1.0, clock=lambda: now[0], rng=rng)
    assert limit.try_acquire()
    twin = limit.copy()
    assert (twin.n, twin.per, twin.jitter) == (1, 2.0, 1.0)
    assert twin.try_acquire()  # its own window
    now[0] = 1.0
    assert twin.delay() == 1.0  # the same clock
    now[0] = 2.0

    async def main(loop: VirtualLoop) -> None:
        await twin.acquire()

    run(main)
    assert rng.calls == [(0.0, 1.0 * 2.0 / 1)]  # the same generator


def test_a_new_acquire_never_jumps_a_waiter_when_a_slot_frees() -> None:
    """The window has room again but the waiter's timer has not fired yet: a new
    acquire() queues behind it instead of taking the slot."""
    now = [0.0]

    async def main(loop: VirtualLoop) -> tuple[bool, bool]:
        limit = RateLimit(1, per=10.0, clock=lambda: now[0])
        await limit.acquire()
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)  # queued, its timer set 10 s ahead (virtual)
        now[0] = 10.0  # the limit's clock: a slot is free now
        newcomer = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        done = (waiter.done(), newcomer.done())
        for task in (waiter, newcomer):
            task.cancel()
        await asyncio.gather(waiter, newcomer, return_exceptions=True)
        return done

    assert run(main) == (False, False)


def test_the_window_delay_is_zero_once_the_oldest_grant_left_it() -> None:
    window = Window(1, 2.0)
    window.grant(10.0)
    assert window.delay(11.5) == 0.5
    assert window.delay(12.0) == 0.0
    assert window.delay(15.0) == 0.0  # never negative
