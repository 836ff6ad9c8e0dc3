"""Backoff strategies, pinned down to the value (written against surviving mutants)."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from wsevents import ConfigError
from wsevents.backoff import ExponentialBackoff, FixedDelay, Immediate


def fresh_backoff() -> ModuleType:
    """A fresh execution of ``wsevents.backoff`` (not registered in ``sys.modules``).

    Its validators are closures built when the module runs; running it again
    inside the test lets mutation testing (which switches a mutant on after the
    first import) reach the code that builds them.
    """
    spec = importlib.util.find_spec("wsevents.backoff")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config_error(make: Callable[[], Any], key: str, value: Any, why: str) -> None:
    """``make()`` raises exactly ``ConfigError(key, value, why)``."""
    with pytest.raises(ConfigError) as info:
        make()
    error = info.value
    assert (error.key, error.why) == (key, why)
    assert error.value is value or error.value == value
    assert str(error) == f"{key}={value!r}: {why}"


class Draws(random.Random):
    """A generator whose ``random()`` answers a fixed value and counts the calls."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value
        self.calls = 0

    def random(self) -> float:
        self.calls += 1
        return self.value


@pytest.mark.parametrize("field", ["initial", "maximum", "multiplier", "first"])
@pytest.mark.parametrize("value", [-1, -0.5, True, "1", None, float("nan")])
def test_non_negative_fields_reject(field: str, value: Any) -> None:
    config_error(
        lambda: fresh_backoff().ExponentialBackoff(**{field: value}),
        f"backoff.{field}",
        value,
        "must be a number >= 0",
    )


@pytest.mark.parametrize("field", ["initial", "maximum", "first"])
def test_non_negative_fields_reject_infinity(field: str) -> None:
    config_error(
        lambda: fresh_backoff().ExponentialBackoff(**{field: float("inf")}),
        f"backoff.{field}",
        float("inf"),
        "must be finite",
    )


def test_zero_is_allowed() -> None:
    fresh = fresh_backoff()
    backoff = fresh.ExponentialBackoff(initial=0, maximum=0, first=0, jitter=0)
    assert backoff.delay(1) == 0
    assert backoff.delay(5) == 0
    assert fresh.FixedDelay(delay=0).delay(3) == 0
    assert fresh.FixedDelay(delay=0.5).delay(3) == 0.5
    config_error(lambda: fresh.FixedDelay(delay=-1), "backoff.delay", -1, "must be a number >= 0")
    large = fresh.ExponentialBackoff(initial=1e300, maximum=1e300, first=1e300)
    assert large.first == 1e300


@pytest.mark.parametrize("value", [-0.1, 1.1, 2, True, "0.5", None])
def test_jitter_must_be_a_fraction(value: Any) -> None:
    config_error(
        lambda: fresh_backoff().ExponentialBackoff(jitter=value),
        "backoff.jitter",
        value,
        "must be a number between 0 and 1",
    )


@pytest.mark.parametrize("value", [0, 0.5, 1, 1.0])
def test_jitter_bounds_are_allowed(value: float) -> None:
    assert fresh_backoff().ExponentialBackoff(jitter=value).jitter == value


def test_multiplier_below_one() -> None:
    config_error(
        lambda: ExponentialBackoff(multiplier=0.5), "backoff.multiplier", 0.5, "must be >= 1"
    )
    assert ExponentialBackoff(multiplier=1, jitter=0, initial=2).delay(9) == 2


def test_maximum_below_initial() -> None:
    config_error(
        lambda: ExponentialBackoff(initial=2, maximum=1),
        "backoff.maximum",
        1,
        "must be >= backoff.initial",
    )
    assert ExponentialBackoff(initial=2, maximum=2, jitter=0).delay(2) == 2


def test_exact_delays_without_jitter() -> None:
    backoff = ExponentialBackoff(initial=0.5, maximum=30, multiplier=2, jitter=0, first=0.25)
    assert [backoff.delay(n) for n in range(0, 10)] == [
        0.25,
        0.25,
        0.5,
        1,
        2,
        4,
        8,
        16,
        30,
        30,
    ]


def test_exponent_is_capped_at_1000() -> None:
    backoff = ExponentialBackoff(initial=1, maximum=30, multiplier=1.001, jitter=0)
    assert backoff.delay(10**6) == 1.001**1000
    assert backoff.delay(1002) == 1.001**1000
    assert backoff.delay(1001) == 1.001**999


def test_overflow_gives_the_maximum() -> None:
    backoff = ExponentialBackoff(initial=1, maximum=7, multiplier=1e10, jitter=0)
    assert backoff.delay(500) == 7


def test_jitter_draws_from_the_injected_generator() -> None:
    rng = Draws(0.5)
    backoff = ExponentialBackoff(initial=4, maximum=30, jitter=0.5, rng=rng)
    # 4 * (1 - 0.5) + 4 * 0.5 * 0.5
    assert backoff.delay(2) == 3.0
    assert rng.calls == 1
    full = ExponentialBackoff(initial=4, maximum=30, jitter=1.0, rng=Draws(0.25))
    assert full.delay(3) == 2.0


def test_no_draw_without_jitter_or_without_delay() -> None:
    rng = Draws(0.5)
    assert ExponentialBackoff(initial=4, jitter=0, rng=rng).delay(2) == 4
    assert ExponentialBackoff(initial=4, jitter=1, rng=rng).delay(1) == 0
    assert rng.calls == 0


def test_shared_generator_without_rng() -> None:
    random.seed(7)
    expected = random.random()
    random.seed(7)
    assert ExponentialBackoff(initial=4, jitter=1).delay(2) == 4 * expected


def test_fixed_delay_first() -> None:
    fixed = FixedDelay(delay=2, first=0.5)
    assert [fixed.delay(n) for n in (0, 1, 2, 3)] == [0.5, 0.5, 2, 2]
    assert [FixedDelay(delay=2).delay(n) for n in (1, 2)] == [2, 2]
    assert FixedDelay().delay(1) == 1.0


def test_defaults() -> None:
    backoff = ExponentialBackoff()
    assert (
        backoff.initial,
        backoff.maximum,
        backoff.multiplier,
        backoff.jitter,
        backoff.first,
    ) == (
        0.5,
        30.0,
        2.0,
        1.0,
        0.0,
    )
    assert Immediate().delay(5) == 0.0
