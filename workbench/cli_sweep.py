"""The ``workbench sweep`` command: design search over one scenario, printed or as JSON.

Why its own module: like the other commands it only parses arguments, shows progress and prints
what the library returns (:mod:`workbench.sweep`, :mod:`workbench.analysis.sweep`); the sweep's
options (space, objectives, constraints, sampler, executor, cluster address) would have pushed the
tool commands' module past the size one file reads well at.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["add_sweep_parser", "cmd_sweep"]


def add_sweep_parser(sub) -> None:
    """Add ``sweep`` to the ``workbench`` parser."""
    sp = sub.add_parser("sweep", help="search a design space over one scenario (same traffic and seed); "
                        "Pareto front and the cheapest design meeting every constraint")
    sp.add_argument("scenario", metavar="SCENARIO")
    sp.add_argument("--space", required=True, metavar="SPACE.yaml", help="the fields to vary and their values")
    sp.add_argument("--objective", action="append", metavar="METRIC", help="objective (repeatable; replaces "
                    "the space's): cost, quality, error_rate, p95_latency, ...")
    sp.add_argument("--constraint", action="append", metavar="EXPR", help="e.g. quality>=0.85 (repeatable; "
                    "replaces the space's)")
    sp.add_argument("--trials", type=int, metavar="N", help="designs to try (random, optuna; a grid's cap)")
    sp.add_argument("--sampler", choices=["grid", "random", "optuna"], help="default: the space's (grid)")
    sp.add_argument("--executor", choices=["process", "serial", "ray"], default="process",
                    help="where trials compute (default: a local process pool)")
    sp.add_argument("--workers", type=int, metavar="N", help="pool processes or Ray actors (default: CPUs)")
    sp.add_argument("--address", metavar="ADDR", help="Ray cluster (auto, ray://HOST:10001); default: a "
                    "local Ray instance")
    sp.add_argument("--requests", type=int, metavar="N", help="sample N requests (with the seed)")
    sp.add_argument("--seed", type=int, metavar="S", help="replay seed (default: the scenario's)")
    sp.add_argument("--out", metavar="BEST.yaml", help="write the cheapest design meeting every constraint here")
    sp.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"))
    sp.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    sp.add_argument("--no-progress", action="store_true")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep; exit 0 with a design meeting every constraint, 1 without one."""
    from workbench.analysis.sweep import sweep_result
    from workbench.errors import InputError
    from workbench.scenario import load_scenario
    from workbench.store import TraceStore
    from workbench.sweep import load_space, plan_sweep, run_sweep

    for name in ("trials", "workers", "requests"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.address and args.executor != "ray":
        raise InputError("--address is for --executor ray")
    scn = load_scenario(args.scenario)
    space = load_space(args.space, scn)
    plan = plan_sweep(scn, space, space_text=Path(args.space).read_text(encoding="utf-8"), space_path=args.space,
                      objectives=args.objective, constraints=args.constraint, sampler=args.sampler,
                      trials=args.trials, requests=args.requests, seed=args.seed)
    with TraceStore(args.db) as store:
        sid = run_sweep(plan, store, executor=args.executor, workers=args.workers, address=args.address,
                        progress=None if args.no_progress else _progress)
        result = sweep_result(store.con, sid)
        best_yaml = store.run_info(result["best"]["run_id"])["scenario_yaml"] if result["best"] else None
    if args.out and best_yaml is not None:
        result["best"]["written_to"] = str(_write_best(args.out, best_yaml, result, scn))
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(format_sweep(result, args.db))
    if result["best"] is None:
        print("no design met every constraint" + (f"; {args.out} not written" if args.out else ""), file=sys.stderr)
        return 1
    return 0


def _progress(done: int, _total) -> None:
    print(f"sweep: {done} trials done", file=sys.stderr)


def _write_best(out: str, text: str, result: dict, base) -> Path:
    """The best design's scenario YAML with a header saying where it comes from; a relative traffic
    source is rewritten relative to the new file. Written over the base scenario's own file where the
    design allows, so its comments (the brief) and layout are kept; else dumped plain."""
    from workbench.scenario import parse_scenario
    from workbench.yamlio import dump_yaml

    best = result["best"]
    scn = parse_scenario(text, source=base.path)
    data = scn.model_dump(mode="json", exclude_defaults=True)
    data["description"] = (f"{base.name} with {json.dumps(best['params'], sort_keys=True)} "
                           f"(sweep {result['sweep_id']}, trial {best['trial']})")
    if scn.traffic.source is not None:
        data["traffic"]["source"] = os.path.relpath(scn.traffic_path().resolve(), Path(out).resolve().parent)
    figures = ", ".join(f"{k} {best[k]:.4g}" for k in ("cost_per_1k_usd", "quality", "error_rate", "p95_latency_s")
                        if best.get(k) is not None)
    met = ", ".join(_constraint_text(c) for c in result["constraints"]) or "no constraint"
    header = (f"# Cheapest design meeting {met}\n"
              f"# found by workbench sweep {result['sweep_id']} (trial {best['trial']}, run {best['run_id']}).\n"
              f"# Changed from {base.name}: {json.dumps(best['params'], sort_keys=True)}\n"
              f"# Figures ({', '.join(result['modes'])}): {figures}\n")
    path = Path(out)
    plain = dump_yaml(data)
    body = _over_base_file(base, data, path, parse_scenario(plain, source=path))
    if body is not None:
        body = f"# {base.name}'s own comments follow (they were written for the design this one changes).\n{body}"
    else:
        body = plain
    path.write_text(header + body, encoding="utf-8")
    parse_scenario(path.read_text(encoding="utf-8"), source=path)  # it must load back
    return path


def _over_base_file(base, data: dict, path: Path, want) -> str | None:
    """``data`` written as changes to the base scenario's file (comments kept), or None when that file
    is gone, holds a key, or the result would not be exactly the design ``want``."""
    from workbench.errors import InputError
    from workbench.scenario import parse_scenario
    from workbench.yamlio import dump_yaml, patch, read_text, read_tree

    if base.path is None or any(m.api_key is not None for m in base.fleet.values()):
        return None
    try:
        tree, _, _ = read_tree(read_text(Path(base.path), "scenario"), str(base.path))
        patch(tree, base.model_dump(mode="json", exclude_defaults=True), data)
        text = dump_yaml(tree)
        return text if parse_scenario(text, source=path) == want else None
    except InputError:
        return None


def _constraint_text(c: dict) -> str:
    return f"{c['metric']}{c['op']}{c['bound']:g}"


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def format_sweep(result: dict, db: str) -> str:
    """The sweep as plain text: every trial, the front, the cheapest design meeting the constraints."""
    lines = [f"sweep {result['sweep_id']}: {len(result['trials'])} trials ({result['sampler']}, "
             f"{result['executor']}) over {result['scenario']} [{', '.join(result['modes'])}]; "
             f"trace database: {db}",
             f"{'trial':>5} {'cost/1k':>9} {'quality':>8} {'errors':>7} {'p95 s':>7}  ok  front  changes"]
    for t in result["trials"]:
        params = ", ".join(f"{k}={_short(json.dumps(v))}" for k, v in t["params"].items()) or "(baseline)"
        lines.append(f"{t['trial']:>5} {_fmt(t['cost_per_1k_usd'], '9.3f')} {_fmt(t['quality'], '8.3f')} "
                     f"{_fmt(t['error_rate'], '7.2%')} {_fmt(t['p95_latency_s'], '7.2f')}  "
                     f"{'yes' if t['feasible'] else ' - '} {'  *  ' if t['on_front'] else '     '}  {params}")
    cons = ", ".join(_constraint_text(c) for c in result["constraints"]) or "no constraint"
    best = result["best"]
    if best is None:
        lines.append(f"no design meets {cons}")
        return "\n".join(lines)
    lines.append(f"cheapest design meeting {cons}: trial {best['trial']} ({best['run_id']})")
    vs = best.get("vs_baseline")
    if vs:
        q = "" if vs["quality_delta"] is None else \
            f", Δ quality {vs['quality_delta']:+.3f} [{vs['quality_lo']:+.3f}, {vs['quality_hi']:+.3f}]"
        lines.append(f"  vs baseline (trial 0): Δ cost/1k {vs['cost_per_1k_delta']:+.3f} "
                     f"[{vs['cost_per_1k_lo']:+.3f}, {vs['cost_per_1k_hi']:+.3f}]{q} (95% paired bootstrap; "
                     f"{', '.join(result['modes'])} figures)")
    if best.get("written_to"):
        lines.append(f"  written to {best['written_to']}")
    return "\n".join(lines)
