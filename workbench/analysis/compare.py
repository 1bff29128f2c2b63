"""Comparing runs over identical traffic: the side-by-side table, intervals, frontier, breakdowns.

Why it is built this way: a comparison only means something when every run saw the same requests, so
:func:`compare_runs` refuses runs that were not replayed over identical traffic (traffic file hash,
seed, request ids) and names what differs. Per-run figures are :func:`run_summary`'s, never
recomputed here; this module adds what needs several runs at once: deltas against a baseline, paired
bootstrap intervals on them, the cost-quality frontier, and per-target, per-bucket and per-category
breakdowns for charts. Aggregation is DuckDB SQL over the trace tables; numpy only resamples and
pandas only shapes results, so a million attempts compare in well under a second.

Paired bootstrap: requests are resampled with replacement, the same draw for both runs, and each
run's figure is recomputed on the draw with summary's definition (a failed or rejected request scores
0, an answer no grader could judge is left out of that run's quality). A request judged in one run
and unjudged in the other counts in the first run's mean only, so the point estimate equals the
difference of the two summaries. Intervals are 2.5/97.5 percentiles. Exact resampling costs
requests x resamples draws (seconds for a million-attempt comparison), so above ``_EXACT_LIMIT``
the draw is made per stratum (pairs grouped by their two quality scores and by cost-delta
quantile, about ``_STRATA`` strata): the number of draws per stratum is multinomial, as in exact
resampling, and the sum of a stratum's draws comes from its normal limit with the stratum's exact
mean and covariance. ``tests/analysis/test_compare.py`` checks it against exact resampling.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd

from workbench.analysis import provenance
from workbench.analysis.summary import REQUEST_QUALITY, run_summary

__all__ = ["compare_runs", "paired_bootstrap", "frontier", "strong_targets", "failure_timeline",
           "failure_breakdown", "cost_breakdown", "quality_by_category", "latency_samples",
           "monthly_projection", "DAYS_PER_MONTH"]

#: Average days in a month of the Gregorian calendar (365.25 / 12), used by the projection.
DAYS_PER_MONTH = 30.4375

_EXACT_LIMIT = 10_000_000  # requests x resamples resampled exactly (about 0.2 s); above: strata
_STRATA = 128
_RUNS = "run_id IN (SELECT unnest(?::VARCHAR[]))"
_ORDER = "list_position(?::VARCHAR[], run_id)"
_DELTAS = ("d_cost_per_1k_usd", "d_cost_per_1k_lo", "d_cost_per_1k_hi", "d_quality", "d_quality_lo",
           "d_quality_hi")
_REQ_QUALITY = REQUEST_QUALITY  # the one definition, in summary.py
_NICE_BUCKETS_S = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
                   10800, 21600, 43200, 86400)

_STRONG_SQL = f"""
WITH price AS (
    SELECT model, sum(cost_usd) / sum(prompt_tokens + completion_tokens) AS usd_per_token
    FROM attempts
    WHERE {_RUNS} AND coalesce(purpose, 'answer') NOT IN ('route', 'judge', 'retrieval', 'tool', 'lookup')
      AND ok AND provider <> 'human'
    GROUP BY model HAVING sum(prompt_tokens + completion_tokens) > 0
), strong AS (
    SELECT model FROM price ORDER BY usd_per_token DESC, model LIMIT 1
), final AS (
    SELECT run_id, request_id, model FROM attempts
    WHERE {_RUNS} AND ok AND coalesce(purpose, 'answer') NOT IN ('route', 'judge', 'retrieval', 'tool', 'lookup')
    QUALIFY row_number() OVER (PARTITION BY run_id, request_id ORDER BY attempt_no DESC) = 1
)
SELECT r.run_id, (SELECT model FROM strong) AS strong_target,
       count(*) FILTER (WHERE r.status = 'ok' AND f.model = (SELECT model FROM strong))
           / nullif(count(*) FILTER (WHERE r.status = 'ok'), 0) AS strong_share
FROM requests r LEFT JOIN final f USING (run_id, request_id)
WHERE r.{_RUNS} GROUP BY r.run_id
"""

_PAIRS_SQL = f"""
SELECT list_position(?::VARCHAR[], b.run_id) AS pos, a.cost_usd AS cost_a, b.cost_usd AS cost_b,
       coalesce({_REQ_QUALITY.format(p='a.')}, 'NaN'::DOUBLE) AS q_a,
       coalesce({_REQ_QUALITY.format(p='b.')}, 'NaN'::DOUBLE) AS q_b
FROM requests a JOIN requests b ON a.request_id = b.request_id
WHERE a.run_id = ? AND b.{_RUNS} ORDER BY pos, a.seq
"""


def _runs_frame(con: duckdb.DuckDBPyConnection, sql: str, run_ids: list[str], *params) -> pd.DataFrame:
    """Run ``sql`` whose placeholders are (run list, *params, run list for the order)."""
    ids = list(run_ids)
    return con.execute(sql, [ids, *params, ids]).df()


def _counts(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Per run: (requests, graded requests)."""
    rows = con.execute(f"SELECT run_id, count(*), count(quality) FROM requests WHERE {_RUNS} GROUP BY run_id",
                       [list(run_ids)]).fetchall()
    return {rid: (n, graded) for rid, n, graded in rows}


def _pairs(con: duckdb.DuckDBPyConnection, run_a: str, others: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per run in ``others``: its requests joined with ``run_a``'s on request_id, in run_a's order."""
    got = con.execute(_PAIRS_SQL, [others, run_a, others]).fetchnumpy()
    pos = np.asarray(got["pos"])
    cuts = np.searchsorted(pos, np.arange(1, len(others) + 2))
    return {rid: {k: np.asarray(got[k], float)[cuts[i]:cuts[i + 1]] for k in ("cost_a", "cost_b", "q_a", "q_b")}
            for i, rid in enumerate(others)}


def _check_identical_traffic(info: dict, baseline: str, counts: dict, pairs: dict) -> None:
    """Raise ``ValueError`` naming the runs and what differs unless all saw the baseline's traffic.

    Request ids are unique within a run (the store's writer guarantees it), so a run has the
    baseline's ids exactly when the join of the two has as many rows as each of them.
    """
    (base_hash, base_seed), n_base = info[baseline], counts.get(baseline, (0, 0))[0]
    problems = []
    for rid in info:
        diffs = []
        if info[rid][0] != base_hash:
            diffs.append(f"traffic_hash {info[rid][0][:12]} vs {base_hash[:12]}")
        if info[rid][1] != base_seed:
            diffs.append(f"seed {info[rid][1]} vs {base_seed}")
        matched = len(pairs[rid]["cost_a"]) if rid in pairs else n_base
        missing, extra = n_base - matched, counts.get(rid, (0, 0))[0] - matched
        if missing or extra:
            diffs.append(f"request ids ({missing} of the baseline's missing, {extra} not in the baseline)")
        if diffs:
            problems.append(f"{rid} against baseline {baseline}: " + ", ".join(diffs))
    if problems:
        raise ValueError("runs were not replayed over identical traffic: " + "; ".join(problems))


def strong_targets(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """Per run, its strong target and the share of answered requests it answered (see compare_runs)."""
    ids = list(run_ids)
    return con.execute(_STRONG_SQL, [ids, ids, ids]).df().set_index("run_id")


def _validate(con: duckdb.DuckDBPyConnection, run_ids: list[str], baseline: str | None) -> tuple[str, dict]:
    """The baseline and each run's (traffic hash, seed), in order; run ids distinct, known, with it."""
    if not run_ids or len(set(run_ids)) != len(run_ids):
        raise ValueError(f"compare_runs needs distinct run ids, got {run_ids}")
    baseline = run_ids[0] if baseline is None else baseline
    if baseline not in run_ids:
        raise ValueError(f"baseline {baseline} is not one of the compared runs {run_ids}")
    known = {rid: (th, seed) for rid, th, seed in con.execute(
        f"SELECT run_id, traffic_hash, seed FROM runs WHERE {_RUNS}", [run_ids]).fetchall()}
    if unknown := [rid for rid in run_ids if rid not in known]:
        raise KeyError(f"no such run(s): {', '.join(unknown)}")
    return baseline, {rid: known[rid] for rid in run_ids}


def compare_runs(con: duckdb.DuckDBPyConnection, run_ids: list[str], baseline: str | None = None, *,
                 n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per run (in the given order): summary figures, strong share, deltas with 95% intervals.

    Figures are :func:`run_summary`'s. ``strong_share``: share of a run's answered requests (status
    ``ok``) whose final answer came from the strong model, the same for every compared run: the
    litellm model with the highest cost per token observed on successful answer and escalation
    attempts across all the runs (sum of cost over sum of prompt and completion tokens; human nodes
    and router calls excluded; a tie goes to the model name first in alphabetical order). An
    all-gpt-4o-mini run next to an all-gpt-4o run has a share of 0.
    ``d_*`` columns are run minus baseline (NaN on the baseline row), with paired bootstrap 95%
    intervals (:func:`paired_bootstrap`); provenance columns as :func:`workbench.analysis.provenance.annotate`
    adds them. Raises ``ValueError`` unless every run was replayed over
    the baseline's traffic (same traffic hash, seed and request ids), ``KeyError`` for unknown runs.
    """
    run_ids = list(run_ids)
    baseline, info = _validate(con, run_ids, baseline)
    counts = _counts(con, run_ids)
    pairs = _pairs(con, baseline, [rid for rid in run_ids if rid != baseline])
    _check_identical_traffic(info, baseline, counts, pairs)
    strong = strong_targets(con, run_ids)
    keys = ["run_id", "scenario", "mode", "requests", "cost_usd", "cost_per_1k_usd", "quality",
            "p50_latency_s", "p95_latency_s", "p99_latency_s", "error_rate", "fallback_rate",
            "retry_rate", "handoff_rate"]
    base = run_summary(con, baseline)
    rows = []
    for rid in run_ids:
        s = base if rid == baseline else run_summary(con, rid)
        row = {k: s[k] for k in keys}
        row.update(strong_share=strong["strong_share"].get(rid), routing_cost_usd=s["routing_cost_usd"])
        row.update(dict.fromkeys(_DELTAS, math.nan))
        if rid != baseline and len(pairs[rid]["cost_a"]):
            boot = _bootstrap(pairs[rid], counts[baseline][1] > 0 and counts[rid][1] > 0, n_boot, seed)
            row["d_cost_per_1k_usd"] = s["cost_per_1k_usd"] - base["cost_per_1k_usd"]
            row["d_cost_per_1k_lo"], row["d_cost_per_1k_hi"] = boot["cost_per_1k_lo"], boot["cost_per_1k_hi"]
            if boot["quality_delta"] is not None:
                row["d_quality"] = s["quality"] - base["quality"]
                row["d_quality_lo"], row["d_quality_hi"] = boot["quality_lo"], boot["quality_hi"]
        rows.append(row)
    out = pd.DataFrame(rows)
    provenance.annotate(con, out, baseline)  # what each difference rests on (simulated or real answers)
    for col in ("quality", "strong_share"):
        out[col] = pd.to_numeric(out[col]).astype(float)
    return out


def _exact_sums(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Column sums of ``n_boot`` resamples of the rows of ``x`` (indices drawn in blocks)."""
    n = len(x)
    block = max(1, 2_000_000 // n)
    out = np.empty((n_boot, x.shape[1]))
    cols = [np.ascontiguousarray(x[:, j]) for j in range(x.shape[1])]
    for lo in range(0, n_boot, block):
        idx = rng.integers(0, n, size=(min(block, n_boot - lo), n))
        for j, col in enumerate(cols):
            out[lo:lo + len(idx), j] = col[idx].sum(axis=1)
    return out


def _strata_of(x: np.ndarray, strata: int) -> np.ndarray:
    """Stratum of each pair: its two quality scores (excluded, or one of 4 bands) x a cost-delta quantile."""
    def band(q, valid):
        return np.where(valid > 0, 1 + np.clip(np.floor(np.nan_to_num(q) * 4), 0, 3), 0).astype(np.int64)

    qtype = band(x[:, 0], x[:, 1]) * 5 + band(x[:, 2], x[:, 3])
    n_dbins = max(1, strata // int(np.count_nonzero(np.bincount(qtype, minlength=25))))
    edges = np.quantile(x[:, 4], np.linspace(0, 1, n_dbins + 1)[1:-1])
    group = qtype * n_dbins + np.searchsorted(edges, x[:, 4], side="right")
    used = np.bincount(group) > 0
    return (np.cumsum(used) - 1)[group]


def _stratified_sums(x: np.ndarray, n_boot: int, rng: np.random.Generator, strata: int = _STRATA) -> np.ndarray:
    """Column sums of ``n_boot`` resamples, drawn per stratum (see the module docstring)."""
    n, k = x.shape
    g = _strata_of(x, strata)
    sizes = np.bincount(g).astype(float)
    means = np.stack([np.bincount(g, weights=x[:, j]) for j in range(k)], axis=1) / sizes[:, None]
    c = x - means[g]
    cov = np.empty((len(sizes), k, k))
    for i in range(k):
        for j in range(i, k):
            cov[:, i, j] = cov[:, j, i] = np.bincount(g, weights=c[:, i] * c[:, j]) / sizes
    counts = rng.multinomial(n, sizes / n, size=n_boot)
    noise_cov = (counts @ cov.reshape(len(sizes), k * k)).reshape(n_boot, k, k)
    w, v = np.linalg.eigh(noise_cov)
    root = v * np.sqrt(np.clip(w, 0, None))[:, None, :]
    return counts @ means + np.einsum("bij,bj->bi", root, rng.standard_normal((n_boot, k)))


def _resample_sums(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Exact resampling when it is cheap enough, stratified above ``_EXACT_LIMIT``."""
    if len(x) * n_boot <= _EXACT_LIMIT:
        return _exact_sums(x, n_boot, rng)
    return _stratified_sums(x, n_boot, rng)


def _bootstrap(pairs: dict[str, np.ndarray], graded: bool, n_boot: int, seed: int) -> dict:
    """The paired bootstrap of run b minus run a over already joined per-request arrays."""
    n = len(pairs["cost_a"])
    if n_boot < 1 or n == 0:
        raise ValueError(f"a paired bootstrap needs paired requests and n_boot >= 1 (got {n}, {n_boot})")
    qa, qb = pairs["q_a"], pairs["q_b"]
    va, vb = ~np.isnan(qa), ~np.isnan(qb)
    # quality columns first: requests judged alike share a stratum in _stratified_sums
    x = np.column_stack([np.where(va, qa, 0.0), va, np.where(vb, qb, 0.0), vb, pairs["cost_b"] - pairs["cost_a"]])
    sums = np.vstack([x.sum(axis=0), _resample_sums(x, n_boot, np.random.default_rng(seed))])
    cost = sums[:, 4] / n * 1000
    out = {"cost_per_1k_delta": float(cost[0]), "n": n,
           "quality_delta": None, "quality_lo": None, "quality_hi": None}
    out["cost_per_1k_lo"], out["cost_per_1k_hi"] = (float(v) for v in np.percentile(cost[1:], [2.5, 97.5]))
    if graded and va.any() and vb.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            quality = sums[:, 2] / sums[:, 3] - sums[:, 0] / sums[:, 1]
        drawn = quality[1:][~np.isnan(quality[1:])]  # NaN: a draw without any judged request of a run
        out["quality_delta"] = float(quality[0])
        out["quality_lo"], out["quality_hi"] = (float(v) for v in np.percentile(drawn, [2.5, 97.5]))
    return out


def paired_bootstrap(con: duckdb.DuckDBPyConnection, run_a: str, run_b: str, *, n_boot: int = 2000,
                     seed: int = 0) -> dict:
    """Paired bootstrap of run_b minus run_a over their common requests: quality and cost per 1k.

    Returns ``quality_delta``, ``quality_lo``, ``quality_hi`` (None unless both runs have graded
    requests), ``cost_per_1k_delta``, ``cost_per_1k_lo``, ``cost_per_1k_hi`` and ``n`` (pairs).
    """
    pairs = _pairs(con, run_a, [run_b])[run_b]
    if len(pairs["cost_a"]) == 0:
        raise ValueError(f"runs {run_a} and {run_b} have no request id in common")
    counts = _counts(con, [run_a, run_b])
    return _bootstrap(pairs, counts[run_a][1] > 0 and counts[run_b][1] > 0, n_boot, seed)


def frontier(points: pd.DataFrame, cost: str = "cost_per_1k_usd", quality: str = "quality") -> pd.DataFrame:
    """``points`` plus ``dominated`` and ``on_frontier`` (lower cost and higher quality are better).

    A point is dominated when another has cost <= and quality >= with at least one strict; points
    missing either figure are neither dominated nor on the frontier.
    """
    out = points.copy()
    c, q = (pd.to_numeric(out[col]).to_numpy(float) for col in (cost, quality))
    valid = ~(np.isnan(c) | np.isnan(q))
    ci, qi, cj, qj = c[:, None], q[:, None], c[None, :], q[None, :]
    beats = (cj <= ci) & (qj >= qi) & ((cj < ci) | (qj > qi)) & valid[None, :]
    out["dominated"] = beats.any(axis=1) & valid
    out["on_frontier"] = valid & ~out["dominated"].to_numpy()
    return out


def _nice_bucket(raw: float) -> float:
    """The smallest readable bucket width (0.1 s ... 1 day, then whole days) of at least ``raw``."""
    for width in _NICE_BUCKETS_S:
        if width >= raw:
            return float(width)
    return float(86400 * math.ceil(raw / 86400))


def failure_timeline(con: duckdb.DuckDBPyConnection, run_ids: list[str],
                     bucket_s: float | None = None) -> pd.DataFrame:
    """Failed attempts per run, time bucket (by attempt start, from the run's start), target and kind.

    The default bucket is the runs' span (latest attempt start) / 60, rounded up to a readable width
    (1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1 day): at most 60 buckets.
    Only buckets with failures have rows.
    """
    if bucket_s is None:
        (span,) = con.execute(f"SELECT max(start_s) FROM attempts WHERE {_RUNS}", [list(run_ids)]).fetchone() or (0.0,)
        bucket_s = _nice_bucket((span or 0.0) / 60)
    if bucket_s <= 0:
        raise ValueError(f"bucket_s must be positive, got {bucket_s}")
    sql = f"""
    SELECT a.run_id, any_value(ru.scenario) AS scenario, floor(a.start_s / ?) * ? AS bucket_start_s,
           a.target, coalesce(a.error_kind, 'unknown') AS error_kind, count(*) AS attempts
    FROM attempts a JOIN runs ru USING (run_id)
    WHERE a.{_RUNS} AND NOT a.ok GROUP BY a.run_id, bucket_start_s, a.target, 5
    ORDER BY {_ORDER}, bucket_start_s, a.target, error_kind"""
    ids = list(run_ids)
    out = con.execute(sql, [bucket_s, bucket_s, ids, ids]).df()
    out.attrs["bucket_s"] = bucket_s  # the chart draws buckets at their true width
    return out


def failure_breakdown(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """Failed attempts per run, target and error kind; ``share_of_attempts``: of that target's attempts."""
    sql = f"""
    WITH per_target AS (SELECT run_id, target, count(*) AS total FROM attempts WHERE {_RUNS} GROUP BY ALL)
    SELECT a.run_id, any_value(ru.scenario) AS scenario, a.target,
           coalesce(a.error_kind, 'unknown') AS error_kind, count(*) AS attempts,
           count(*) / any_value(t.total) AS share_of_attempts
    FROM attempts a JOIN per_target t USING (run_id, target) JOIN runs ru USING (run_id)
    WHERE NOT a.ok GROUP BY a.run_id, a.target, 4
    ORDER BY {_ORDER}, a.target, attempts DESC, error_kind"""
    return _runs_frame(con, sql, run_ids)


def cost_breakdown(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """Net cost per run, target, model and purpose (answer, route, escalation; humans included)."""
    sql = f"""
    SELECT a.run_id, any_value(ru.scenario) AS scenario, a.target, a.model,
           coalesce(a.purpose, 'answer') AS purpose, sum(a.cost_usd) AS cost_usd, count(*) AS attempts
    FROM attempts a JOIN runs ru USING (run_id)
    WHERE a.{_RUNS} GROUP BY a.run_id, a.target, a.model, 5
    ORDER BY {_ORDER}, cost_usd DESC, a.target, purpose"""
    return _runs_frame(con, sql, run_ids)


def quality_by_category(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """Requests and quality (summary's definition) per run and category ('(none)' when missing).

    Quality is NaN for a run without graded requests, as in :func:`run_summary`.
    """
    sql = f"""
    SELECT r.run_id, any_value(ru.scenario) AS scenario, coalesce(r.category, '(none)') AS category,
           count(*) AS requests,
           CASE WHEN sum(count(r.quality)) OVER (PARTITION BY r.run_id) > 0
                THEN avg({_REQ_QUALITY.format(p='r.')}) END AS quality
    FROM requests r JOIN runs ru USING (run_id)
    WHERE r.{_RUNS} GROUP BY r.run_id, 3
    ORDER BY {_ORDER}, category"""
    out = _runs_frame(con, sql, run_ids)
    out["quality"] = out["quality"].astype(float)
    return out


def latency_samples(con: duckdb.DuckDBPyConnection, run_ids: list[str], limit_per_run: int = 5000) -> pd.DataFrame:
    """At most ``limit_per_run`` requests per run: every k-th in arrival order (deterministic)."""
    if limit_per_run < 1:
        raise ValueError(f"limit_per_run must be at least 1, got {limit_per_run}")
    sql = f"""
    SELECT run_id, scenario, latency_s, status FROM (
        SELECT r.run_id, ru.scenario, r.latency_s, r.status, r.seq,
               row_number() OVER (PARTITION BY r.run_id ORDER BY r.seq) - 1 AS k,
               count(*) OVER (PARTITION BY r.run_id) AS n
        FROM requests r JOIN runs ru USING (run_id) WHERE r.{_RUNS})
    WHERE k % CAST(greatest(1, ceil(n / ?)) AS BIGINT) = 0
    ORDER BY {_ORDER}, seq"""
    return _runs_frame(con, sql, run_ids, limit_per_run)


def monthly_projection(summaries: list[dict], *, requests_per_day: float, growth_per_month: float = 0.0,
                       months: int = 12, baseline: str | None = None,
                       budget_usd_per_month: float | None = None) -> pd.DataFrame:
    """Cost per month per scenario at a given volume, savings against the baseline, budget check.

    Month ``m`` (1..months) has ``requests_per_day x 30.4375 x (1 + growth_per_month)^(m-1)``
    requests (30.4375 = 365.25 / 12 days a month) at the run's cost per request (``cost_usd /
    requests``). ``savings_vs_baseline_usd`` is the baseline's cost minus the run's (positive: the
    run is cheaper). ``baseline`` is a run id or a scenario name (default: the first summary);
    ``over_budget`` is False when no budget is given.
    """
    if not summaries or any(not s["requests"] for s in summaries) or requests_per_day < 0 or months < 1:
        raise ValueError("monthly_projection needs runs with requests, requests_per_day >= 0, months >= 1")
    base = summaries[0] if baseline is None else next(
        (s for s in summaries if baseline in (s["run_id"], s["scenario"])), None)
    if base is None:
        raise ValueError(f"baseline {baseline} is not among the projected runs")
    month = np.arange(1, months + 1)
    volume = requests_per_day * DAYS_PER_MONTH * (1 + growth_per_month) ** (month - 1)
    base_cost = volume * base["cost_usd"] / base["requests"]
    frames = []
    for s in summaries:
        cost = volume * s["cost_usd"] / s["requests"]
        frames.append(pd.DataFrame({
            "scenario": s["scenario"], "run_id": s["run_id"], "month": month, "requests": volume,
            "cost_usd": cost, "savings_vs_baseline_usd": base_cost - cost,
            "over_budget": cost > budget_usd_per_month if budget_usd_per_month is not None else False}))
    return pd.concat(frames, ignore_index=True)
