"""Unit-test settings: the hypothesis profile that mutation testing runs with.

``bench/mutation.sh`` runs these tests once per mutant in one process
(``mutmut``), which calls each test from more than one executor; the
``mutation`` profile allows that and makes every run see the same examples.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings


settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", params=["compiled", "python"])
def level_loop(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests on both sides of the order book: the compiled one
    (``wsevents/book/_levels.c``) and the pure-Python one it falls back to."""
    from wsevents.book import _book

    if request.param == "compiled":
        assert _book._CSide is not None, (
            "wsevents.book._levels was not built: the install needs a C compiler"
        )
        assert _book._Side is _book._CSide
        yield request.param
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_book, "_Side", _book._PySide)
        yield request.param
