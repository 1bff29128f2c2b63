"""Audit-trail overhead: what sealing every request into the hash chain costs a replay, and what
verifying the chain costs afterwards.

Why this benchmark exists: an audited run (``audit: true``) writes one more row per request, built
from the request and its attempts, serialised to canonical JSON and hashed, inside the writer's
transaction. A regulated team replays large samples too, so the cost has to be known, not guessed.

What it measures: ``scenarios/support-tiered.yaml`` (75% gpt-4o-mini / 25% gpt-4o, cross fallbacks,
tier-2 humans, gpt-4o's outage) over ``--requests`` tickets sampled with replacement from
``scenarios/traffic/support_tickets.jsonl``, Poisson arrivals at 5/s, replayed ``--repeat`` times
with ``audit: false`` and ``audit: true`` alternately, each into a fresh DuckDB file; ``runner.prepare``
is done once per design and not timed. It prints the median ``runner.execute`` time of each, the
difference per request, the trace file sizes, and the time of ``workbench.store.audit.verify_run``
over the audited run (which must report the chain intact). With ``$WORKBENCH_AUDIT_KEY`` set, the
audited runs are signed (HMAC-SHA256 links) and verified with that key. Runs offline; the replayed
figures are simulated.

Usage::

    python benchmarks/audit_overhead.py                 # 100,000 requests, 3 repeats
    python benchmarks/audit_overhead.py --requests 20000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported anywhere

from workbench import runner  # noqa: E402
from workbench.scenario import parse_scenario  # noqa: E402
from workbench.store import TraceStore  # noqa: E402
from workbench.store.audit import verify_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "support-tiered.yaml"
TRAFFIC = ROOT / "scenarios" / "traffic" / "support_tickets.jsonl"


def design(n: int, audit: bool):
    """support-tiered over ``n`` tickets drawn with replacement, audited or not."""
    text = SCENARIO.read_text().replace(
        "  source: traffic/support_tickets.jsonl\n  arrival: {process: recorded, field: arrived_at}",
        f"  source: {TRAFFIC}\n  sample: {n}\n  replace: true\n  arrival: {{process: poisson, rate_per_s: 5}}")
    if "sample: " not in text:
        sys.exit(f"{SCENARIO}: its traffic block changed; update this benchmark's replacement")
    return parse_scenario(text + f"audit: {'true' if audit else 'false'}\n", source=SCENARIO)


def timed_run(prep, db: Path) -> tuple[float, str]:
    with TraceStore(db) as store:
        t0 = time.perf_counter()
        rid, stats = runner.execute(prep, store)
        elapsed = time.perf_counter() - t0
    assert stats.requests == len(prep.requests), "the replay did not finish every request"
    return elapsed, rid


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--requests", type=int, default=100_000, metavar="N")
    p.add_argument("--repeat", type=int, default=3, metavar="K", help="runs of each design (median shown)")
    args = p.parse_args(argv)
    n = args.requests
    preps = {audit: runner.prepare(design(n, audit)) for audit in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    sizes: dict[bool, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            for audit in (False, True):
                db = Path(tmp) / f"{'audit' if audit else 'plain'}-{k}.duckdb"
                elapsed, rid = timed_run(preps[audit], db)
                times[audit].append(elapsed)
                sizes[audit] = db.stat().st_size
        with TraceStore(db, read_only=True) as store:  # the last audited run
            t0 = time.perf_counter()
            result = verify_run(store.con, rid)
            verify_s = time.perf_counter() - t0
    plain, sealed = statistics.median(times[False]), statistics.median(times[True])
    print(f"audit overhead, {n:,} simulated requests (support-tiered, Poisson 5/s), median of "
          f"{args.repeat} run(s) each; Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"  execute, audit: false  {plain:8.2f} s   {n / plain:10,.0f} req/s   "
          f"runs: {', '.join(f'{t:.2f}' for t in times[False])}")
    print(f"  execute, audit: true   {sealed:8.2f} s   {n / sealed:10,.0f} req/s   "
          f"runs: {', '.join(f'{t:.2f}' for t in times[True])}")
    print(f"  sealing cost           {sealed - plain:8.2f} s   {(sealed - plain) / n * 1e6:10.1f} us/request   "
          f"{(sealed / plain - 1) * 100:+.0f}% of the replay")
    print(f"  trace file             {sizes[False] / 1e6:8.1f} MB without, {sizes[True] / 1e6:.1f} MB with the trail")
    print(f"  audit verify           {verify_s:8.2f} s   {n / verify_s:10,.0f} rows/s   -> {result.message()}")
    return 0 if result.intact and result.rows == n else 1


if __name__ == "__main__":
    sys.exit(main())
