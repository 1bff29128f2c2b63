"""Drift detection: each detector's delay on an injected quality drop, and its false alarms without it.

Why this benchmark exists: a monitor is only worth its alerts if it catches a real change soon and stays
quiet otherwise. For every seed, the same simulated run (gpt-4o answering support tickets, graded
``exact``, 4 a second) is replayed twice: once with the model's quality dropping by ``DROP`` at
``CHANGE_S`` (a provider's model update, ``timeline: [{at_s: CHANGE_S, quality: -DROP}]``), once without.
Four monitors (CUSUM, EWMA, river's Page-Hinkley and ADWIN, all ``notify``) watch the model's score in
both runs. A detector's delay is counted from the change: the model's answers graded between the change
and the alarm (requests) and the virtual seconds; an alarm in the run without the change (or before the
change) is a false alarm. Every figure is simulated (seeded, repeatable).

Usage::

    python benchmarks/drift_detection.py              # 50 seeds
    python benchmarks/drift_detection.py --seeds 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from workbench.replay import replay  # noqa: E402
from workbench.runner import prepare  # noqa: E402
from workbench.scenario import parse_scenario  # noqa: E402
from workbench.store.rows import AttemptRow, RequestRow  # noqa: E402

__all__ = ["DETECTORS", "CHANGE_S", "DROP", "REQUESTS", "trial", "measure"]

ROOT = Path(__file__).resolve().parents[1]
TRAFFIC = ROOT / "scenarios" / "traffic" / "support_tickets.jsonl"
CHANGE_S, DROP, REQUESTS, RATE = 150.0, 0.25, 1200, 4.0
#: The detectors compared, as a monitor's ``detector:`` (parameters tuned for a 0/1 score stream).
DETECTORS = {
    "cusum": "{type: cusum, k: 0.5, h: 20, warmup: 200}",
    "ewma": "{type: ewma, weight: 0.02, width: 5.5, warmup: 400}",
    "page_hinkley": "{type: page_hinkley, min_instances: 300, delta: 0.08, threshold: 8}",
    "adwin": "{type: adwin, delta: 0.002}",
}


def _scenario_text(seed: int, change: bool) -> str:
    monitors = "\n".join(f"  - {{name: {n}, metric: score, target: primary, detector: {d}}}"
                         for n, d in DETECTORS.items())
    timeline = f"    timeline: [{{at_s: {CHANGE_S}, quality: -{DROP}, version: updated}}]\n" if change else ""
    return (f"name: drift-detection\nseed: {seed}\nfleet:\n  primary:\n    model: gpt-4o\n{timeline}"
            f"router: {{policy: static, params: {{target: primary}}}}\ngraders: [{{type: exact}}]\n"
            f"monitors:\n{monitors}\n"
            f"traffic:\n  source: {TRAFFIC}\n  sample: {REQUESTS}\n  replace: true\n"
            f"  arrival: {{process: poisson, rate_per_s: {RATE}}}\n")


class _Rows:
    """A sink keeping attempt rows in memory (no trace file: only the alarms and their timing matter)."""

    def __init__(self) -> None:
        self.attempts: list[AttemptRow] = []

    def write(self, requests: list[RequestRow], attempts: list[AttemptRow]) -> None:
        self.attempts.extend(attempts)


def trial(seed: int, change: bool) -> dict[str, tuple[float, int] | None]:
    """Per detector: (virtual seconds from the change, graded answers since the change) at its first
    alarm, or None without one. In the run without the change, seconds count from ``CHANGE_S`` too
    (negative: an alarm before it)."""
    prep = prepare(parse_scenario(_scenario_text(seed, change)))
    sink = _Rows()
    stats = replay(prep.scenario, prep.requests, prep.arrivals, provider=prep.provider, policy=prep.policy,
                   graders=prep.graders, seed=prep.seed, run_id=f"drift-{seed}", sink=sink)
    ends = sorted(a.end_s for a in sink.attempts if a.ok and a.score is not None and a.start_s >= CHANGE_S)
    out: dict[str, tuple[float, int] | None] = {n: None for n in DETECTORS}
    for alert in stats.alerts:
        out[alert.monitor] = (alert.at_s - CHANGE_S, sum(1 for e in ends if e <= alert.at_s))
    return out


def measure(seeds: list[int]) -> dict[str, dict]:
    """Per detector: the delays (seconds, requests) of the runs with the change, missed changes, and
    false alarms (runs without the change that alarmed, plus alarms before the change)."""
    res: dict[str, dict] = {n: {"seconds": [], "requests": [], "missed": 0, "false_alarms": 0} for n in DETECTORS}
    for seed in seeds:
        with_change, without = trial(seed, True), trial(seed, False)
        for n in DETECTORS:
            hit = with_change[n]
            if hit is None:
                res[n]["missed"] += 1
            elif hit[0] < 0:
                res[n]["false_alarms"] += 1
            else:
                res[n]["seconds"].append(hit[0])
                res[n]["requests"].append(hit[1])
            if without[n] is not None:
                res[n]["false_alarms"] += 1
    return res


def _dist(values: list[float]) -> str:
    if not values:
        return "-"
    v = sorted(values)
    p90 = v[min(len(v) - 1, int(0.9 * len(v)))]
    return f"{v[0]:.0f} / {statistics.median(v):.0f} / {p90:.0f} / {v[-1]:.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = measure(list(range(args.seeds)))
    print(f"drift detection (simulated): gpt-4o's quality drops by {DROP} at {CHANGE_S:g} s, {REQUESTS} requests "
          f"at {RATE:g}/s, {args.seeds} seeds, each run with and without the drop ({time.perf_counter() - t0:.0f} s)")
    print(f"{'detector':<13} {'delay in requests min/med/p90/max':<36} {'delay in s min/med/p90/max':<30} "
          f"{'missed':>6} {'false alarms':>12}")
    for n, r in res.items():
        print(f"{n:<13} {_dist(r['requests']):<36} {_dist(r['seconds']):<30} {r['missed']:>6} "
              f"{r['false_alarms']:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
