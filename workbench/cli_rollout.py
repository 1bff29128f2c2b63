"""The ``workbench rollout`` command: a staged canary of a candidate design behind guardrails.

Why its own module: like the other commands it only parses arguments, shows progress and prints what
the library returns (:mod:`workbench.rollout` runs it, :mod:`workbench.analysis.rollout` reads it back),
and the tool commands' module is long enough.
"""

from __future__ import annotations

import argparse
import json
import os

__all__ = ["add_rollout_parser", "cmd_rollout"]


def add_rollout_parser(sub) -> None:
    """Add ``rollout`` to the ``workbench`` parser."""
    from workbench.cli_tools import _positive

    sp = sub.add_parser("rollout", help="replay one traffic stream moving in stages from a baseline design to a "
                        "candidate, with guardrails that promote, hold or roll back")
    sp.add_argument("baseline_design", metavar="BASELINE.yaml")  # not "baseline": the CLI checks that as a run id
    sp.add_argument("candidate", metavar="CANDIDATE.yaml")
    sp.add_argument("--plan", required=True, metavar="PLAN.yaml", help="stages and guardrails (README: rollouts)")
    sp.add_argument("--requests", type=_positive, metavar="N", help="sample N requests (with the seed)")
    sp.add_argument("--seed", type=int, metavar="S", help="seed (default: the baseline's)")
    sp.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"),
                    help="trace database (default: $WORKBENCH_DB or ./workbench.duckdb)")
    sp.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def cmd_rollout(args: argparse.Namespace) -> int:
    """Run the rollout; exit 0 when it completed or ended without a rollback, 1 when it rolled back."""
    from workbench.analysis import run_summary
    from workbench.analysis.rollout import rollout_readout
    from workbench.cli_tools import _progress
    from workbench.rollout import prepare_rollout, run_rollout
    from workbench.store import TraceStore

    prep = prepare_rollout(args.baseline_design, args.candidate, args.plan, requests=args.requests, seed=args.seed)
    with TraceStore(args.db) as store, _progress("rollout", not args.no_progress) as progress:
        result = run_rollout(prep, store, progress=progress)
        rid = result.run_id
        assert rid is not None  # a stored rollout has a run
        out = {**run_summary(store.con, rid), **rollout_readout(store.con, rid)}
    out["arms"] = result.by_arm
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        _print(out, prep.baseline.scenario.name, prep.candidate.scenario.name)
    return 1 if out["rolled_back"] else 0


def _print(out: dict, base: str, cand: str) -> None:
    print(f"rollout {out['run_id']}: {base} -> {cand} ({out['mode']}), {out['requests']:,} requests")
    for s in out["stages"]:
        unsure = s["evidence"].get("unsure")
        why = [f"{m} {g['verdict']} (p={g['p_value']:.3g})" for m, g in s["evidence"].get("guardrails", {}).items()]
        print(f"  stage {s['stage'] + 1} at {s['share']:>6.1%}  {s['started_at_s']:>9,.0f}-{s['ended_at_s']:<9,.0f}s  "
              f"{s['decision']:<8} {', '.join(why)}" + (f"  [unsure: {', '.join(unsure)}]" if unsure else ""))
    if out["rolled_back"]:
        print(f"rolled back at {out['rolled_back_at_s']:,.0f} s (virtual): every later request went to {base}")
    print(f"candidate served {out['candidate_requests']:,} requests, {out['exposed_requests']:,} exposed to its "
          f"regression; alerts: {len(out['alerts'])}")
