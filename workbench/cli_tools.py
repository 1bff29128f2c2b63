"""The workbench's tool commands: ``serve``, ``exercise``, ``audit`` and ``datasets``, and the helpers
every command shares (argument checks, the progress bar, the input-error shortcut).

Why a second module: :mod:`workbench.cli` holds the replay commands a user meets first (run, compare,
report, resume, record, explain); the tools each wrap one subsystem (the app, the exercises, the
audit trail, the outcome datasets) and grew the parser past the size one file reads well at. Like
the rest of the CLI they only parse arguments, show progress and print what the library returns.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.cli_rollout import add_rollout_parser, cmd_rollout
from workbench.cli_sweep import add_sweep_parser, cmd_sweep
from workbench.cli_traffic import add_traffic_parser, cmd_traffic

__all__ = ["add_tool_parsers", "TOOL_COMMANDS"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value



def _input_error(message: str):
    from workbench.errors import InputError

    return InputError(message)



@contextmanager
def _progress(label: str, enabled: bool) -> Iterator:
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    # Not a terminal (CI logs, pipes): redraw rarely, so the log gets a few lines, not thousands.
    tty = sys.stderr.isatty()
    bar = tqdm(total=None, desc=label, unit="req", file=sys.stderr, dynamic_ncols=True, leave=True,
               mininterval=0.2 if tty else 5.0)

    def update(done: int, total: int, cost: float, failed: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.set_postfix_str(f"${cost:,.4f} spent, {failed:,} failed", refresh=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()



def _serve_parser(sub) -> None:
    sp = sub.add_parser("serve", help="open the workbench in the browser (Panel app, loopback only by default)")
    sp.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 picks a free one)")
    sp.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only; others get a warning)")
    sp.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"),
                    help="trace database (default: $WORKBENCH_DB or ./workbench.duckdb)")
    sp.add_argument("--scenarios", metavar="DIR", default="scenarios", help="scenarios folder (default ./scenarios)")
    sp.add_argument("--browser", action=argparse.BooleanOptionalAction, default=False,
                    help="open a browser tab (default: no; the URL is printed)")


def _cmd_serve(args: argparse.Namespace) -> int:
    from workbench.app import serve

    if not 0 <= args.port <= 65535:
        raise _input_error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        serve(db=args.db, scenarios_dir=args.scenarios, host=args.host, port=args.port, show=args.browser)
    except OSError as exc:  # port in use, address not available
        raise _input_error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def _exercise_parser(sub) -> None:
    sp = sub.add_parser("exercise", help="interview exercises: list them, or score a design against one's rubric")
    act = sp.add_subparsers(dest="exercise_command", required=True, metavar="ACTION")
    act.add_parser("list", help="the exercises, with their titles").add_argument("--json", action="store_true")
    a = act.add_parser("score", help="replay a design on the exercise's held-out traffic and check its rubric "
                       "(exit 0: level meets or exceeds, 1: fails)")
    a.add_argument("name", metavar="NAME", help="the exercise (see `workbench exercise list`)")
    a.add_argument("submission", metavar="SUBMISSION.yaml", help="the design to score")
    a.add_argument("--db", metavar="PATH", help="keep the scored runs (one per held-out seed) in this trace "
                   "database (default: a temporary one)")
    a.add_argument("--json", action="store_true")


def _cmd_exercise(args: argparse.Namespace) -> int:
    from workbench.exercises import format_result, list_exercises, score_submission

    if args.exercise_command == "list":
        found = list_exercises()
        if args.json:
            print(json.dumps([e.to_dict() for e in found], indent=2))
        for e in [] if args.json else found:
            print(f"{e.name:<18} {e.title}\n{'':<18} {e.brief}")
        for d in [] if args.json else _rollout_exercises():
            print(f"{d.name:<18} (rollout: submit a plan)\n{'':<18} {d / 'brief.md'}")
        return 0
    from workbench.exercises import exercises_dir
    from workbench.rollout.exercise import format_plan_result, is_rollout_exercise, score_plan

    folder = exercises_dir() / args.name
    if "/" not in args.name and is_rollout_exercise(folder):  # the submission is a rollout plan
        scored = score_plan(folder, args.submission)
        print(json.dumps(scored, indent=2) if args.json else format_plan_result(scored))
        return 0 if scored["level"] != "fails" else 1
    result = score_submission(args.name, args.submission, db=args.db)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_result(result))
    return 0 if result.all_passed else 1


def _rollout_exercises() -> list[Path]:
    from workbench.exercises import exercises_dir
    from workbench.rollout.exercise import is_rollout_exercise

    base = exercises_dir()
    return [d for d in sorted(base.iterdir()) if is_rollout_exercise(d)] if base.is_dir() else []


def _audit_parser(sub) -> None:
    sp = sub.add_parser("audit", help="check or show an audited run's tamper-evident trail")
    act = sp.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    for name, text in (("verify", "recompute the hash chain from the stored traces: intact (exit 0) or the "
                        "first broken row (exit 1)"), ("show", "print one request's audit row as sealed")):
        a = act.add_parser(name, help=text)
        a.add_argument("run_id", metavar="RUN_ID")
        a.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"))
        a.add_argument("--json", action="store_true")
    for name in ("verify", "show"):
        act.choices[name].add_argument("--head", metavar="HASH", help="the chain's last hash as recorded "
                                       "elsewhere (printed by run and resume): a chain ending on another one is "
                                       "broken; a signed chain also needs $WORKBENCH_AUDIT_KEY")
    act.choices["show"].add_argument("--request", required=True, metavar="ID", help="the request id")


def _cmd_audit(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from workbench.store import TraceStore
    from workbench.store.audit import request_trail, verify_run

    with TraceStore(args.db, read_only=True) as store:
        if args.audit_command == "show":  # the row as stored, and whether the chain it belongs to verifies
            trail = request_trail(store.con, args.run_id, args.request, head=args.head)
            if not trail["verified"]:
                print(f"warning: NOT VERIFIED, this row may be forged: {trail['verification']}", file=sys.stderr)
            print(json.dumps(trail, indent=2, ensure_ascii=False))
            return 0 if trail["verified"] else 1
        result = verify_run(store.con, args.run_id, head=args.head)
    print(json.dumps(asdict(result), indent=2) if args.json else result.message())
    return 0 if result.intact else 1


def _datasets_parser(sub) -> None:
    sp = sub.add_parser("datasets", help="import, fetch, list and evaluate outcome datasets (prompt x model "
                        "answers) for recorded replays")
    act = sp.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")
    act.add_parser("list", help="the datasets in the data directory ($WORKBENCH_DATA_DIR)").add_argument(
        "--json", action="store_true")
    a = act.add_parser("info", help="prompts, models, per-model quality and cost, source and notes")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--json", action="store_true")
    imp = act.add_parser("import", help="import outcome files").add_subparsers(dest="format", required=True,
                                                                                metavar="FORMAT")
    a = imp.add_parser("routellm", help="RouteLLM's GSM8K/MMLU outcome files (a folder with gsm8k/, mmlu/)")
    a.add_argument("path", metavar="PATH")
    a.add_argument("--model", action="append", default=[], metavar="COLUMN=NAME", help="litellm name of a "
                   "model column")
    c = imp.add_parser("routerbench", help="RouterBench's published pickle (wide format; Hugging Face dataset "
                       "withmartian/routerbench)")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--name", default="routerbench", metavar="NAME", help="the dataset to write (default routerbench)")
    c.add_argument("--model", action="append", default=[], metavar="COLUMN=NAME", help="litellm name of a model")
    b = imp.add_parser("outcomes", help="the generic CSV/Parquet outcome format (see README, Datasets)")
    b.add_argument("file", metavar="FILE")
    b.add_argument("--name", required=True, metavar="NAME", help="the dataset to write")
    a = act.add_parser("fetch", help="download public outcome files, then import them")
    a.add_argument("source", choices=["routellm"])
    a.add_argument("--dest", metavar="DIR", help="download folder (default: DATA_DIR/downloads/routellm)")
    for a in (imp.choices["routellm"], b, c, act.choices["fetch"]):
        a.add_argument("--price", action="append", default=[], metavar="MODEL=IN,OUT", help="USD per million "
                       "tokens in, out (instead of litellm's price map)")
        a.add_argument("--no-progress", action="store_true")
    a = act.add_parser("eval", help="oracle, random and learned (cross-fitted) routing between two models, "
                       "or the utility router among a fleet (--fleet)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--strong", metavar="MODEL")
    a.add_argument("--weak", metavar="MODEL")
    a.add_argument("--fleet", metavar="M1,M2,...", help="instead of --strong/--weak: route among these models "
                   "(utility policy) against every fixed mix and the oracle")
    a.add_argument("--folds", type=_positive, default=5, metavar="K")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--chart", metavar="SVG", help="also draw quality against the share of strong calls (SVG)")
    a.add_argument("--json", action="store_true")


def _cmd_datasets(args: argparse.Namespace) -> int:
    import workbench.datasets as wd
    from workbench.store.outcomes import list_datasets

    cmd = args.datasets_command
    if cmd == "eval":
        return _cmd_eval(args)
    if cmd == "list":
        datasets = list_datasets()
        print(json.dumps(datasets, indent=2) if args.json else wd.format_list(datasets))
        return 0
    if cmd == "info":
        info = wd.describe(args.name)
        print(json.dumps(info, indent=2) if args.json else wd.format_info(info))
        return 0
    prices = wd.parse_prices(args.price)
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if args.no_progress:
            return
        if stage not in bars:  # one bar at a time: the previous stage is done
            for old in bars.values():
                old.close()
            bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, mininterval=0.2 if sys.stderr.isatty()
                               else 5.0)
        bars[stage].update(done - bars[stage].n)

    try:
        if cmd == "fetch":
            print("downloading RouteLLM's outcome files (lm-sys/RouteLLM) and GSM8K's test set "
                  "(openai/grade-school-math) ...", file=sys.stderr)
            folder = wd.fetch_routellm(args.dest, progress=progress)
            print(f"downloaded into {folder}; importing ...", file=sys.stderr)
            names = wd.import_routellm(folder, prices=prices, progress=progress)
        elif args.format == "routellm":
            names = wd.import_routellm(args.path, prices=prices, models=wd.parse_models(args.model),
                                       progress=progress)
        elif args.format == "routerbench":
            names = [wd.import_routerbench(args.file, name=args.name, models=wd.parse_models(args.model),
                                           prices=prices, progress=progress)]
        else:
            names = [wd.import_outcomes(args.file, args.name, prices=prices, progress=progress)]
    finally:
        for bar in bars.values():
            bar.close()
    for name in names:
        print(wd.format_info(wd.describe(name)) + "\n")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import workbench.datasets as wd

    named = [a for a in (args.strong, args.weak) if a is not None]
    if len(named) != 2 if args.fleet is None else len(named) > 0:
        raise _input_error("datasets eval takes --strong MODEL --weak MODEL, or --fleet M1,M2,... (not both)")
    if args.fleet is not None:
        out = wd.evaluate_fleet(args.name, [m.strip() for m in args.fleet.split(",") if m.strip()],
                                folds=args.folds, seed=args.seed)
        print(json.dumps(out, indent=2) if args.json else wd.format_fleet_eval(out))
        return 0
    out = wd.evaluate(args.name, args.strong, args.weak, folds=args.folds, seed=args.seed)
    print(json.dumps(out, indent=2) if args.json else wd.format_eval(out))
    if args.chart:
        print(f"chart: {wd.eval_chart(out, args.chart)}", file=sys.stderr)
    return 0


def add_tool_parsers(sub) -> None:
    """Add the tool sub-commands to the ``workbench`` parser."""
    _audit_parser(sub)
    _datasets_parser(sub)
    _serve_parser(sub)
    _exercise_parser(sub)
    add_sweep_parser(sub)
    add_traffic_parser(sub)
    add_rollout_parser(sub)


#: sub-command -> handler(args) -> exit code
TOOL_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "audit": _cmd_audit, "datasets": _cmd_datasets, "serve": _cmd_serve, "exercise": _cmd_exercise,
    "sweep": cmd_sweep, "traffic": cmd_traffic, "rollout": cmd_rollout}
