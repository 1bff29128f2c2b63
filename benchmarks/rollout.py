"""Rollout replay speed: a staged rollout of 100,000 requests, end to end, must take under 10 s.

Why this benchmark exists: a rollout drill is only useful if an architect can replay a day of traffic
through a baseline and a candidate, change the plan's stages or guardrails, and replay again within
seconds. It times ``workbench.rollout.prepare_rollout`` (both designs, the baseline's traffic sampled
with replacement, arrival times) and ``run_rollout`` (both engines on one virtual clock, sticky
assignment, a look at four sequential guardrails every 50 arrivals, every request and attempt row and
every stage decision written to a DuckDB file) separately, and checks the trace with SQL: N request
rows, each with an arm.

What it replays: ``scenarios/rollout-baseline.yaml`` against ``scenarios/rollout-candidate-regressed.yaml``
with ``scenarios/rollout-plan-unguarded.yaml`` (the candidate reaches 100%, so both arms carry load
all along; the guarded plan rolls back early, which is the cheaper case) and, second,
``rollout-plan.yaml``. Simulated figures, labelled as such.

Usage::

    python benchmarks/rollout.py                 # 100,000 requests
    python benchmarks/rollout.py --requests 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.rollout import prepare_rollout, run_rollout  # noqa: E402
from workbench.store import TraceStore  # noqa: E402

SCN = ROOT / "scenarios"
GOAL_S = 10.0


def main(argv: list[str] | None = None) -> int:
    """Time the rollouts; exit 1 when one took 10 s or more."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; figures are simulated")
    # litellm's import (about 3 s on an idle machine, once per process) is not part of a replay
    prepare_rollout(SCN / "rollout-baseline.yaml", SCN / "rollout-baseline.yaml", SCN / "rollout-plan.yaml",
                    requests=10)
    worst = 0.0
    for plan in ("rollout-plan-unguarded.yaml", "rollout-plan.yaml"):
        with tempfile.TemporaryDirectory() as tmp, TraceStore(Path(tmp) / "t.duckdb") as store:
            t0, c0 = time.perf_counter(), time.process_time()
            prep = prepare_rollout(SCN / "rollout-baseline.yaml", SCN / "rollout-candidate-regressed.yaml",
                                   SCN / plan, requests=args.requests)
            t1 = time.perf_counter()
            result = run_rollout(prep, store)
            t2, c2 = time.perf_counter(), time.process_time()
            n, armed = store.con.execute("SELECT count(*), count(arm) FROM requests WHERE run_id = ?",
                                         [result.run_id]).fetchone() or (0, 0)
        assert n == armed == args.requests, (n, armed)
        total = t2 - t0
        worst = max(worst, total)
        print(f"{plan}: {args.requests:,} requests in {total:.2f} s (prepare {t1 - t0:.2f} s, replay and write "
              f"{t2 - t1:.2f} s: {args.requests / (t2 - t1):,.0f} requests/s; CPU {c2 - c0:.2f} s); candidate served "
              f"{result.candidate_requests:,}, rolled back: {result.rolled_back}, {len(result.stages)} decisions")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"goal: under {GOAL_S:.0f} s per rollout: {'met' if worst < GOAL_S else 'MISSED'} (slowest {worst:.2f} s)")
    return 0 if worst < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
