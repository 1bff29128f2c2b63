"""The ``workbench`` command: a thin shell over :mod:`workbench.runner` and :mod:`workbench.analysis`.

Why so thin: every figure the CLI prints must be the one the app, the notebooks and the report show,
so the CLI only parses arguments, shows progress on stderr, and prints what the library returns.
Errors the workbench raises on purpose print as one line naming where (exit code 2), never as a
traceback; stdout carries only results (``--json`` for machines). A run that answered no request
prints its results, then one line saying why (exit code 3); a live run stopped by SIGTERM or SIGINT
writes what it finished, marks the run interrupted and says how to resume it (exit code 143 or 130).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from workbench.cli_offpolicy import add_estimate_parser, add_plan_options, cmd_estimate, cmd_record_plan, wants_plan
from workbench.cli_tools import TOOL_COMMANDS, _input_error, _positive, _progress, add_tool_parsers

__all__ = ["main", "build_parser"]


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
    add_plan_options(sp)
    add_estimate_parser(sub)
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
    sp = sub.add_parser("runs", help="list, label, rename or delete the runs in a trace database")
    sp.add_argument("action", nargs="?", default="list", choices=["list", "label", "rename", "delete"],
                    help="list (default); label RUN_ID TEXT; rename RUN_ID NEW_ID; delete RUN_ID")
    sp.add_argument("values", nargs="*", metavar="ARG")
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
    add_tool_parsers(sub)
    return p


def _version() -> str:
    from workbench import __version__

    return f"workbench {__version__}"




def _cmd_run(args: argparse.Namespace, paths: Sequence[str]) -> int:
    from workbench.analysis import format_comparison, run_summary
    from workbench.runner import execute, prepare_many
    from workbench.store import TraceStore
    from workbench.store.alerts import run_alerts

    prepared = prepare_many(paths, traffic=args.traffic, requests=args.requests, seed=args.seed)
    for p in prepared:
        for note in p.notes:
            print(f"note: {note}", file=sys.stderr)
    summaries = []
    with TraceStore(args.db) as store:
        for p in prepared:
            with _progress(p.scenario.name, not args.no_progress) as progress:
                run_id, _ = execute(p, store, progress=progress, run_id=getattr(args, "run_id", None))
            _print_head(store.con, run_id)
            summaries.append({**run_summary(store.con, run_id), "alerts": run_alerts(store.con, run_id)})
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
    return _answered_or_raise(summaries, [p.scenario.yaml_text for p in prepared])


def _answered_or_raise(summaries: list[dict], scenario_yamls: list[str]) -> int:
    """0, or :class:`AllRequestsFailed` for the first run that answered no request (after its results
    are printed: they show what failed)."""
    from workbench.runner import all_failed

    for summary, text in zip(summaries, scenario_yamls, strict=True):
        problem = all_failed(summary, text)
        if problem is not None:
            raise problem
    return 0


def _print_head(con, run_id: str) -> None:
    """An audited run's chain head on stderr, to be kept outside the database (``audit verify --head``)."""
    from workbench.store.audit import chain_head

    head = chain_head(con, run_id)
    if head is not None:
        print(f"audit head {run_id}: {head} (keep it outside this database; check it with: workbench audit "
              f"verify {run_id} --head {head})", file=sys.stderr)


def _add_deltas(con, summaries: list[dict]) -> None:
    """Each run's strong-model share, its paired deltas against the first run with 95% intervals, and
    whether one single-model design makes routing unnecessary (``no_routing_needed``)."""
    from workbench.analysis.compare import compare_runs
    from workbench.analysis.fleet import no_routing_needed
    from workbench.analysis.provenance import rests_on_simulation

    frame = compare_runs(con, [s["run_id"] for s in summaries])
    verdict = no_routing_needed(con, frame)
    table = frame.set_index("run_id")
    keys = ["d_cost_per_1k_usd", "d_cost_per_1k_lo", "d_cost_per_1k_hi", "d_quality", "d_quality_lo",
            "d_quality_hi", "d_quality_differing", "d_quality_simulated"]
    for i, s in enumerate(summaries):
        row = table.loc[s["run_id"]]
        s["strong_share"] = None if row.strong_share != row.strong_share else float(row.strong_share)
        s["vs_baseline"] = None if i == 0 else {
            k: (None if row[k] != row[k] else float(row[k])) for k in keys}
        if i:  # the significance rule of workbench/analysis/provenance.py, as a flag
            s["vs_baseline"]["quality_rests_on_simulation"] = rests_on_simulation(
                int(row.d_quality_differing), int(row.d_quality_simulated))
        s["no_routing_needed"] = verdict  # the comparison's verdict, the same on every run


def _arrival_text(p) -> str:
    a = p.traffic_spec.arrival
    if a.process == "recorded":
        return f"recorded timestamps x{a.speedup:g}"
    return f"{a.process} arrivals at {a.rate_per_s:g}/s"


def _write_report(con, run_ids: list[str], args: argparse.Namespace, baseline: str | None) -> None:
    from workbench.analysis.report import build_report
    from workbench.errors import InputError
    from workbench.estimate import run_estimate

    try:
        path = build_report(con, run_ids, args.report, baseline=baseline, volume=args.volume,
                            growth=args.growth, budget=args.budget, offpolicy=run_estimate)
    except ValueError as exc:  # e.g. runs over different traffic: not comparable
        raise InputError(str(exc)) from None
    print(f"report: {path}", file=sys.stderr)


def _cmd_record(args: argparse.Namespace) -> int:
    if wants_plan(args):
        return cmd_record_plan(args)
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
        _print_head(store.con, args.run_id)
        scenario_yaml = store.run_info(args.run_id)["scenario_yaml"]
    print(f"resumed {args.run_id}: {left:,} requests were left", file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else format_comparison([summary]))
    return _answered_or_raise([summary], [scenario_yaml])


def _cmd_report(args: argparse.Namespace) -> int:
    from workbench.store import TraceStore

    with TraceStore(args.db, read_only=True) as store:
        for rid in [*args.run_ids, *([args.baseline] if args.baseline else [])]:
            store.run_info(rid)  # a clear error naming an unknown run
        _write_report(store.con, args.run_ids, args, baseline=args.baseline)
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from workbench.store import TraceStore

    if args.action != "list":
        return _manage_run(args)
    from workbench.store.runs import list_runs

    with TraceStore(args.db, read_only=True) as store:
        df = list_runs(store)
    if args.json:
        print(df.to_json(orient="records", date_format="iso", indent=2))
    elif df.empty:
        print("no runs yet")
    else:
        print(df[["run_id", "scenario", "label", "mode", "seed", "requests", "status", "started_at"]]
              .to_string(index=False))
    return 0


def _manage_run(args: argparse.Namespace) -> int:
    """``workbench runs label|rename|delete``: one store function each (workbench/store/runs.py)."""
    from workbench.store import TraceStore
    from workbench.store.base import check_run_id
    from workbench.store.runs import delete_run, label_run, rename_run

    wanted = {"label": 2, "rename": 2, "delete": 1}[args.action]
    if len(args.values) != wanted:
        usage = {"label": "RUN_ID TEXT", "rename": "RUN_ID NEW_ID", "delete": "RUN_ID"}[args.action]
        raise _input_error(f"usage: workbench runs {args.action} {usage}")
    run_id = check_run_id(args.values[0])
    with TraceStore(args.db) as store:
        if args.action == "label":
            label_run(store, run_id, args.values[1])
            print(f"{run_id}: labelled '{args.values[1].strip()}'")
        elif args.action == "rename":
            rename_run(store, run_id, args.values[1])
            print(f"{run_id}: renamed to {args.values[1]}")
        else:
            removed = delete_run(store, run_id)
            print(f"{run_id}: deleted ({removed['requests']:,} requests, {removed['attempts']:,} attempts)")
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




def _cmd_policies(args: argparse.Namespace) -> int:
    from workbench.policies import get_policy, policy_names

    listing: list[dict[str, Any]] = []
    for name in policy_names():
        cls = get_policy(name)
        doc = _plain(cls.__doc__.strip().splitlines()[0]) if cls.__doc__ else ""
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


def _plain(doc: str) -> str:
    """A docstring line as plain text: ``x`` and :role:`x` (reST markup) become 'x'."""
    return re.sub(r"(?::[a-z]+:)?`{1,2}([^`]+)`{1,2}", r"'\1'", doc)


def _cmd_explain(args: argparse.Namespace) -> int:
    from workbench.errors import InputError
    from workbench.explain import explain
    from workbench.scenario import load_scenario
    from workbench.steps import step_lines

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
        errors = f["errors"] if isinstance(f["errors"], str) else ", ".join(f["errors"])
        print(f"  fallback {i}: if {f['after']} fails ({errors}) -> {f['to']} [{f['kind']}]")
    for line in step_lines(out.get("steps", {})):
        print(line)
    if out["budget"]:
        b = out["budget"]
        action = f"downgrade to {b['downgrade_to']}" if b["on_exceed"] == "downgrade" else "reject"
        print(f"  budget: ${b['max_usd']:g}, then {action}")
    for m in out["monitors"]:
        print(f"  monitor {m['name']}: {m['detector']} on {m['metric']} of {m['target']} -> {m['action']}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from workbench.catalog import known_models, model_info

    found = 0
    for m in known_models():
        if args.search.lower() in m.lower():
            info = model_info(m)
            if info is not None:
                found += 1
                window = f"{info.max_input_tokens:,}" if info.max_input_tokens else "?"
                print(f"{m:<60} in ${info.input_per_token * 1e6:8.3f}  out ${info.output_per_token * 1e6:8.3f}"
                      f"  window {window}")
    if not found:
        print(f"no model matches {args.search!r}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's last flush
    except BrokenPipeError:
        # `workbench ... | head`: the Python docs' recipe. stdout now points at devnull so the final flush
        # cannot raise again; 141 is what a shell reports for a process ended by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


def _dispatch(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.store.base import check_run_id

    try:
        for run_id in (getattr(args, "run_id", None), *getattr(args, "run_ids", ()), getattr(args, "baseline", None)):
            if run_id is not None:
                check_run_id(run_id)  # a run id becomes a file name: refused before anything is opened
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
        if args.command == "estimate":
            return cmd_estimate(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "policies":
            return _cmd_policies(args)
        if args.command == "explain":
            return _cmd_explain(args)
        if args.command in TOOL_COMMANDS:
            return TOOL_COMMANDS[args.command](args)
    except WorkbenchError as exc:  # one line; exit 2 (bad input), 3 (nothing answered), 130/143 (signal)
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        print("interrupted: requests already recorded are kept", file=sys.stderr)
        return 130
    return 1  # pragma: no cover  (argparse rejects unknown commands)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
