"""``workbench traffic import FORMAT FILE... --out NAME``: production logs as traffic and logged outcomes.

Why its own module: like :mod:`workbench.cli_sweep`, one sub-command with its own options; it parses
arguments and prints what :func:`workbench.datasets.logs.import_log` returns, nothing more.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_traffic_parser", "cmd_traffic"]


def add_traffic_parser(sub) -> None:
    """Add ``workbench traffic import`` to the parser."""
    sp = sub.add_parser("traffic", help="import production logs as traffic plus a 'logged' outcome dataset")
    act = sp.add_subparsers(dest="traffic_command", required=True, metavar="ACTION")
    a = act.add_parser("import", help="read logs (OpenAI, Batch API, LiteLLM spend logs, Langfuse, OpenTelemetry "
                       "GenAI, any table) into dataset NAME")
    a.add_argument("format", metavar="FORMAT", help="openai, openai-batch, litellm, langfuse, otel or table")
    a.add_argument("files", nargs="+", metavar="FILE")
    a.add_argument("--out", required=True, metavar="NAME", help="the dataset to write (traffic: {dataset: NAME})")
    a.add_argument("--scrub", action="store_true", help="replace e-mails, phones, cards, IBANs, IPs, keys and "
                   "--names with placeholders before storing")
    a.add_argument("--names", metavar="FILE", help="names to scrub, one a line (implies --scrub)")
    a.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD", help="table format: the column "
                   "holding a field (id, prompt, messages, model, response, ...)")
    a.add_argument("--score", metavar="NAME", help="the feedback value used as the answer's score (default: the "
                   "only numeric one in [0, 1])")
    a.add_argument("--price", action="append", default=[], metavar="MODEL=IN,OUT", help="USD per million tokens, "
                   "for models that logged no cost")
    a.add_argument("--json", action="store_true", help="print the report as JSON")
    a.add_argument("--no-progress", action="store_true")


def cmd_traffic(args: argparse.Namespace) -> int:
    """Run ``workbench traffic import``; the report goes to stdout, progress to stderr."""
    from workbench.datasets import parse_prices
    from workbench.datasets.logs import import_log, parse_mapping, read_names

    names = read_names(args.names) if args.names else []

    def progress(done: int) -> None:
        if not args.no_progress:
            print(f"  {done:,} records read ...", file=sys.stderr)

    report = import_log(args.format, args.files, args.out, scrub=args.scrub or bool(args.names), names=names,
                        mapping=parse_mapping(args.map), prices=parse_prices(args.price), score=args.score,
                        progress=progress)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.text())
    return 0
