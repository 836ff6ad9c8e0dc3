"""RateLimit and its window: strictness (a hypothesis property over any schedule
of acquires), FIFO fairness, cancellation, jitter, validation.

Time is virtual: the tests run on an event loop whose clock jumps to the next
timer whenever nothing is ready (trio's ``MockClock(autojump_threshold=0)``),
and the limit reads that clock through its ``clock`` parameter.  Nothing here
touches a socket or waits in real time.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings, strategies as st

import wsevents
from wsevents._window import Window, busiest, check_limit
from wsevents.ratelimit import RateLimit, chunks


_T = TypeVar("_T")


class _AutojumpSelector(selectors.DefaultSelector):
    """A selector that, instead of blocking, moves the virtual clock forward."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("virtual time: the loop would wait forever (a deadlock)")
        if timeout > 0:
            self.now += timeout
        return super().select(0)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time that jumps to the next timer when idle."""

    def __init__(self) -> None:
        self._virtual = _AutojumpSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def run(main: Callable[[VirtualLoop], Awaitable[_T]]) -> _T:
    """Run ``main(loop)`` to completion on a fresh virtual-time loop."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


def spans_ok(grants: list[float], n: int, per: float) -> bool:
    """Every n + 1 consecutive grants span at least ``per`` (the strict window)."""
    ordered = sorted(grants)
    return all(ordered[i + n] >= ordered[i] + per for i in range(len(ordered) - n))


# -- the pure window ---------------------------------------------------------------------


def test_window_allows_n_then_waits_for_the_oldest() -> None:
    """n grants at once, then the next one exactly ``per`` after the oldest."""
    w = Window(3, 1.0)
    assert [w.try_grant(10.0) for _ in range(4)] == [True, True, True, False]
    assert w.delay(10.5) == 0.5
    assert w.in_window(10.5) == 3
    assert not w.try_grant(10.999)
    assert w.delay(11.0) == 0.0
    w.grant(11.0)
    assert w.in_window(11.0) == 1  # the three grants of t=10 left the window
    w.grant(11.0)
    w.grant(11.0)
    with pytest.raises(RuntimeError, match="no grant allowed"):
        w.grant(11.0)
    assert repr(w) == "Window(n=3, per=1, recent=3)"


def test_busiest_counts_half_open_windows() -> None:
    """Events exactly ``per`` apart are in different windows."""
    assert busiest([], 1.0) == 0
    assert busiest([0.0, 1.0, 2.0], 1.0) == 1
    assert busiest([2.0, 0.0, 0.5, 0.9, 1.0], 1.0) == 3
    assert busiest([0.0, 0.0, 0.0], 0.1) == 3


@given(
    times=st.lists(st.floats(min_value=0.0, max_value=10.0, allow_nan=False), max_size=30),
    per=st.floats(min_value=0.01, max_value=5.0, allow_nan=False),
)
def test_busiest_matches_a_brute_force_count(times: list[float], per: float) -> None:
    """busiest() is the most events in any window [t, t + per) starting at an event."""
    brute = max((sum(1 for u in times if t <= u < t + per) for t in times), default=0)
    assert busiest(times, per) == brute


@pytest.mark.parametrize(
    ("n", "per", "key"),
    [
        (0, 1.0, "x.n"),
        (True, 1.0, "x.n"),
        (2.0, 1.0, "x.n"),
        (1, 0, "x.per"),
        (1, -1.0, "x.per"),
        (1, float("inf"), "x.per"),
        (1, float("nan"), "x.per"),
        (1, "1", "x.per"),
        (1, True, "x.per"),
    ],
)
def test_check_limit_names_the_bad_value(n: object, per: object, key: str) -> None:
    """A bad n or per is a ConfigError naming it."""
    with pytest.raises(wsevents.ConfigError) as raised:
        check_limit("x", n, per)
    assert raised.value.key == key


# -- the property --------------------------------------------------------------------------

#: one caller: (arrival time, cancelled after this many seconds or never, try_acquire?)
_caller = st.tuples(
    st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=3.0, allow_nan=False)),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=6),
    per=st.floats(min_value=0.01, max_value=2.0, allow_nan=False),
    jitter=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    callers=st.lists(_caller, max_size=40),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_no_window_ever_holds_more_than_n_grants(
    n: int,
    per: float,
    jitter: float,
    callers: list[tuple[float, float | None, bool]],
    seed: int,
) -> None:
    """For any schedule of acquires, try_acquires and cancellations: every window
    of ``per`` holds at most ``n`` grants, waiters are served in order of
    arrival, a cancelled waiter takes no slot, everyone else gets one."""

    async def main(loop: VirtualLoop) -> None:
        limit = RateLimit(n, per=per, jitter=jitter, clock=loop.time, rng=random.Random(seed))
        grants: list[float] = []
        served: list[int] = []
        arrived: list[int] = []
        tried = 0

        async def caller(i: int, at: float, cancel_after: float | None, try_only: bool) -> None:
            nonlocal tried
            await asyncio.sleep(at)
            if try_only:
                tried += 1
                if limit.try_acquire():
                    grants.append(loop.time())
                return
            arrived.append(i)
            task = asyncio.current_task()
            assert task is not None
            if cancel_after is not None:
                loop.call_later(cancel_after, task.cancel)
            try:
                await limit.acquire()
            except asyncio.CancelledError:
                return
            grants.append(loop.time())
            served.append(i)

        # callers at the same instant arrive in list order (tasks start in order)
        tasks = [
            asyncio.ensure_future(caller(i, *c)) for i, c in enumerate(callers)
        ]
        await asyncio.gather(*tasks, return_exceptions=True)

        assert spans_ok(grants, n, per)
        assert busiest(grants, per) <= n
        assert served == [i for i in arrived if i in served]  # FIFO
        never_cancelled = [i for i, c in enumerate(callers) if c[1] is None and not c[2]]
        assert set(never_cancelled) <= set(served)
        assert limit.waiting == 0

    run(main)


# -- fairness, cancellation, jitter --------------------------------------------------------


def test_waiters_are_served_in_order_of_arrival() -> None:
    """Five waiters on a 2-per-second limit: granted in arrival order, two per second."""

    async def main(loop: VirtualLoop) -> list[tuple[int, float]]:
        limit = RateLimit(2, per=1.0, clock=loop.time)
        order: list[tuple[int, float]] = []

        async def take(i: int) -> None:
            await limit.acquire()
            order.append((i, loop.time()))

        await asyncio.gather(*(take(i) for i in range(5)))
        return order

    assert run(main) == [(0, 0.0), (1, 0.0), (2, 1.0), (3, 1.0), (4, 2.0)]


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    """Cancelling the head and a waiter further back: the rest move up, no slot is lost."""

    async def main(loop: VirtualLoop) -> list[tuple[str, float]]:
        limit = RateLimit(1, per=1.0, clock=loop.time)
        await limit.acquire()  # the slot of t=0 is used
        order: list[tuple[str, float]] = []

        async def take(name: str) -> None:
            await limit.acquire()
            order.append((name, loop.time()))

        head = asyncio.ensure_future(take("head"))
        middle = asyncio.ensure_future(take("middle"))
        last = asyncio.ensure_future(take("last"))
        await asyncio.sleep(0.5)
        assert limit.waiting == 3
        assert "3 waiting" in repr(limit)
        head.cancel()
        middle.cancel()
        await asyncio.gather(head, middle, return_exceptions=True)
        assert limit.waiting == 1
        await last
        return order

    # "last" takes the slot freed at t=1.0, as the head would have
    assert run(main) == [("last", 1.0)]


def test_a_waiter_cancelled_just_as_its_turn_comes_passes_it_on() -> None:
    """The turn is handed to a waiter that is cancelled before it runs: the next one
    gets it, and the cancelled one takes no slot."""

    async def main(loop: VirtualLoop) -> list[tuple[str, float]]:
        limit = RateLimit(1, per=1.0, clock=loop.time)
        order: list[tuple[str, float]] = []

        async def take(name: str) -> None:
            await limit.acquire()
            order.append((name, loop.time()))

        first = asyncio.ensure_future(take("first"))
        second = asyncio.ensure_future(take("second"))
        third = asyncio.ensure_future(take("third"))
        await asyncio.sleep(0)  # first takes t=0 at once; second and third queue
        assert order == [("first", 0.0)]
        await asyncio.sleep(0)
        assert limit.waiting == 2
        # second becomes head and sleeps until t=1; cancel it while third waits
        await asyncio.sleep(0.999)
        second.cancel()
        await asyncio.gather(first, second, third, return_exceptions=True)
        return order

    assert run(main) == [("first", 0.0), ("third", 1.0)]


def test_try_acquire_never_jumps_the_queue() -> None:
    """try_acquire is refused while someone waits, even when the window has room."""

    async def main(loop: VirtualLoop) -> None:
        limit = RateLimit(1, per=1.0, jitter=1.0, clock=loop.time, rng=random.Random(1))
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        assert limit.waiting == 1
        assert limit.delay() == 0.0  # the window has room, the waiter is jittering
        assert not limit.try_acquire()
        await waiter
        assert limit.delay() == pytest.approx(1.0)  # granted just now
        assert not limit.try_acquire()

    run(main)


def test_jitter_spreads_a_crowd_and_never_breaks_the_limit() -> None:
    """50 connects after a blip on 10 per second with jitter=1: each waits a random
    extra in [0, 0.1] s once a slot is free, so no two start together."""

    async def main(loop: VirtualLoop) -> list[float]:
        limit = RateLimit(10, per=1.0, jitter=1.0, clock=loop.time, rng=random.Random(7))
        times: list[float] = []

        async def connect() -> None:
            await limit.acquire()
            times.append(loop.time())

        await asyncio.gather(*(connect() for _ in range(50)))
        return times

    times = run(main)
    assert spans_ok(times, 10, 1.0)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0
    assert len(set(times)) == 50  # spread: no burst
    assert all(g <= 0.1 + 1e-9 for g in gaps[:9])  # jitter bounded by per/n while free
    assert sorted(times) == times


def test_without_jitter_a_crowd_goes_in_bursts_of_n() -> None:
    """The control for the jitter test: the same crowd without jitter."""

    async def main(loop: VirtualLoop) -> list[float]:
        limit = RateLimit(10, per=1.0, clock=loop.time)
        times: list[float] = []

        async def connect() -> None:
            await limit.acquire()
            times.append(loop.time())

        await asyncio.gather(*(connect() for _ in range(25)))
        return times

    assert run(main) == [0.0] * 10 + [1.0] * 10 + [2.0] * 5


def test_one_limit_waited_on_from_two_loops_is_an_error() -> None:
    """A limit belongs to one event loop while it has waiters: a clear error, no hang."""
    limit = RateLimit(1, per=10.0)
    first, second = VirtualLoop(), VirtualLoop()
    try:

        async def queue_one() -> asyncio.Future[None]:
            await limit.acquire()
            pending = asyncio.ensure_future(limit.acquire())
            await asyncio.sleep(0)
            return pending

        pending = first.run_until_complete(queue_one())
        assert limit.waiting == 1
        with pytest.raises(RuntimeError) as raised:
            second.run_until_complete(limit.acquire())
        assert str(raised.value) == (
            "RateLimit is shared by one event loop: it has waiters in another one"
        )
        assert limit.waiting == 1
        pending.cancel()
        first.run_until_complete(asyncio.gather(pending, return_exceptions=True))
        assert limit.waiting == 0
    finally:
        first.close()
        second.close()


def test_repr_and_properties() -> None:
    """The repr tells the limit and its state; the options read back."""
    now = [100.0]
    limit = RateLimit(5, per=2.0, jitter=0.5, clock=lambda: now[0])
    assert (limit.n, limit.per, limit.jitter, limit.waiting) == (5, 2.0, 0.5, 0)
    assert limit.try_acquire()
    assert limit.try_acquire()
    assert repr(limit) == "<RateLimit 5 per 2 s, jitter=0.5: 2 in the window, 0 waiting>"
    now[0] = 102.0
    assert "0 in the window" in repr(limit)


def test_default_clock_is_monotonic() -> None:
    """Without an injected clock the limit reads time.monotonic (the loop's clock)."""
    limit = RateLimit(1, per=3600.0)
    assert limit.try_acquire()
    assert not limit.try_acquire()
    assert 3599.0 < limit.delay() <= 3600.0


async def test_acquire_on_the_real_loop() -> None:
    """A free slot is taken at once; the next waits about ``per`` on the real clock."""
    limit = RateLimit(1, per=0.02)
    loop = asyncio.get_running_loop()
    await limit.acquire()
    start = loop.time()
    await limit.acquire()
    assert loop.time() - start >= 0.015


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"n": 0}, "RateLimit.n"),
        ({"n": 1, "per": 0}, "RateLimit.per"),
        ({"n": 1, "jitter": -1}, "RateLimit.jitter"),
        ({"n": 1, "jitter": float("nan")}, "RateLimit.jitter"),
        ({"n": 1, "clock": 3}, "RateLimit.clock"),
        ({"n": 1, "rng": 3}, "RateLimit.rng"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], key: str) -> None:
    """Every bad option is a ConfigError naming it."""
    with pytest.raises(wsevents.ConfigError) as raised:
        RateLimit(**options)
    assert raised.value.key == key


# -- chunks ----------------------------------------------------------------------------------


def test_chunks_splits_in_order() -> None:
    """At most n per list, in order, the last one shorter; nothing for nothing."""
    assert list(chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks([], 3)) == []
    assert list(chunks(iter(["a", "b"]), 5)) == [["a", "b"]]
    channels = [f"s{i}@trade" for i in range(3000)]
    groups = list(chunks(channels, 200))
    assert len(groups) == 15
    assert [c for g in groups for c in g] == channels


@pytest.mark.parametrize(
    ("items", "n", "key"),
    [(["a"], 0, "n"), (["a"], 1.5, "n"), (["a"], True, "n"), ("abc", 2, "items")],
)
def test_chunks_validates_at_the_call(items: Any, n: Any, key: str) -> None:
    """Bad arguments fail when chunks() is called, not at the first next()."""
    with pytest.raises(wsevents.ConfigError) as raised:
        chunks(items, n)
    assert raised.value.key == key
