"""MaxConnectionAge: recycle a connection before the server's forced cut."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from wsevents.events import State
from wsevents.exceptions import ConfigError
from wsevents.policies import MaxConnectionAge, PolicyContext


NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)


def test_disconnects_at_max_age_minus_margin() -> None:
    """should_disconnect turns True when uptime reaches max_age - margin."""
    policy = MaxConnectionAge("24h", margin="5m")
    limit = 24 * 3600 - 300
    assert policy.recycle_after == limit
    assert policy.should_disconnect(PolicyContext.at(NOW, uptime=limit - 0.001)) is False
    assert policy.should_disconnect(PolicyContext.at(NOW, uptime=limit)) is True
    assert policy.should_disconnect(PolicyContext.at(NOW, uptime=limit + 3600)) is True


def test_never_disconnects_when_not_connected() -> None:
    """Without a connection there is no uptime, and nothing to recycle."""
    policy = MaxConnectionAge(60)
    assert policy.should_disconnect(PolicyContext.at(NOW, state=State.PAUSED)) is False


def test_reconnects_at_once() -> None:
    """A recycled connection is replaced immediately."""
    assert MaxConnectionAge(60).should_reconnect(PolicyContext.at(NOW, state=State.PAUSED)) is True


@pytest.mark.parametrize("max_age", ["24h", 86_400, 86_400.0, timedelta(days=1), "1d", "1440m"])
def test_duration_forms(max_age: object) -> None:
    """Seconds, timedeltas and strings are the same age."""
    assert MaxConnectionAge(max_age).max_age == 86_400.0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "key"),
    [
        ((0,), {}, "max_age"),
        (("0s",), {}, "max_age"),
        (("forever",), {}, "max_age"),
        ((-5,), {}, "max_age"),
        ((60,), {"margin": 60}, "margin"),
        ((60,), {"margin": "2m"}, "margin"),
        ((60,), {"margin": -1}, "margin"),
    ],
)
def test_validation(args: tuple[object, ...], kwargs: dict[str, object], key: str) -> None:
    """Bad values raise ConfigError naming the option."""
    with pytest.raises(ConfigError) as raised:
        MaxConnectionAge(*args, **kwargs)  # type: ignore[arg-type]
    assert raised.value.key == key
