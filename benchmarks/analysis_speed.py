"""Analysis speed: ``compare_runs`` over a trace database of at least 1,000,000 attempts.

Why this benchmark exists: an architect compares designs again and again while changing one knob, in
the app and in the report; the side-by-side table (every run's summary, the strong-model share, the
identical-traffic check and a paired bootstrap per run against the baseline) must come back at once.
Goal (from the issue): the comparison over 1,000,000 attempts computes in under 1 s on this machine.

How the database is built: replaying a million attempts would take minutes and measure the replay,
not the analysis, so the rows are generated directly with DuckDB SQL (``INSERT ... SELECT ... FROM
range(...)``) into a file created by ``TraceStore`` (real schema, real migrations). Four designs over
the same ``--requests`` request ids (same traffic hash and seed, as ``compare_runs`` demands): all to
gpt-4o, a 75/25 gpt-4o-mini/gpt-4o split with fallbacks, all to gpt-4o-mini, and a classifier that
pays a gpt-4o-mini call per request before routing hard requests to gpt-4o. Per attempt: retries and
failures (a few percent), tokens and litellm-like prices, start/end times, error kinds; per request:
the aggregate of its attempts (cost, retries, fallbacks, final target, status, latency) and a 0/1
quality drawn per (request, model) from a difficulty-dependent accuracy. The figures are synthetic
and only serve the timing.

Usage::

    python benchmarks/analysis_speed.py                  # 180,000 requests x 4 runs: ~1.02M attempts
    python benchmarks/analysis_speed.py --requests 400000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from workbench.analysis.compare import compare_runs
from workbench.store import TraceStore

GOAL_S = 1.0
RUNS = [  # run_no, scenario, policy
    (0, "bench-all-large", "static"),
    (1, "bench-tiered", "weighted"),
    (2, "bench-all-small", "static"),
    (3, "bench-classifier", "classifier"),
]

_SETUP_SQL = """
CREATE TEMP TABLE models AS SELECT * FROM (VALUES
    ('large', 'gpt-4o', 2.5e-6, 1.0e-5, 80.0, 0.95, 0.75),
    ('small', 'gpt-4o-mini', 1.5e-7, 6.0e-7, 110.0, 0.93, 0.35),
    ('router', 'gpt-4o-mini', 1.5e-7, 6.0e-7, 110.0, 0.93, 0.35)
) m(target, model, p_in, p_out, tps, q_easy, q_hard);
CREATE TEMP TABLE traffic AS
SELECT i, 'q' || lpad(CAST(i AS VARCHAR), 8, '0') AS request_id,
       (hash(i, 'difficulty') % 1000000) / 1e6 AS difficulty,
       ['billing', 'account', 'technical', 'refund', 'outage'][CAST(1 + hash(i, 'cat') % 5 AS INTEGER)] AS category,
       i * 0.25 AS arrival_s, CAST(40 + hash(i, 'ptok') % 900 AS BIGINT) AS ptok,
       CAST(60 + hash(i, 'ctok') % 400 AS BIGINT) AS ctok
FROM range(?) t(i);
CREATE TEMP TABLE plan AS
SELECT t.*, d.run_no, d.run_id, d.policy,
       CASE d.run_no WHEN 0 THEN 'large' WHEN 2 THEN 'small'
            WHEN 1 THEN CASE WHEN (hash(i, 'w') % 1000) < 750 THEN 'small' ELSE 'large' END
            ELSE CASE WHEN difficulty >= 0.6 THEN 'large' ELSE 'small' END END AS route,
       CAST(d.run_no = 3 AS INTEGER) AS has_route,
       1 + CAST((hash(i, d.run_no, 'n') % 1000) < 120 AS INTEGER)
         + CAST((hash(i, d.run_no, 'n') % 1000) < 40 AS INTEGER) AS n_ans,
       (hash(i, d.run_no, 'f') % 1000) < 10 AS all_fail
FROM traffic t CROSS JOIN run_list d;
"""

_ATTEMPTS_SQL = """
INSERT INTO attempts (run_id, request_id, attempt_no, target, model, provider, is_retry, is_fallback,
                      start_s, end_s, wait_s, ok, error_kind, retry_after_s, prompt_tokens,
                      completion_tokens, cost_usd, score, purpose)
WITH raw AS (
    SELECT p.*, k,
           CASE WHEN k = 3 AND run_no = 1 THEN CASE route WHEN 'small' THEN 'large' ELSE 'small' END
                ELSE route END AS target,
           k = n_ans AND NOT all_fail AS ok
    FROM plan p, unnest(range(1, n_ans + 1)) u(k)
), answers AS (
    SELECT r.run_id, r.request_id, k + has_route AS attempt_no, r.target, m.model,
           k > 1 AND r.target = route AS is_retry,
           r.target <> route AS is_fallback, arrival_s + has_route * 0.6 + (k - 1) * 1.5 AS start_s,
           CASE WHEN ok THEN 0.35 + ctok / m.tps ELSE 0.5 END AS dur, ok,
           CASE WHEN ok THEN NULL WHEN all_fail AND k = n_ans THEN 'timeout'
                WHEN hash(i, run_no, k) % 3 = 0 THEN 'rate_limit' ELSE 'server_error' END AS error_kind,
           CASE WHEN ok THEN ptok ELSE 0 END AS ptok, CASE WHEN ok THEN ctok ELSE 0 END AS ctok,
           CASE WHEN ok THEN ptok * m.p_in + ctok * m.p_out ELSE 0 END AS cost_usd,
           CASE WHEN ok THEN CAST((hash(i, r.target, 'q') % 1000) / 1000.0
                < m.q_easy + (m.q_hard - m.q_easy) * difficulty AS DOUBLE) END AS score, 'answer' AS purpose
    FROM raw r JOIN models m ON m.target = r.target
)
SELECT run_id, request_id, attempt_no, target, model, 'simulated', is_retry, is_fallback, start_s,
       start_s + dur, 0.0, ok, error_kind, CASE WHEN error_kind = 'rate_limit' THEN 1.0 END, ptok, ctok,
       cost_usd, score, purpose FROM answers
UNION ALL
SELECT run_id, request_id, 1, 'router', 'gpt-4o-mini', 'simulated', false, false, arrival_s, arrival_s + 0.6,
       0.0, true, NULL, NULL, ptok + 20, 2, (ptok + 20) * 1.5e-7 + 2 * 6.0e-7, NULL, 'route'
FROM plan WHERE has_route = 1
"""

_REQUESTS_SQL = """
INSERT INTO requests (run_id, seq, request_id, category, difficulty, arrival_s, start_s, end_s, latency_s,
                      policy, route, reason, decision_score, final_target, status, error_kind, attempts,
                      retries, fallbacks, handoff, prompt_tokens, completion_tokens, cost_usd, quality,
                      response, escalations, skips)
WITH agg AS (
    SELECT run_id, request_id, count(*) AS n, count(*) FILTER (WHERE is_retry) AS retries,
           count(*) FILTER (WHERE is_fallback) AS fallbacks, max(end_s) AS end_s,
           arg_max(target, attempt_no) AS last_target, arg_max(ok, attempt_no) AS last_ok,
           arg_max(error_kind, attempt_no) AS last_error, arg_max(score, attempt_no) AS last_score,
           sum(prompt_tokens) AS ptok, sum(completion_tokens) AS ctok, sum(cost_usd) AS cost_usd
    FROM attempts GROUP BY run_id, request_id
)
SELECT p.run_id, p.i, p.request_id, p.category, p.difficulty, p.arrival_s, p.arrival_s, a.end_s,
       a.end_s - p.arrival_s, p.policy, p.route, 'synthetic', NULL,
       CASE WHEN a.last_ok THEN a.last_target END, CASE WHEN a.last_ok THEN 'ok' ELSE 'failed' END,
       CASE WHEN a.last_ok THEN NULL ELSE a.last_error END, a.n, a.retries, a.fallbacks, false, a.ptok,
       a.ctok, a.cost_usd, CASE WHEN a.last_ok THEN a.last_score END, NULL, 0, 0
FROM plan p JOIN agg a USING (run_id, request_id)
"""


def build(path: Path, n_requests: int) -> list[str]:
    """Write four runs over the same ``n_requests`` request ids into a new trace file at ``path``."""
    run_ids = [f"{name}-bench" for _, name, _ in RUNS]
    with TraceStore(path) as store:
        con = store.con
        for (_, name, _), rid in zip(RUNS, run_ids, strict=True):
            con.execute("INSERT INTO runs (run_id, scenario, scenario_yaml, scenario_hash, scenario_path, "
                        "traffic_path, traffic_hash, requests_planned, seed, mode, model_modes, workbench_version, "
                        "status, started_at, finished_at, note) "
                        "VALUES (?, ?, '{}', ?, NULL, 'synthetic.jsonl', 'synthetic-traffic', "
                        "?, 7, 'simulated', '{}', 'bench', 'completed', now(), now(), 'synthetic benchmark rows')",
                        [rid, name, f"hash-{name}", n_requests])
        values = ", ".join(f"({no}, '{rid}', '{policy}')" for (no, _, policy), rid in zip(RUNS, run_ids, strict=True))
        con.execute(f"CREATE TEMP TABLE run_list AS SELECT * FROM (VALUES {values}) d(run_no, run_id, policy)")
        for statement in filter(str.strip, _SETUP_SQL.split(";")):
            con.execute(statement, [n_requests] if "range(?)" in statement else [])
        con.execute(_ATTEMPTS_SQL)
        con.execute(_REQUESTS_SQL)
        con.execute("CHECKPOINT")
    return run_ids


def main(argv: list[str] | None = None) -> int:
    """Build the database, time ``compare_runs`` and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=180_000, help="request ids per run (4 runs)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="timed calls after the first")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        run_ids = build(path, args.requests)
        build_s = time.perf_counter() - t0
        with TraceStore(path) as store:
            con = store.con
            n_att, n_req = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("attempts", "requests"))
            times = []
            for _ in range(1 + args.repeat):
                t0 = time.perf_counter()
                table = compare_runs(con, run_ids, n_boot=args.n_boot)
                times.append(time.perf_counter() - t0)
        size_mb = os.path.getsize(path) / 1e6
    first, typical = times[0], statistics.median(times[1:]) if len(times) > 1 else times[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"duckdb {duckdb.__version__}, python {platform.python_version()}")
    print(f"trace database: {len(run_ids)} runs x {args.requests:,} request ids = {n_req:,} requests, "
          f"{n_att:,} attempts ({size_mb:.0f} MB), built in {build_s:.1f} s with DuckDB SQL")
    print(f"compare_runs (n_boot={args.n_boot}): first call {first:.3f} s, median of next {args.repeat} "
          f"{typical:.3f} s")
    goal = max(first, typical) < GOAL_S
    print(f"goal < {GOAL_S:.0f} s over >= 1,000,000 attempts: "
          f"{'MET' if goal and n_att >= 1_000_000 else 'NOT MET'}"
          f"{'' if n_att >= 1_000_000 else ' (fewer than 1,000,000 attempts: raise --requests)'}")
    cols = ["scenario", "cost_per_1k_usd", "d_cost_per_1k_lo", "d_cost_per_1k_hi", "quality",
            "d_quality_lo", "d_quality_hi", "strong_share"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
