#!/usr/bin/env bash
# Loopback benchmark suite of wsevents.  One command:
#
#   bench/run.sh                                  # throughput, paced, reconnect, slow, idle (~20 min)
#   bench/run.sh --quick                          # throughput only, 3 reps, core clients (under a minute)
#   bench/run.sh --scenarios throughput --only websockets,wsevents-sync,wsevents-async --reps 5
#   bench/run.sh --list                           # discovered clients, and those skipped
#   bench/run.sh --setup ...                      # (re)install the venv first
#
# The venv is ${BENCH_VENV:-$HOME/.cache/wsevents-bench-venv}: created on first
# use with the optional peers of bench/requirements.txt (each one may fail: its
# client is then skipped) and this repository installed editable, so the suite
# always measures the working tree.  Every other argument goes to bench/run.py.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
VENV=${BENCH_VENV:-$HOME/.cache/wsevents-bench-venv}
PY=${BENCH_BASE_PYTHON:-python3}

force=0
args=()
for a in "$@"; do
    if [ "$a" = "--setup" ]; then force=1; else args+=("$a"); fi
done

setup() {
    mkdir -p "$(dirname "$VENV")"
    local log="$VENV.setup.log"
    echo "bench: setting up $VENV (pip output in $log)" >&2
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    : > "$log"
    "$VENV/bin/python" -m pip install -q --upgrade pip >>"$log" 2>&1 || true
    websockets_pin=""
    while IFS= read -r line; do
        line=${line%%#*}
        line=$(echo "$line" | tr -d '[:space:]')
        [ -n "$line" ] || continue
        case "$line" in
            websockets==*|websockets\>*) websockets_pin=$line; continue ;;
        esac
        "$VENV/bin/python" -m pip install -q "$line" >>"$log" 2>&1 \
            || echo "bench: could not install $line (its clients will be skipped)" >&2
    done < "$HERE/requirements.txt"
    "$VENV/bin/python" -m pip install -q -e "$ROOT" ${websockets_pin:+"$websockets_pin"} >>"$log" 2>&1 \
        || { echo "bench: pip install -e $ROOT failed, see $log" >&2; exit 1; }
    date > "$VENV/.wsevents-bench-stamp"
}

needs_setup=$force
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.wsevents-bench-stamp" ] \
    || [ "$HERE/requirements.txt" -nt "$VENV/.wsevents-bench-stamp" ]; then
    needs_setup=1
elif ! "$VENV/bin/python" - "$ROOT" <<'PYEOF' 2>/dev/null
import sys, pathlib, wsevents
sys.exit(0 if pathlib.Path(wsevents.__file__).resolve().is_relative_to(pathlib.Path(sys.argv[1]).resolve()) else 1)
PYEOF
then
    needs_setup=1   # the venv's wsevents is not this checkout
fi
[ "$needs_setup" = 1 ] && setup

exec "$VENV/bin/python" "$HERE/run.py" ${args[@]+"${args[@]}"}
