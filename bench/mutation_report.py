"""Write bench/MUTATION.md from the last mutmut run (called by bench/mutation.sh).

Every mutant that was not killed is listed with the line it changes and its
justification from :data:`JUSTIFIED` (an equivalent mutant: no test can tell
it from the original).  A survivor without one is marked **unexplained**: kill
it with a unit test, or explain it here.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
import sys
from collections import Counter, defaultdict


#: mutant name -> why it survives (keep in sync with the source; names are
#: stable while the mutated function does not change)
JUSTIFIED: dict[str, str] = {
    "wsevents._supervisor.x_classify_failure__mutmut_21":
        "equivalent: a 'network' kind not in the tuple falls to the else, which is 'network'",
    "wsevents._supervisor.x_classify_failure__mutmut_22":
        "equivalent: a 'network' kind not in the tuple falls to the else, which is 'network'",
    "wsevents._window.xǁWindowǁdelay__mutmut_9":
        "equivalent: at now == allowed_at both branches give 0.0",
    "wsevents.routing.xǁSessionǁrequest__mutmut_1":
        "equivalent: Session is a typing.Protocol; its default is never used at run time",
    # _supervisor
    "wsevents._supervisor.xǁSupervisorǁ_next_attempt__mutmut_9":
        "equivalent: every caller of _next_attempt passes error=None",
    "wsevents._supervisor.xǁSupervisorǁ_retry__mutmut_4":
        "equivalent: a delay of exactly 0 is replaced by 0.0, the same wait",
    "wsevents._supervisor.xǁSupervisorǁlost__mutmut_80":
        "equivalent: lost() sets attempt to 0 a few lines above, so += 1 and = 1 agree",
    "wsevents._supervisor.xǁSupervisorǁtick__mutmut_14":
        "equivalent: request_disconnect(reconnect_after=None), called next, sets resume_at "
        "to None again",
    "wsevents._supervisor.xǁSupervisorǁtick__mutmut_34":
        "equivalent: resume() does not use its `now` argument",
    "wsevents._supervisor.xǁSupervisorǁtick__mutmut_48":
        "equivalent: resume() does not use its `now` argument",
    # _tracking
    "wsevents._tracking.xǁSequenceTrackerǁcheck__mutmut_13":
        "equivalent: seq == last + 1 returned earlier, so >= and > agree here",
    # backoff
    "wsevents.backoff.x__non_negative__mutmut_18":
        "equivalent: float('INF') is float('inf')'s value",
    # policies._base
    "wsevents.policies._base.x_as_disconnect_policy__mutmut_3":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.x_as_disconnect_policy__mutmut_7":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.x_as_disconnect_policy__mutmut_8":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.x_as_disconnect_policy__mutmut_9":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.x_as_reconnect_policy__mutmut_3":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.x_as_reconnect_policy__mutmut_7":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.x_as_reconnect_policy__mutmut_8":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.x_as_reconnect_policy__mutmut_9":
        "equivalent: typing.cast ignores its type argument at run time",
    "wsevents.policies._base.xǁAnyOfǁshould_reconnect__mutmut_14":
        "equivalent: on equal waits, keeping the first or the later one gives the same wait",
    # policies.candle
    "wsevents.policies.candle.xǁCandleAwareǁ_position__mutmut_5":
        "equivalent while microseconds since 1970 stay below 2**53 (year 2255): the float "
        "quotient is exact and % gives the same value",
    # policies.window
    "wsevents.policies.window.x__parse_time__mutmut_34":
        "equivalent: time(0) is time(0, 0)",
    "wsevents.policies.window.x__parse_time__mutmut_35":
        "equivalent: time(0) is time(0, 0)",
    "wsevents.policies.window.x__start__mutmut_3":
        "equivalent: allow_24 is only tested for truth; None is false like False",
    "wsevents.policies.window.xǁTimeWindowǁnext_open__mutmut_4":
        "equivalent: days is never empty, so a window opens within the first 8 days",
    "wsevents.policies.window.xǁTimeWindowǁnext_open__mutmut_13":
        "unreachable (pragma: no cover): days is never empty",
    "wsevents.policies.window.xǁTimeWindowǁnext_open__mutmut_14":
        "unreachable (pragma: no cover): days is never empty",
    "wsevents.policies.window.xǁTimeWindowǁnext_open__mutmut_15":
        "unreachable (pragma: no cover): days is never empty",
    # routing: the fast path of decode() is an optimisation of the general one
    "wsevents.routing.xǁJsonProtocolǁ_route__mutmut_9":
        "equivalent: a str channel then goes through str(), which returns it unchanged",
    "wsevents.routing.xǁJsonProtocolǁdecode__mutmut_1":
        "equivalent: disables the fast path; the general path gives the same results "
        "(test_routing_fastpath.py checks they agree), only slower",
    "wsevents.routing.xǁJsonProtocolǁdecode__mutmut_12":
        "equivalent: the fast path falls back to _route(), which finds the same channel",
    "wsevents.routing.xǁJsonProtocolǁdecode__mutmut_13":
        "equivalent: the fast path falls back to _route(), which finds the same channel",
    "wsevents.routing.xǁJsonProtocolǁdecode__mutmut_32":
        "equivalent: _loads is the decoder itself, or _loads_str, exactly json.loads for str",
}

#: mutant names look like ``wsevents.backoff.x_delay__mutmut_3`` or
#: ``wsevents._supervisor.xǁSupervisorǁlost__mutmut_12``
_MODULE = re.compile(r"^(wsevents(?:\.[a-z_]+)*?)\.x")


def module_of(name: str) -> str:
    match = _MODULE.match(name)
    return match[1] if match else name.rsplit(".", 1)[0]


def main(mutmut: str) -> None:
    out = subprocess.run(
        [mutmut, "results", "--all", "true"], check=True, capture_output=True, text=True
    ).stdout
    status: dict[str, str] = {}
    for line in out.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            status[name] = state
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for name, state in status.items():
        counts[module_of(name)][state] += 1
    total = Counter[str]()
    print("# Mutation testing of the pure core\n")
    print("Generated by `bench/mutation.sh` (mutmut 3 against `tests/unit`). A mutant is")
    print("*killed* when a unit test fails (or times out) with it; the others are listed")
    print("below with the line they change and why no test can catch them.")
    print(f"(mutmut {importlib.metadata.version('mutmut')}, "
          f"Python {platform.python_version()}.)\n")
    print("| module | mutants | killed | survived | no test | score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for module in sorted(counts):
        c = counts[module]
        killed = c["killed"] + c["timeout"]
        n = sum(c.values())
        total.update(c)
        print(f"| `{module}` | {n} | {killed} | {c['survived']} | {c['no tests']} "
              f"| {100 * killed / n:.1f} % |")
    n = sum(total.values())
    killed = total["killed"] + total["timeout"]
    print(f"| **all** | {n} | {killed} | {total['survived']} | {total['no tests']} "
          f"| **{100 * killed / n:.1f} %** |\n")
    print("## Survivors\n")
    survivors = [name for name, state in status.items() if state not in ("killed", "timeout")]
    if not survivors:
        print("None.")
    for name in sorted(survivors):
        diff = subprocess.run([mutmut, "show", name], capture_output=True, text=True).stdout
        changed = [
            line[1:].strip() for line in diff.splitlines()
            if line.startswith("+") and not line.startswith("+++")
        ]
        why = JUSTIFIED.get(name, "**unexplained**")
        print(f"- `{name}` ({status[name]}): `{' / '.join(changed)[:160]}`  \n  {why}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mutmut")
