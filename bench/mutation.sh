#!/usr/bin/env bash
# Mutation testing of the pure core, on demand (never in CI): mutmut 3 mutates
# wsevents/_supervisor.py, backoff.py, routing.py, _tracking.py, policies/*,
# ratelimit.py and _window.py
# (the [tool.mutmut] table of pyproject.toml) and runs the fast unit tests
# (tests/unit, a few seconds) against every mutant, then writes bench/MUTATION.md:
# the score per module and every surviving mutant with its justification.
#
#   bench/mutation.sh                 # full run (~4 min on 2 cores), then the report
#   bench/mutation.sh --report        # rewrite bench/MUTATION.md from the last run
#   JOBS=4 bench/mutation.sh          # more parallel mutants
#   PYTHON=/path/to/python bench/mutation.sh   # another interpreter (default .venv's)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if ! "$PYTHON" -c "import mutmut" 2>/dev/null; then
    "$PYTHON" -m pip install -q -e '.[test,mutation]'
fi
MUTMUT="$(dirname "$PYTHON")/mutmut"
if [ "${1:-}" != "--report" ]; then
    rm -rf mutants   # a fresh copy: mutmut keeps results of unchanged code otherwise
    start=$(date +%s)
    "$MUTMUT" run --max-children "${JOBS:-2}" >/dev/null
    echo "mutmut run: $(( $(date +%s) - start )) s"
fi
"$PYTHON" bench/mutation_report.py "$MUTMUT" > bench/MUTATION.md
sed -n '1,/^## Survivors/p' bench/MUTATION.md
