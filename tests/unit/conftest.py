"""Unit-test settings: the hypothesis profile that mutation testing runs with.

``bench/mutation.sh`` runs these tests once per mutant in one process
(``mutmut``), which calls each test from more than one executor; the
``mutation`` profile allows that and makes every run see the same examples.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings


settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)
