"""The CLI of logged traffic: ``workbench estimate`` and ``workbench record --sample/--max-usd/--dry-run``.

Why its own module: both commands work on a dataset's *logged* outcomes (a production log), not on a
replay, and :mod:`workbench.cli` is already near the size one file reads well at. Like the rest of the
CLI they parse arguments and print what :mod:`workbench.estimate` and :mod:`workbench.record_plan`
return; errors are theirs (one line naming the file and field).
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_estimate_parser", "add_plan_options", "cmd_estimate", "cmd_record_plan", "wants_plan"]


def add_estimate_parser(sub) -> None:
    """``workbench estimate SCENARIO --dataset NAME``."""
    sp = sub.add_parser("estimate", help="estimate a scenario's router on a dataset's logged traffic off-policy "
                        "(IPS, SNIPS, doubly robust) from the old router's logged propensities; calls no model")
    sp.add_argument("scenario", metavar="SCENARIO")
    sp.add_argument("--dataset", metavar="NAME", help="the dataset holding the log (default: the scenario's "
                    "traffic dataset)")
    sp.add_argument("--seed", type=int, metavar="S", help="the seed of the router's own draws (default: the "
                    "scenario's)")
    sp.add_argument("--boot", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    sp.add_argument("--boot-seed", type=int, default=0, metavar="S", help="seed of the bootstrap (default 0)")
    sp.add_argument("--json", action="store_true", help="print the estimate as JSON on stdout")


def add_plan_options(sp: argparse.ArgumentParser) -> None:
    """``record``'s spend-capped plan: ``--sample N --max-usd X [--dry-run] [--max-output-tokens T]``."""
    sp.add_argument("--sample", type=int, metavar="N", help="re-ask the live fleet on N of the dataset's logged "
                    "prompts, stratified by category (a spend-capped plan; see --max-usd)")
    sp.add_argument("--max-usd", type=float, metavar="X", help="spend at most X USD in this invocation: stop "
                    "before the next call whose worst-case cost would pass it; the same command resumes")
    sp.add_argument("--dry-run", action="store_true", help="print the plan's sample and expected cost per model "
                    "(litellm's prices and token counts) and write nothing")
    sp.add_argument("--max-output-tokens", type=int, default=1024, metavar="T", help="cap each answer at T "
                    "tokens (max_tokens), which bounds each call's cost (default 1024)")


def wants_plan(args: argparse.Namespace) -> bool:
    """Whether ``record`` was asked for a spend-capped plan rather than a full recording."""
    return args.sample is not None or args.max_usd is not None or args.dry_run


def cmd_estimate(args: argparse.Namespace) -> int:
    """Print the off-policy estimate."""
    from workbench.errors import InputError
    from workbench.estimate import estimate, format_estimate

    if args.boot < 1:
        raise InputError(f"--boot must be at least 1, got {args.boot}")
    out = estimate(args.scenario, args.dataset, seed=args.seed, n_boot=args.boot, boot_seed=args.boot_seed)
    print(json.dumps(out, indent=2) if args.json else format_estimate(out))
    return 0


def cmd_record_plan(args: argparse.Namespace) -> int:
    """Dry-run or run a spend-capped recording plan."""
    from workbench.errors import InputError
    from workbench.record_plan import format_plan, format_run, plan_recording, run_plan

    if args.sample is None:
        raise InputError("--max-usd and --dry-run go with --sample N (how many logged prompts to re-ask)")
    if args.all_models or args.traffic or args.requests:
        raise InputError("--sample re-asks every live fleet model on a sample of the dataset's prompts: "
                         "--all-models, --traffic and --requests do not apply")
    if not args.dry_run and args.max_usd is None:
        raise InputError("a real run needs a cap: --max-usd X (or --dry-run to see the expected cost)")
    plan = plan_recording(args.scenario, dataset=args.dataset, sample=args.sample, seed=args.seed,
                          max_output_tokens=args.max_output_tokens)
    if args.dry_run:
        print(json.dumps(plan.as_dict(), indent=2) if args.json else format_plan(plan))
        return 0
    run = run_plan(plan, args.max_usd)
    if args.json:
        print(json.dumps({**plan.as_dict(), "run": run.as_dict()}, indent=2))
    else:
        print(format_run(plan, run))
    if run.stopped_before is not None:
        print(f"note: stopped at the --max-usd cap; {run.left:,} calls left", file=sys.stderr)
    return 0
