"""Sweep executors: 64 trials x 20,000 requests, serial vs a process pool vs Ray; identical rows.

    python benchmarks/sweep.py [--trials 64] [--requests 20000] [--workers 2]

Replays support-tiered's fleet over 20,000 tickets drawn with replacement (Poisson arrivals at 8/s)
for the baseline plus ``--trials`` random designs (a length-threshold router's strong share, the
human team's size, the retries), once per executor, each into its own trace database under the same
sweep id; then checks that the three databases hold the same rows (runs without their wall-clock
times, requests, attempts, trials) and prints each executor's wall time (worker start-up included)
and its speed-up over serial. The machine's load average is printed before and after: on a shared
machine the figures move with the other work on it. Every figure replayed is simulated.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
SPACE = """\
sampler: random
seed: 11
objectives: [cost, quality, error_rate, p95_latency]
constraints: ["quality >= 0.85", "error_rate <= 0.01"]
set:
  router: {policy: threshold, params: {strong: large, weak: small, scorer: {type: length}, strong_share: 0.5}}
params:
  router.params.strong_share: {float: [0.05, 0.95]}
  humans.tier2.agents: {int: [1, 4]}
  retries.max_retries: {int: [0, 3]}
"""
_TABLES = {"runs": "* EXCLUDE (started_at, finished_at)", "requests": "*", "attempts": "*", "sweep_trials": "*",
           "audit_trail": "*"}


def _scenario(folder: Path, requests: int) -> Path:
    text = (ROOT / "scenarios" / "support-tiered.yaml").read_text().replace(
        "  source: traffic/support_tickets.jsonl\n  arrival: {process: recorded, field: arrived_at}",
        f"  source: {ROOT / 'scenarios' / 'traffic' / 'support_tickets.jsonl'}\n  sample: {requests}\n"
        "  replace: true\n  arrival: {process: poisson, rate_per_s: 8}")
    path = folder / "bench-tiered.yaml"
    path.write_text(text)
    return path


def _run(executor: str, scenario: Path, db: Path, trials: int, workers: int) -> float:
    from workbench.scenario import load_scenario
    from workbench.store import TraceStore
    from workbench.sweep import parse_space, plan_sweep, run_sweep

    scn = load_scenario(scenario)
    plan = plan_sweep(scn, parse_space(SPACE, scn), space_text=SPACE, trials=trials)
    t0 = time.perf_counter()
    with TraceStore(db) as store:
        run_sweep(plan, store, executor=executor, workers=workers, sweep_id="bench-sweep")
    return time.perf_counter() - t0


def _differences(a: Path, b: Path) -> int:
    """Rows in one database and not the other, over every table a sweep writes (0: identical)."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    n = 0
    for table, cols in _TABLES.items():
        for x, y in (("a", "b"), ("b", "a")):
            n += con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {x}.{table} EXCEPT ALL "
                             f"SELECT {cols} FROM {y}.{table})").fetchone()[0]
    con.close()
    return n


def main() -> int:
    """Run the three executors and print their times, speed-ups and the identity check."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executors", default="serial,process,ray")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="wb-sweep-bench-") as tmp:
        folder = Path(tmp)
        scenario = _scenario(folder, args.requests)
        times = {}
        for ex in args.executors.split(","):
            times[ex] = _run(ex, scenario, folder / f"{ex}.duckdb", args.trials, args.workers)
            print(f"{ex:<8} {times[ex]:8.1f} s  ({args.trials} trials + baseline x {args.requests:,} requests, "
                  f"{args.workers if ex != 'serial' else 1} worker(s))", flush=True)
        first = next(iter(times))
        for ex in times:
            if ex != first:
                diff = _differences(folder / f"{first}.duckdb", folder / f"{ex}.duckdb")
                print(f"{ex:<8} speed-up over {first}: {times[first] / times[ex]:.2f}x; rows differing from "
                      f"{first}: {diff}")
                if diff:
                    return 1
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (simulated replays)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
