"""The coverage gate: branch coverage >= 95 % overall and for every module of
layers L0-L3 (the layer table of tests/test_layering.py).

Run after ``coverage run -m pytest`` (the README's test command under coverage)
and ``coverage combine``: ``python .ci/coverage_gate.py``.  Prints each core
module's figure and exits 1 if any is under the bar.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
BAR = 95.0
sys.path.insert(0, str(ROOT))

from tests.test_layering import LAYERS  # noqa: E402


def main() -> int:
    report = ROOT / "coverage.json"
    subprocess.run(
        [sys.executable, "-m", "coverage", "json", "-q", "-o", str(report)], check=True, cwd=ROOT
    )
    data = json.loads(report.read_text())
    failures: list[str] = []
    rows: list[tuple[str, float]] = []
    for path, entry in sorted(data["files"].items()):
        rel = Path(path).resolve().relative_to(ROOT / "wsevents").with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
        if LAYERS[parts[0]] > 3:
            continue
        percent = entry["summary"]["percent_covered"]
        rows.append((".".join(parts), percent))
        if percent < BAR:
            failures.append(f"{'.'.join(parts)}: {percent:.1f} %")
    total = data["totals"]["percent_covered"]
    for name, percent in rows:
        print(f"  {name:<28} {percent:5.1f} %")
    print(f"  {'TOTAL (all modules)':<28} {total:5.1f} %")
    if total < BAR:
        failures.append(f"overall: {total:.1f} %")
    if failures:
        print(f"coverage gate FAILED (bar {BAR:.0f} %): " + "; ".join(failures))
        return 1
    print(f"coverage gate passed (bar {BAR:.0f} % overall and per L0-L3 module)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
