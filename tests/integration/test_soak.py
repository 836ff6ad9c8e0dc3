"""The chaos soak (bench/soak.py), five seconds of it, on the transport under test.

The 60-second soak runs from ``.ci/run``; this short one keeps the script
working between CI runs: a feed server process killed, frozen and refusing,
a Redis outage, two pools, and the invariants of issue 16 checked at the end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import COMPRESSION, TRANSPORT


ROOT = Path(__file__).resolve().parents[2]


def test_a_five_second_soak_ends_with_no_violation() -> None:
    """A fixed seed whose schedule has a freeze, a 503 and a handover; exit 0 and the
    table, with ``violations: 0``."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            "--duration",
            "5",
            "--seed",
            "3",
            "--transport",
            TRANSPORT,
            "--compression",
            COMPRESSION,
        ],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "violations: 0" in done.stdout
    assert "| sigstop_sigcont " in done.stdout  # the seed's schedule injected faults
