"""The ``workbench`` command: a thin shell over :mod:`workbench.runner` and :mod:`workbench.analysis`.

Why so thin: every figure the CLI prints must be the one the app, the notebooks and the report show,
so the CLI only parses arguments, shows progress on stderr, and prints what the library returns.
Errors the workbench raises on purpose print as one line naming where (exit code 2), never as a
traceback; stdout carries only results (``--json`` for machines).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from typing import Iterator, Sequence

__all__ = ["main", "build_parser"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    p = argparse.ArgumentParser(prog="workbench", description="Replay traffic through routing "
                                "scenarios and compare cost, quality and failure behaviour.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def run_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--traffic", metavar="FILE", help="traffic file (JSONL, CSV, Parquet) instead of "
                        "the scenario's own")
        sp.add_argument("--requests", type=_positive, metavar="N", help="sample N requests (with the seed)")
        sp.add_argument("--seed", type=int, metavar="S", help="seed (default: the scenario's)")
        sp.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"),
                        help="trace database (default: $WORKBENCH_DB or ./workbench.duckdb)")
        sp.add_argument("--json", action="store_true", help="print results as JSON on stdout")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def report_options(sp: argparse.ArgumentParser, required: bool) -> None:
        sp.add_argument("--out" if required else "--report", dest="report", required=required, metavar="HTML",
                        help="write the standalone HTML report here")
        sp.add_argument("--volume", type=float, metavar="N", help="requests per day for the monthly "
                        "projection (default 10,000)")
        sp.add_argument("--growth", type=float, default=0.0, metavar="G", help="monthly growth, e.g. 0.05")
        sp.add_argument("--budget", type=float, metavar="USD", help="monthly budget line")

    sp = sub.add_parser("run", help="replay one scenario and print its figures")
    sp.add_argument("scenario", metavar="SCENARIO")
    sp.add_argument("--run-id", metavar="ID", help="name the run (to resume it by name if it stops)")
    run_options(sp)
    sp = sub.add_parser("record", help="replay against live providers and store every answer in a dataset "
                        "(record once, re-route many times)")
    sp.add_argument("scenario", metavar="SCENARIO")
    sp.add_argument("--all-models", action="store_true", help="every fleet model answers every prompt, so any "
                    "policy can later be scored offline")
    sp.add_argument("--dataset", metavar="NAME", help="dataset to write (default: the traffic's dataset, else "
                    "the scenario's name)")
    sp.add_argument("--allow-simulated", action="store_true", help="also record simulated models (labelled "
                    "simulated in the dataset)")
    run_options(sp)
    sp = sub.add_parser("resume", help="finish a run that stopped part way (each request recorded once)")
    sp.add_argument("run_id", metavar="RUN_ID")
    sp.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"))
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--no-progress", action="store_true")
    sp = sub.add_parser("compare", help="replay several scenarios over the same traffic and seed")
    sp.add_argument("scenarios", nargs="+", metavar="SCENARIO")
    run_options(sp)
    report_options(sp, required=False)
    sp = sub.add_parser("report", help="write the leader's HTML report for stored runs")
    sp.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    sp.add_argument("--baseline", metavar="RUN_ID", help="the run the others are compared with (default: first)")
    sp.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"))
    report_options(sp, required=True)
    sp = sub.add_parser("runs", help="list the runs in a trace database")
    sp.add_argument("--db", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"), metavar="PATH")
    sp.add_argument("--json", action="store_true")
    sp = sub.add_parser("sim-server", help="serve the simulated fleet as an OpenAI-compatible HTTP API "
                        "(faults included) for live runs and fault drills")
    sp.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    sp.add_argument("--port", type=int, default=8011)
    sp.add_argument("--scenario", metavar="SCENARIO", help="serve this scenario's fleet (default: gpt-4o and "
                    "gpt-4o-mini with default profiles)")
    sp.add_argument("--speed", type=float, default=1.0, help="divide every latency and outage time by this")
    sp.add_argument("--seed", type=int, default=0)
    sp = sub.add_parser("policies", help="list the registered routing policies and their params")
    sp.add_argument("--json", action="store_true")
    sp = sub.add_parser("explain", help="show the route a request would take, and why, without calling "
                        "any provider")
    sp.add_argument("scenario", metavar="SCENARIO")
    sp.add_argument("text", help="the request's text")
    sp.add_argument("--category")
    sp.add_argument("--difficulty", type=float)
    sp.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="request metadata")
    sp.add_argument("--id", dest="request_id", metavar="ID", help="a traffic request id: with the run's "
                    "seed, random policies draw exactly as in the replay")
    sp.add_argument("--seed", type=int)
    sp.add_argument("--json", action="store_true")
    sp = sub.add_parser("models", help="search litellm's model catalog (prices per million tokens)")
    sp.add_argument("search", nargs="?", default="", help="part of a model name")
    _audit_parser(sub)
    _datasets_parser(sub)
    _serve_parser(sub)
    _exercise_parser(sub)
    return p


def _serve_parser(sub) -> None:
    sp = sub.add_parser("serve", help="open the workbench in the browser (Panel app, loopback only by default)")
    sp.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 picks a free one)")
    sp.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only; others get a warning)")
    sp.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"),
                    help="trace database (default: $WORKBENCH_DB or ./workbench.duckdb)")
    sp.add_argument("--scenarios", metavar="DIR", default="scenarios", help="scenarios folder (default ./scenarios)")
    sp.add_argument("--browser", action=argparse.BooleanOptionalAction, default=False,
                    help="open a browser tab (default: no; the URL is printed)")


def _exercise_parser(sub) -> None:
    sp = sub.add_parser("exercise", help="interview exercises: list them, or score a design against one's rubric")
    act = sp.add_subparsers(dest="exercise_command", required=True, metavar="ACTION")
    act.add_parser("list", help="the exercises, with their titles").add_argument("--json", action="store_true")
    a = act.add_parser("score", help="replay a design on the exercise's held-out traffic and check its rubric "
                       "(exit 0: all criteria pass, 1: some fail)")
    a.add_argument("name", metavar="NAME", help="the exercise (see `workbench exercise list`)")
    a.add_argument("submission", metavar="SUBMISSION.yaml", help="the design to score")
    a.add_argument("--db", metavar="PATH", help="keep the scored run in this trace database (default: a "
                   "temporary one)")
    a.add_argument("--json", action="store_true")


def _cmd_exercise(args: argparse.Namespace) -> int:
    from workbench.exercises import format_result, list_exercises, score_submission

    if args.exercise_command == "list":
        found = list_exercises()
        if args.json:
            print(json.dumps([e.to_dict() for e in found], indent=2))
        for e in [] if args.json else found:
            print(f"{e.name:<18} {e.title}\n{'':<18} {e.brief}")
        return 0
    result = score_submission(args.name, args.submission, db=args.db)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_result(result))
    return 0 if result.all_passed else 1


def _audit_parser(sub) -> None:
    sp = sub.add_parser("audit", help="check or show an audited run's tamper-evident trail")
    act = sp.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    for name, text in (("verify", "recompute the hash chain from the stored traces: intact (exit 0) or the "
                        "first broken row (exit 1)"), ("show", "print one request's audit row as sealed")):
        a = act.add_parser(name, help=text)
        a.add_argument("run_id", metavar="RUN_ID")
        a.add_argument("--db", metavar="PATH", default=os.environ.get("WORKBENCH_DB", "workbench.duckdb"))
        a.add_argument("--json", action="store_true")
    act.choices["verify"].add_argument("--head", metavar="HASH", help="the chain's last hash as recorded "
                                       "elsewhere: a chain ending on another one is broken")
    act.choices["show"].add_argument("--request", required=True, metavar="ID", help="the request id")


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
    b = imp.add_parser("outcomes", help="the generic CSV/Parquet outcome format (see README, Datasets)")
    b.add_argument("file", metavar="FILE")
    b.add_argument("--name", required=True, metavar="NAME", help="the dataset to write")
    a = act.add_parser("fetch", help="download public outcome files, then import them")
    a.add_argument("source", choices=["routellm"])
    a.add_argument("--dest", metavar="DIR", help="download folder (default: DATA_DIR/downloads/routellm)")
    for a in (imp.choices["routellm"], b, act.choices["fetch"]):
        a.add_argument("--price", action="append", default=[], metavar="MODEL=IN,OUT", help="USD per million "
                       "tokens in, out (instead of litellm's price map)")
        a.add_argument("--no-progress", action="store_true")
    a = act.add_parser("eval", help="oracle, random and learned (cross-fitted) routing between two models")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--strong", required=True, metavar="MODEL")
    a.add_argument("--weak", required=True, metavar="MODEL")
    a.add_argument("--folds", type=_positive, default=5, metavar="K")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--chart", metavar="SVG", help="also draw quality against the share of strong calls (SVG)")
    a.add_argument("--json", action="store_true")


def _cmd_datasets(args: argparse.Namespace) -> int:
    import workbench.datasets as wd
    from workbench.store.outcomes import list_datasets

    cmd = args.datasets_command
    if cmd in ("list", "info", "eval"):
        out = (list_datasets() if cmd == "list" else wd.describe(args.name) if cmd == "info" else
               wd.evaluate(args.name, args.strong, args.weak, folds=args.folds, seed=args.seed))
        fmt = {"list": wd.format_list, "info": wd.format_info, "eval": wd.format_eval}[cmd]
        print(json.dumps(out, indent=2) if args.json else fmt(out))
        if cmd == "eval" and args.chart:
            print(f"chart: {wd.eval_chart(out, args.chart)}", file=sys.stderr)
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
        else:
            names = [wd.import_outcomes(args.file, args.name, prices=prices, progress=progress)]
    finally:
        for bar in bars.values():
            bar.close()
    for name in names:
        print(wd.format_info(wd.describe(name)) + "\n")
    return 0


def _version() -> str:
    from workbench import __version__

    return f"workbench {__version__}"


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


def _cmd_run(args: argparse.Namespace, paths: Sequence[str]) -> int:
    from workbench.analysis import format_comparison, run_summary
    from workbench.runner import execute, prepare_many
    from workbench.store import TraceStore

    prepared = prepare_many(paths, traffic=args.traffic, requests=args.requests, seed=args.seed)
    for p in prepared:
        for note in p.notes:
            print(f"note: {note}", file=sys.stderr)
    summaries = []
    with TraceStore(args.db) as store:
        for p in prepared:
            with _progress(p.scenario.name, not args.no_progress) as progress:
                run_id, _ = execute(p, store, progress=progress, run_id=getattr(args, "run_id", None))
            summaries.append(run_summary(store.con, run_id))
        if len(summaries) > 1:
            _add_deltas(store.con, summaries)
        if getattr(args, "report", None):
            _write_report(store.con, [s["run_id"] for s in summaries], args, baseline=None)
    if args.json:
        print(json.dumps(summaries[0] if args.command == "run" else summaries, indent=2))
    else:
        first = prepared[0]
        print(f"traffic: {first.traffic_path} ({len(first.requests):,} requests, "
              f"{_arrival_text(first)}), seed {first.seed}, trace database: {args.db}")
        print(format_comparison(summaries))
    return 0


def _add_deltas(con, summaries: list[dict]) -> None:
    """Each run's strong-model share and its paired deltas against the first run, with 95% intervals."""
    from workbench.analysis.compare import compare_runs

    table = compare_runs(con, [s["run_id"] for s in summaries]).set_index("run_id")
    keys = ["d_cost_per_1k_usd", "d_cost_per_1k_lo", "d_cost_per_1k_hi", "d_quality", "d_quality_lo",
            "d_quality_hi"]
    for i, s in enumerate(summaries):
        row = table.loc[s["run_id"]]
        s["strong_share"] = None if row.strong_share != row.strong_share else float(row.strong_share)
        s["vs_baseline"] = None if i == 0 else {
            k: (None if row[k] != row[k] else float(row[k])) for k in keys}


def _arrival_text(p) -> str:
    a = p.traffic_spec.arrival
    if a.process == "recorded":
        return f"recorded timestamps x{a.speedup:g}"
    return f"{a.process} arrivals at {a.rate_per_s:g}/s"


def _write_report(con, run_ids: list[str], args: argparse.Namespace, baseline: str | None) -> None:
    from workbench.analysis.report import build_report
    from workbench.errors import InputError

    try:
        path = build_report(con, run_ids, args.report, baseline=baseline, volume=args.volume,
                            growth=args.growth, budget=args.budget)
    except ValueError as exc:  # e.g. runs over different traffic: not comparable
        raise InputError(str(exc)) from None
    print(f"report: {path}", file=sys.stderr)


def _cmd_record(args: argparse.Namespace) -> int:
    from workbench.recording import record
    from workbench.store import TraceStore

    def progress(label: str):
        bar = _progress(label, not args.no_progress)
        bars.append(bar)
        return bar.__enter__()

    bars: list = []
    try:
        with TraceStore(args.db) as store:
            rec = record(args.scenario, store, dataset=args.dataset, all_models=args.all_models,
                         allow_simulated=args.allow_simulated, traffic=args.traffic, requests=args.requests,
                         seed=args.seed, progress=progress)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    out = {"dataset": rec.dataset, "path": str(rec.path), "prompts": rec.prompts, "answers": rec.answers,
           "failed_requests": rec.failed_requests, "cost_usd": rec.cost_usd, "runs": rec.run_ids}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"dataset {rec.dataset} ({rec.path}): {rec.prompts:,} prompts")
    for model, n in rec.answers.items():
        print(f"  {model:<50} {n:,} answers")
    print(f"spent ${rec.cost_usd:,.4f} in {len(rec.run_ids)} run(s) ({', '.join(rec.run_ids)}); "
          f"{rec.failed_requests:,} requests failed and were not recorded")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from workbench.analysis import format_comparison, run_summary
    from workbench.runner import resume
    from workbench.store import TraceStore

    with TraceStore(args.db) as store:
        with _progress(f"resume {args.run_id}", not args.no_progress) as progress:
            left, _ = resume(store, args.run_id, progress=progress)
        summary = run_summary(store.con, args.run_id)
    print(f"resumed {args.run_id}: {left:,} requests were left", file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else format_comparison([summary]))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from workbench.store import TraceStore

    with TraceStore(args.db, read_only=True) as store:
        for rid in [*args.run_ids, *([args.baseline] if args.baseline else [])]:
            store.run_info(rid)  # a clear error naming an unknown run
        _write_report(store.con, args.run_ids, args, baseline=args.baseline)
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from workbench.store import TraceStore

    with TraceStore(args.db, read_only=True) as store:
        df = store.runs()
    if args.json:
        print(df.to_json(orient="records", date_format="iso", indent=2))
    elif df.empty:
        print("no runs yet")
    else:
        print(df[["run_id", "scenario", "mode", "seed", "requests_planned", "status", "started_at"]]
              .to_string(index=False))
    return 0


def _cmd_sim_server(args: argparse.Namespace) -> int:
    from workbench.scenario import load_scenario
    from workbench.simserver import serve

    if args.speed <= 0:
        raise _input_error("--speed must be positive")
    scenario = load_scenario(args.scenario) if args.scenario else None
    try:
        serve(args.host, args.port, scenario, speed=args.speed, seed=args.seed)
    except OSError as exc:  # port in use, address not available
        raise _input_error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def _input_error(message: str):
    from workbench.errors import InputError

    return InputError(message)


def _cmd_policies(args: argparse.Namespace) -> int:
    from workbench.policies import get_policy, policy_names

    listing = []
    for name in policy_names():
        cls = get_policy(name)
        doc = cls.__doc__.strip().splitlines()[0] if cls.__doc__ else ""
        listing.append({"name": name, "description": doc, "params": cls.Params.model_json_schema()})
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for p in listing:
        props = p["params"].get("properties", {})
        required = set(p["params"].get("required", []))
        params = ", ".join(f"{k}{'' if k in required else '?'}" for k in props)
        print(f"{p['name']:<12} {p['description']}\n{'':<12} params: {params or '(none)'}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from workbench.errors import InputError
    from workbench.explain import explain
    from workbench.scenario import load_scenario

    meta = {}
    for item in args.meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--meta takes KEY=VALUE, got {item!r}")
        meta[key] = value
    out = explain(load_scenario(args.scenario), args.text, category=args.category,
                  difficulty=args.difficulty, metadata=meta, seed=args.seed, request_id=args.request_id)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    score = "" if out["score"] is None else f" (score {out['score']:.3f})"
    if out["consult"]:
        print(f"{out['scenario']}: policy {out['policy']} asks {out['consult']} first; the route depends on "
              "its answer (explain calls no model)")
    else:
        print(f"{out['scenario']}: policy {out['policy']} -> {out['target']} [{out['target_model']}]{score}")
    print(f"  why: {out['reason']}")
    r = out["retries"]
    print(f"  retries: up to {r['max_retries']} on {', '.join(r['errors']) or 'nothing'}")
    if not out["fallbacks"] and out["target"]:
        print("  fallbacks: none: a failure after retries fails the request")
    for i, f in enumerate(out["fallbacks"], 1):
        errors = f["errors"] if f["errors"] == "any" else ", ".join(f["errors"])
        print(f"  fallback {i}: if {f['after']} fails ({errors}) -> {f['to']} [{f['kind']}]")
    if out["budget"]:
        b = out["budget"]
        action = f"downgrade to {b['downgrade_to']}" if b["on_exceed"] == "downgrade" else "reject"
        print(f"  budget: ${b['max_usd']:g}, then {action}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from workbench.store import TraceStore
    from workbench.store.audit import request_trail, verify_run

    with TraceStore(args.db, read_only=True) as store:
        if args.audit_command == "show":
            trail = request_trail(store.con, args.run_id, args.request)
            print(json.dumps(trail, indent=2, ensure_ascii=False))
            return 0
        result = verify_run(store.con, args.run_id, head=args.head)
    print(json.dumps(asdict(result), indent=2) if args.json else result.message())
    return 0 if result.intact else 1


def _cmd_models(args: argparse.Namespace) -> int:
    from workbench.catalog import known_models, model_info

    for m in known_models():
        if args.search.lower() in m.lower():
            info = model_info(m)
            if info is not None:
                window = f"{info.max_input_tokens:,}" if info.max_input_tokens else "?"
                print(f"{m:<60} in ${info.input_per_token * 1e6:8.3f}  out ${info.output_per_token * 1e6:8.3f}"
                      f"  window {window}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from workbench.app import serve

    if not 0 <= args.port <= 65535:
        raise _input_error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        serve(db=args.db, scenarios_dir=args.scenarios, host=args.host, port=args.port, show=args.browser)
    except OSError as exc:  # port in use, address not available
        raise _input_error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script; returns the exit code."""
    from workbench.errors import WorkbenchError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args, [args.scenario])
        if args.command == "compare":
            return _cmd_run(args, args.scenarios)
        if args.command == "runs":
            return _cmd_runs(args)
        if args.command == "models":
            return _cmd_models(args)
        if args.command == "sim-server":
            return _cmd_sim_server(args)
        if args.command == "record":
            return _cmd_record(args)
        if args.command == "resume":
            return _cmd_resume(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "policies":
            return _cmd_policies(args)
        if args.command == "audit":
            return _cmd_audit(args)
        if args.command == "explain":
            return _cmd_explain(args)
        if args.command == "datasets":
            return _cmd_datasets(args)
        if args.command == "serve":
            return _cmd_serve(args)
        if args.command == "exercise":
            return _cmd_exercise(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: requests already recorded are kept", file=sys.stderr)
        return 130
    return 1  # pragma: no cover  (argparse rejects unknown commands)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
