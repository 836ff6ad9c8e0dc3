"""CandleAware: candle arithmetic at chosen instants, and properties at any instant."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, strategies as st

from wsevents.exceptions import ConfigError
from wsevents.policies import INTERVALS, CandleAware, PolicyContext, parse_duration


UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def ctx(now: datetime) -> PolicyContext:
    """A connected context at ``now``."""
    return PolicyContext.at(now)


# -- intervals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [
        ("1m", 60),
        ("3m", 180),
        ("5m", 300),
        ("15m", 900),
        ("30m", 1800),
        ("1h", 3600),
        ("2h", 7200),
        ("4h", 14_400),
        ("6h", 21_600),
        ("8h", 28_800),
        ("12h", 43_200),
        ("1d", 86_400),
        ("3d", 259_200),
        ("1w", 604_800),
        ("90s", 90),
        ("2w", 1_209_600),
        (14_400, 14_400),
        (timedelta(hours=4), 14_400),
    ],
)
def test_interval_forms(interval: object, seconds: float) -> None:
    """Named intervals, generic strings, seconds and timedeltas are all accepted."""
    policy = CandleAware(interval, stay_before=1, stay_after=1)  # type: ignore[arg-type]
    assert policy.interval == seconds


def test_every_named_interval_is_listed() -> None:
    """INTERVALS covers the exchange intervals from 1m to 1w."""
    assert INTERVALS[0] == "1m"
    assert INTERVALS[-1] == "1w"
    assert len(INTERVALS) == 14


def test_equal_configurations_are_equal() -> None:
    """The strings, seconds and timedeltas of one interval build equal policies."""
    assert CandleAware("4h") == CandleAware(14_400) == CandleAware(timedelta(hours=4))


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"interval": "0m"}, "interval"),
        ({"interval": 0}, "interval"),
        ({"interval": "1M"}, "interval"),
        ({"interval": "four hours"}, "interval"),
        ({"interval": -60}, "interval"),
        ({"interval": True}, "interval"),
        ({"interval": "4h", "stay_before": -1}, "stay_before"),
        ({"interval": "4h", "stay_after": "soon"}, "stay_after"),
        ({"interval": "4h", "lead": -1}, "lead"),
        ({"interval": "1m"}, "stay_before"),  # 60 + 30 >= 60
        ({"interval": "1h", "stay_before": "40m", "stay_after": "20m"}, "stay_before"),
        ({"interval": "1h", "stay_before": "20m", "stay_after": "20m", "lead": "20m"}, "lead"),
    ],
)
def test_validation(kwargs: dict[str, object], key: str) -> None:
    """Bad values raise ConfigError naming the option."""
    with pytest.raises(ConfigError) as raised:
        CandleAware(**kwargs)  # type: ignore[arg-type]
    assert raised.value.key == key


def test_default_lead() -> None:
    """The lead is 10 s, or half the free time of a short candle."""
    assert CandleAware("4h").effective_lead == 10.0
    assert CandleAware("4h", lead=25).effective_lead == 25.0
    assert CandleAware("1m", stay_before=25, stay_after=25).effective_lead == 5.0


# -- chosen instants (4h, stay_before=60, stay_after=30, lead=10) -------------------------

FOUR_H = CandleAware("4h", stay_before=60, stay_after=30)


def test_candle_open_and_close() -> None:
    """4h candles open at 00, 04, 08, ... UTC; a close is the next open."""
    assert FOUR_H.candle_open(at(2024, 1, 1, 3, 59)) == at(2024, 1, 1, 0, 0)
    assert FOUR_H.next_close(at(2024, 1, 1, 3, 59)) == at(2024, 1, 1, 4, 0)
    assert FOUR_H.candle_open(at(2024, 1, 1, 4, 0)) == at(2024, 1, 1, 4, 0)
    assert FOUR_H.next_close(at(2024, 1, 1, 4, 0)) == at(2024, 1, 1, 8, 0)
    assert FOUR_H.next_close(at(2023, 12, 31, 23, 0)) == at(2024, 1, 1, 0, 0)


@pytest.mark.parametrize(
    ("now", "guard", "disconnect", "reconnect"),
    [
        (at(2024, 1, 1, 2, 0), False, True, 7200 - 70.0),
        (at(2024, 1, 1, 3, 58, 49), False, True, 1.0),
        (at(2024, 1, 1, 3, 58, 50), False, False, True),  # the lead starts
        (at(2024, 1, 1, 3, 58, 59), False, False, True),
        (at(2024, 1, 1, 3, 59, 0), True, False, True),  # the guard starts
        (at(2024, 1, 1, 4, 0, 0), True, False, True),  # the close
        (at(2024, 1, 1, 4, 0, 30), True, False, True),  # the guard's last instant
        (at(2024, 1, 1, 4, 0, 31), False, True, 14_400 - 31 - 70.0),
    ],
)
def test_four_hour_instants(
    now: datetime, guard: bool, disconnect: bool, reconnect: bool | float
) -> None:
    """The guard, the lead and the waits at chosen instants around a 4h close."""
    assert FOUR_H.in_guard(now) is guard
    assert FOUR_H.should_disconnect(ctx(now)) is disconnect
    assert FOUR_H.should_reconnect(ctx(now)) == reconnect
    assert type(FOUR_H.should_reconnect(ctx(now))) is type(reconnect)


def test_guard_edges_to_the_microsecond() -> None:
    """The guard is [close - stay_before, close + stay_after], both ends included."""
    close = at(2024, 1, 1, 4, 0)
    assert FOUR_H.in_guard(close - timedelta(seconds=60))
    assert not FOUR_H.in_guard(close - timedelta(seconds=60) - US)
    assert FOUR_H.in_guard(close + timedelta(seconds=30))
    assert not FOUR_H.in_guard(close + timedelta(seconds=30) + US)


def test_fractional_wait() -> None:
    """Waits keep microsecond precision."""
    now = at(2024, 1, 1, 3, 58, 49) + 250_000 * US
    assert FOUR_H.should_reconnect(ctx(now)) == 0.75


def test_other_time_zones() -> None:
    """An aware instant in any zone is the same instant."""
    tokyo = timezone(timedelta(hours=9))
    now = datetime(2024, 1, 1, 12, 59, 30, tzinfo=tokyo)  # 03:59:30 UTC
    assert FOUR_H.in_guard(now)
    assert FOUR_H.next_close(now) == at(2024, 1, 1, 4, 0)
    assert FOUR_H.next_close(now).tzinfo is UTC


def test_naive_instant_refused() -> None:
    """A naive datetime is refused rather than guessed."""
    with pytest.raises(ConfigError):
        FOUR_H.in_guard(datetime(2024, 1, 1, 4, 0))


def test_weekly_candles_open_on_monday() -> None:
    """1w candles open on Monday 00:00 UTC (the epoch was a Thursday)."""
    weekly = CandleAware("1w")
    assert weekly.candle_open(at(2024, 1, 3, 12)) == at(2024, 1, 1)  # a Monday
    assert weekly.candle_open(at(2024, 1, 7, 23, 59)) == at(2024, 1, 1)
    assert weekly.candle_open(at(2024, 1, 8)) == at(2024, 1, 8)
    assert weekly.candle_open(at(1970, 1, 2)) == at(1969, 12, 29)


def test_three_day_candles_are_epoch_aligned() -> None:
    """3d candles count from 1970-01-01, as Binance's do."""
    three = CandleAware("3d")
    assert three.candle_open(at(1970, 1, 3)) == at(1970, 1, 1)
    assert three.candle_open(at(1970, 1, 4)) == at(1970, 1, 4)
    assert three.candle_open(at(2024, 1, 1)) == at(2023, 12, 31)


def test_daily_close_at_midnight() -> None:
    """1d candles close at 00:00 UTC."""
    daily = CandleAware("1d", stay_before="5m", stay_after="1m")
    assert daily.next_close(at(2024, 2, 29, 13)) == at(2024, 3, 1)
    assert daily.in_guard(at(2024, 2, 29, 23, 56))
    assert not daily.in_guard(at(2024, 2, 29, 23, 54))


# -- properties at any instant, for every interval ------------------------------------


@st.composite
def candles(draw: st.DrawFn) -> CandleAware:
    """A valid CandleAware for one of the named intervals."""
    interval = draw(st.sampled_from(INTERVALS))
    seconds = int(parse_duration(interval, key="interval"))
    third = seconds // 3
    before = draw(st.integers(0, third))
    after = draw(st.integers(0, third))
    lead = draw(st.none() | st.integers(0, third - 1))
    return CandleAware(interval, stay_before=before, stay_after=after, lead=lead)


instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def us(seconds: float) -> timedelta:
    """Seconds as a timedelta, rounded to the microsecond."""
    return timedelta(seconds=seconds)


@given(policy=candles(), now=instants)
@example(policy=CandleAware("1w", stay_before=60, stay_after=30), now=at(2024, 1, 1))
def test_candle_bounds(policy: CandleAware, now: datetime) -> None:
    """open <= now < close, the candle lasts one interval and opens on the grid."""
    opened, close = policy.candle_open(now), policy.next_close(now)
    assert opened <= now < close
    assert close - opened == us(policy.interval)
    grid = timedelta(days=4) if policy.interval % 604_800 == 0 else timedelta(0)
    assert (opened - EPOCH - grid) % us(policy.interval) == timedelta(0)


@given(policy=candles(), now=instants)
def test_weekly_opens_monday(policy: CandleAware, now: datetime) -> None:
    """Every candle of a weekly policy opens at Monday 00:00 UTC; daily ones at midnight."""
    opened = policy.candle_open(now)
    if policy.interval % 86_400 == 0:
        assert opened.time() == datetime.min.time()
    if policy.interval == 604_800:
        assert opened.weekday() == 0


@given(policy=candles(), now=instants, data=st.data())
def test_never_disconnect_in_guard(policy: CandleAware, now: datetime, data: st.DataObject) -> None:
    """Any instant within [close - stay_before, close + stay_after] is guarded, never dropped."""
    close = policy.next_close(now)
    offset = data.draw(
        st.integers(-round(policy.stay_before * 1e6), round(policy.stay_after * 1e6))
    )
    instant = close + offset * US
    assert policy.in_guard(instant)
    assert policy.should_disconnect(ctx(instant)) is False
    assert policy.should_reconnect(ctx(instant)) is True


@given(policy=candles(), now=instants)
def test_guard_implies_stay(policy: CandleAware, now: datetime) -> None:
    """At a random instant: in the guard, should_disconnect is False."""
    if policy.in_guard(now):
        assert policy.should_disconnect(ctx(now)) is False


@given(policy=candles(), now=instants)
def test_answers_agree(policy: CandleAware, now: datetime) -> None:
    """should_disconnect is True exactly when should_reconnect is not: no flapping."""
    disconnect = policy.should_disconnect(ctx(now))
    reconnect = policy.should_reconnect(ctx(now))
    assert disconnect is (reconnect is not True)


@given(policy=candles(), now=instants)
def test_waits_land_on_the_lead(policy: CandleAware, now: datetime) -> None:
    """A wait ends exactly at close - stay_before - lead, where the answer turns True."""
    answer = policy.should_reconnect(ctx(now))
    if answer is True:
        return
    assert isinstance(answer, float)
    assert answer > 0
    target = policy.next_close(now) - us(policy.stay_before) - us(policy.effective_lead)
    assert now + us(answer) == target
    assert policy.should_reconnect(ctx(target)) is True
    assert policy.should_disconnect(ctx(target)) is False
    assert policy.should_reconnect(ctx(target - US)) == 1e-6


@given(policy=candles(), now=instants)
def test_disconnect_after_guard(policy: CandleAware, now: datetime) -> None:
    """Just after close + stay_after the policy lets the connection go."""
    after = policy.candle_open(now) + us(policy.stay_after) + US
    assert policy.should_disconnect(ctx(after)) is True


@given(policy=candles(), now=instants, hours=st.integers(-12, 14))
def test_time_zone_invariance(policy: CandleAware, now: datetime, hours: int) -> None:
    """The same instant in another zone gives the same answers."""
    shifted = now.astimezone(timezone(timedelta(hours=hours)))
    assert policy.candle_open(shifted) == policy.candle_open(now)
    assert policy.should_reconnect(ctx(shifted)) == policy.should_reconnect(ctx(now))
