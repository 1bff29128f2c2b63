"""Replay throughput: simulated requests per second, end to end, against a loop over litellm.Router.

Why this benchmark exists: the workbench answers "what would this routing design cost, and how does it
fail?" by replaying a day (or a month) of traffic through a design, again and again, while an architect
changes one knob at a time. That is only pleasant if a replay of 100,000 requests takes seconds. The
obvious alternative is a loop over ``litellm.Router`` with ``mock_response``: it routes and prices each
call, but it pays the whole per-call machinery of a real client (request building, callbacks, logging
objects, response objects) for every request, and it knows nothing of rate limits, outages, retries on
a virtual clock, fallbacks or a human queue.

What it measures, in one run:

* Workbench: the fleet, router, fallbacks, retries and human team of ``scenarios/support-tiered.yaml``
  (75% gpt-4o-mini / 25% gpt-4o, cross fallbacks, tier-2 humans), with the traffic overridden to
  ``--requests`` tickets sampled with replacement from ``scenarios/traffic/support_tickets.jsonl`` and
  arriving as a Poisson process at ``--rate`` per second (default 5: a load the fleet keeps up
  with, so the run models a busy day rather than an ever-growing queue), plus a gpt-4o outage over
  40-45% of the arrival span so that retries and fallbacks really happen. ``runner.prepare`` (load,
  sample, arrival times, tokenizing every distinct prompt with litellm's tokenizer) and
  ``runner.execute`` (the discrete-event replay: routing, provider simulation, retries, fallbacks,
  cost, grading, and every request and attempt row written to DuckDB) are timed separately. The
  trace file is then checked with SQL: N request rows for the run, and the attempts' cost adding up
  to the requests' cost.
* litellm: a plain synchronous loop of ``router.completion`` over a two-deployment ``litellm.Router``
  with ``mock_response``, the model group drawn by the same 75/25 split over the same ticket prompts,
  and ``litellm.completion_cost`` of every response (so both sides route and price). Results are
  discarded. ``--litellm-requests`` may be smaller than ``--requests`` (at about 5 ms a call, 100,000
  calls take about 9 minutes); its rate is then measured on that count, and the output says so.

``--cache`` adds a ``cache:`` block (an 1,800-token support system prompt shared by both models, the
OpenAI family's TTL of 300 s and minimum of 1,024 tokens): every prompt carries the prefix and the
simulated provider decides each call's cache hit. The models' tpm limits are raised tenfold with it,
so that the prefix tokens model the same load rather than a rate-limit storm; the output counts the
hits.

Goal (from the issue): at least 20,000 requests/s for the workbench's execute step and at least 50
times the litellm loop's rate, on a 2-core machine. Runs offline; the workbench's figures are
simulated (labelled as such below), litellm's mock costs use 10 prompt / 20 completion tokens.

Usage::

    python benchmarks/replay_throughput.py                      # 100,000 requests on both sides
    python benchmarks/replay_throughput.py --litellm-requests 2000
    python benchmarks/replay_throughput.py --cache --litellm-requests 2000   # with prompt caching on
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import random
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported anywhere

import workbench  # noqa: E402
from workbench import runner  # noqa: E402
from workbench.scenario import Scenario, parse_scenario  # noqa: E402
from workbench.store import TraceStore  # noqa: E402
from workbench.yamlio import dump_yaml, read_yaml  # noqa: E402

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "support-tiered.yaml"
GOAL_RATE = 20_000.0
GOAL_RATIO = 50.0
OUTAGE_SHARE = (0.40, 0.45)  # of the arrival span; gpt-4o answers server_error in between
CACHE_PREFIX_TOKENS = 1800  # --cache: the shared support system prompt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=100_000, metavar="N",
                   help="simulated requests replayed by the workbench (default: 100000)")
    p.add_argument("--litellm-requests", type=int, default=None, metavar="N",
                   help="calls in the litellm.Router loop (default: same as --requests; about 5 ms each)")
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help="trace database to write (default: a fresh file in a temporary directory)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the sample, arrivals and simulation (default: the scenario's own)")
    p.add_argument("--rate", type=float, default=5.0, metavar="PER_S",
                   help="Poisson arrival rate, requests/s of virtual time (default: 5; support-tiered's "
                        "fleet, concurrency 32 and 500 rpm a model, keeps up to about 8/s, beyond "
                        "which its queue grows for the whole run)")
    p.add_argument("--cache", action="store_true",
                   help="add a cache: block (an 1800-token prefix on both models) and count its cache hits")
    p.add_argument("--batch-lane", type=float, default=0.0, metavar="SHARE",
                   help="send this share of the requests to a batch lane (a tier: batch gpt-4o-mini, 10-minute "
                        "windows of up to 1,000, the OpenAI completion profile, failover to gpt-4o-mini); "
                        "default 0: no lane")
    args = p.parse_args(argv)
    if not 0.0 <= args.batch_lane < 1.0:
        p.error("--batch-lane must be in [0, 1)")
    if args.requests < 1:
        p.error("--requests must be at least 1")
    if args.litellm_requests is None:
        args.litellm_requests = args.requests
    if args.litellm_requests < 1:
        p.error("--litellm-requests must be at least 1")
    if args.rate <= 0:
        p.error("--rate must be positive")
    return args


# --- workbench side ---------------------------------------------------------------------------
def build_scenario(n: int, rate: float, cache: bool = False, batch_lane: float = 0.0) -> Scenario:
    """support-tiered with only its traffic overridden, and a gpt-4o outage inside the arrival span
    (``cache``: plus a shared prefix on both models, their tpm limits raised tenfold; ``batch_lane`` > 0:
    that share of the requests goes to a batch lane instead of gpt-4o-mini)."""
    data = read_yaml(SCENARIO.read_text(encoding="utf-8"), str(SCENARIO))[0]
    if batch_lane:
        data["fleet"]["small-batch"] = {"model": "gpt-4o-mini", "provider": "simulated", "tier": "batch"}
        weights = data["router"]["params"]["weights"]
        weights["small-batch"] = batch_lane
        weights["small"] = round(weights["small"] - batch_lane, 6)
        data["batch"] = {"window_s": 600, "max_size": 1000, "completion": {"profile": "openai"}, "failover": "small"}
    span = n / rate
    large = data["fleet"]["large"]
    large.setdefault("sim", {})["outages"] = [
        {"start_s": round(span * OUTAGE_SHARE[0], 3), "end_s": round(span * OUTAGE_SHARE[1], 3),
         "kind": "server_error"}]
    data["traffic"] = {"source": data["traffic"]["source"], "sample": n, "replace": True,
                       "arrival": {"process": "poisson", "rate_per_s": rate}}
    if cache:
        data["cache"] = {"prefixes": {"support-system": {"tokens": CACHE_PREFIX_TOKENS,
                                                         "targets": sorted(data["fleet"])}}}
        for spec in data["fleet"].values():
            if spec.get("limits", {}).get("tpm"):
                spec["limits"]["tpm"] *= 10
    data["description"] = f"{data.get('description', '')} [replay_throughput benchmark: {n} requests]"
    text = dump_yaml(data)
    # source= the real file, so the relative traffic path resolves next to it
    return parse_scenario(text, source=SCENARIO)


def run_workbench(args: argparse.Namespace, db: Path) -> dict:
    scn = build_scenario(args.requests, args.rate, args.cache, args.batch_lane)
    t0 = time.perf_counter()
    prep = runner.prepare(scn, seed=args.seed)
    t1 = time.perf_counter()
    with TraceStore(db) as store:
        t2, c2 = time.perf_counter(), time.process_time()
        run_id, stats = runner.execute(prep, store)
        t3, c3 = time.perf_counter(), time.process_time()
        q = store.con.execute
        n_req, req_cost = q("SELECT count(*), sum(cost_usd) FROM requests WHERE run_id = ?",
                            [run_id]).fetchone()
        n_att, att_cost, n_retry, n_fb, n_err = q(
            "SELECT count(*), sum(cost_usd), count(*) FILTER (is_retry), count(*) FILTER (is_fallback), "
            "count(*) FILTER (NOT ok) FROM attempts WHERE run_id = ?", [run_id]).fetchone()
        n_ok, n_human = q("SELECT count(*) FILTER (status = 'ok'), count(*) FILTER (handoff) "
                          "FROM requests WHERE run_id = ?", [run_id]).fetchone()
        status = q("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    prefixes = [m.prefix for p in {id(p): p for p in prep.provider._by_model.values()}.values()
                for m in getattr(p, "models", {}).values() if getattr(m, "prefix", None) is not None]
    hits = (sum(b.hits for b in prefixes), sum(b.misses for b in prefixes)) if prefixes else None
    return dict(scn=scn, prep=prep, run_id=run_id, cache_hits=hits, stats=stats, prepare_s=t1 - t0, open_s=t2 - t1,
                execute_s=t3 - t2, execute_cpu_s=c3 - c2, n_req=n_req, req_cost=req_cost or 0.0, n_att=n_att,
                att_cost=att_cost or 0.0, n_retry=n_retry, n_fb=n_fb, n_err=n_err, n_ok=n_ok,
                n_human=n_human, status=status)


# --- litellm side -----------------------------------------------------------------------------
def quiet_litellm():
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return litellm


def run_litellm(scn: Scenario, prompts: list[str], seed: int) -> dict:
    litellm = quiet_litellm()
    weights = scn.router.params["weights"]
    groups = list(weights)
    cum, acc, total = [], 0.0, sum(weights.values())
    for g in groups:
        acc += weights[g] / total
        cum.append(acc)
    router = litellm.Router(model_list=[
        {"model_name": g, "litellm_params": {"model": scn.fleet[g].model, "mock_response": "resolved"}}
        for g in groups])
    for g in groups:  # first call of each group builds clients and caches: not what is measured
        router.completion(model=g, messages=[{"role": "user", "content": prompts[0]}])
    rng = random.Random(seed)
    cost = 0.0
    t0 = time.perf_counter()
    for prompt in prompts:
        u = rng.random()
        group = next((g for g, c in zip(groups, cum, strict=True) if u < c), groups[-1])
        resp = router.completion(model=group, messages=[{"role": "user", "content": prompt}])
        cost += litellm.completion_cost(resp)
    elapsed = time.perf_counter() - t0
    return dict(n=len(prompts), seconds=elapsed, cost=cost, groups={g: scn.fleet[g].model for g in groups},
                split=", ".join(f"{g} {weights[g] / total:.0%}" for g in groups))


# --- report -----------------------------------------------------------------------------------
def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine_info() -> str:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return (f"{platform.system()} {platform.release()} {platform.machine()}, os.cpu_count()={cpus} "
            f"(usable {usable}), Python {platform.python_version()} ({platform.python_implementation()}), "
            f"duckdb {_version('duckdb')}, litellm {_version('litellm')}, pandas {_version('pandas')}, "
            f"workbench {workbench.__version__}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"machine: {machine_info()}")
    t0 = time.perf_counter()
    quiet_litellm()  # import once, up front: a process cost that neither side should carry
    print(f"import litellm: {time.perf_counter() - t0:.2f} s (not counted on either side)")

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        db = args.db if args.db is not None else Path(tmp) / "replay_throughput.duckdb"
        wb = run_workbench(args, db)
    n = args.requests
    st, prep = wb["stats"], wb["prep"]
    span = n / args.rate
    e2e_s = wb["prepare_s"] + wb["execute_s"]
    wb_rate = n / wb["execute_s"]
    e2e_rate = n / e2e_s
    print(f"\n== workbench (SIMULATED provider): scenario {SCENARIO.name}, traffic overridden ==")
    print(f"requests {n:,} sampled with replacement from {prep.traffic_path.name}, Poisson {args.rate:g}/s, "
          f"seed {prep.seed}; gpt-4o outage {span * OUTAGE_SHARE[0]:,.0f}-{span * OUTAGE_SHARE[1]:,.0f} s "
          f"of virtual time; virtual time replayed {st.virtual_s:,.0f} s")
    if args.batch_lane:
        print(f"batch lane: {args.batch_lane:.0%} of the requests to a tier: batch gpt-4o-mini (10-minute windows)")
    print(f"trace db: {db if args.db is not None else '(temporary file, deleted)'}  run {wb['run_id']} "
          f"({wb['status']})")
    print(f"prepare (load, sample, arrivals, tokenize prompts): {wb['prepare_s']:.3f} s")
    print(f"execute (replay + every row written to DuckDB):     {wb['execute_s']:.3f} s  "
          f"-> {wb_rate:,.0f} requests/s")
    print(f"execute, CPU time of this process (all threads):   {wb['execute_cpu_s']:.3f} s  -> "
          f"{n / wb['execute_cpu_s']:,.0f} requests per CPU second (steadier than wall time on a busy machine)")
    print(f"end to end (prepare + execute):                     {e2e_s:.3f} s  -> {e2e_rate:,.0f} requests/s")
    print(f"(opening the trace db and migrating it: {wb['open_s']:.3f} s, not counted)")
    print(f"attempts written {wb['n_att']:,} (failed {wb['n_err']:,}, retries {wb['n_retry']:,}, "
          f"fallbacks {wb['n_fb']:,}); requests ok {wb['n_ok']:,}, answered by humans {wb['n_human']:,}")
    if wb["cache_hits"] is not None:
        hit, miss = wb["cache_hits"]
        print(f"prompt cache (--cache, {CACHE_PREFIX_TOKENS:,}-token prefix, simulated): {hit:,} hits, {miss:,} "
              f"misses of {hit + miss:,} successful model calls ({hit / max(1, hit + miss):.1%} hits)")
    rows_ok = wb["n_req"] == n and wb["n_att"] == st.attempts
    cost_ok = math.isclose(wb["att_cost"], wb["req_cost"], rel_tol=1e-9, abs_tol=1e-9)
    print(f"check: requests rows for the run = {wb['n_req']:,} (expected {n:,}); attempt rows = "
          f"{wb['n_att']:,} (replay counted {st.attempts:,}) -> {'OK' if rows_ok else 'MISMATCH'}")
    print(f"check: sum(attempts.cost_usd) = {wb['att_cost']:.6f} USD, sum(requests.cost_usd) = "
          f"{wb['req_cost']:.6f} USD -> {'OK' if cost_ok else 'MISMATCH'} (simulated cost)")

    m = args.litellm_requests
    prompts = [prep.requests[i % len(prep.requests)].prompt for i in range(m)]
    print(f"\n== litellm.Router loop (mock_response): {m:,} calls"
          + ("" if m == n else f" (fewer than the workbench's {n:,}: its rate is measured on {m:,} calls)")
          + " ==", flush=True)
    ll = run_litellm(wb["scn"], prompts, prep.seed)
    ll_rate = ll["n"] / ll["seconds"]
    print(f"deployments {ll['groups']}, split {ll['split']}; router.completion + completion_cost per call")
    print(f"loop: {ll['seconds']:.3f} s -> {ll_rate:,.0f} requests/s ({1000 / ll_rate:.2f} ms a call); "
          f"mock cost {ll['cost']:.6f} USD (10 prompt / 20 completion tokens a mock)")

    ratio = wb_rate / ll_rate
    w = 40
    print("\n== summary ==")
    print(f"{'workbench execute, requests/s (' + format(n, ',') + ')':<{w}} {wb_rate:>12,.0f}   goal >= "
          f"{GOAL_RATE:,.0f}: {'MET' if wb_rate >= GOAL_RATE else 'NOT MET'}")
    print(f"{'workbench end to end, requests/s':<{w}} {e2e_rate:>12,.0f}")
    print(f"{'litellm Router loop, requests/s (' + format(m, ',') + ')':<{w}} {ll_rate:>12,.0f}")
    print(f"{'ratio (execute / litellm loop)':<{w}} {ratio:>11,.1f}x   goal >= {GOAL_RATIO:g}x: "
          f"{'MET' if ratio >= GOAL_RATIO else 'NOT MET'}")
    print(f"{'ratio (end to end / litellm loop)':<{w}} {e2e_rate / ll_rate:>11,.1f}x")
    cpus = os.cpu_count()
    note = "" if cpus == 2 else f" (the goal is stated for a 2-core machine; this one has {cpus})"
    print(f"machine: {machine_info()}{note}")
    if not (rows_ok and cost_ok):
        print("trace check failed: see the check lines above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
