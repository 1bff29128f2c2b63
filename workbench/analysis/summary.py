"""Per-run summary metrics and the side-by-side text table.

Why every metric lives here and is computed in SQL: the CLI, the app, the notebooks and the report
must show the same number for the same run, so each is defined once, over the stored traces (never
over in-memory counters that a resumed or imported run would not have).

Definitions (a user should be able to recompute each from the tables):

* ``cost_usd``: sum of ``requests.cost_usd`` (= sum of ``attempts.cost_usd``: failed, retried,
  fallback and human attempts included).
* ``quality``: mean grader score over requests that were judged or got no answer; a failed or
  rejected request scores 0, an answer no grader could judge is left out. Null without graders.
* latency percentiles: over requests that were not rejected; a request's latency is from arrival to
  its final answer or failure, so queueing, backoff and fallbacks count.
* ``error_rate``: share of requests that ended without an answer. ``fallback_rate``, ``retry_rate``,
  ``handoff_rate``, ``escalation_rate``: share of requests with at least one fallback, one retry, a
  human answer, or a cascade escalation.
* ``routing_cost_usd`` / ``escalation_cost_usd`` / ``judging_cost_usd``: the part of ``cost_usd``
  spent on calls the policy made to decide (a classifier), on escalated second answers, and on LLM
  judges grading answers; ``cost_breakdown_usd`` / ``batch_savings_usd``: where the money went and
  what the batch tier saved (:mod:`workbench.analysis.money`); ``circuit_skips``: targets skipped
  because their circuit breaker was open (no call made).
* ``provenance``: share of requests per provenance of their quality (logged, recorded, live, judged,
  simulated...: :mod:`workbench.analysis.provenance`).
* ``failures``: failed requests grouped by their last error kind and the target of their last
  attempt, with the count and one stored error message (live calls keep the provider's text).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import duckdb

from workbench.analysis.money import cost_breakdown_usd

__all__ = ["run_summary", "format_comparison", "unreviewed_answers", "RunInfo", "METRIC_LABELS", "REQUEST_QUALITY"]


class RunInfo(NamedTuple):
    """What a run summary takes from the run's own row in ``runs`` (the rest is computed from traces)."""

    scenario: str
    mode: str
    model_modes: str
    """JSON: fleet model -> mode."""
    seed: int
    status: str
    requests_planned: int
    scenario_hash: str
    traffic_hash: str
    traffic_path: str


_INFO_SQL = f"SELECT {', '.join(RunInfo._fields)} FROM runs WHERE run_id = ?"

#: A request's quality, as a SQL expression over ``requests`` (alias prefix ``{p}``, e.g. ``r.``):
#: a failed or rejected request scores 0, an answer no grader judged is NULL (left out of averages).
REQUEST_QUALITY = "CASE WHEN {p}status <> 'ok' THEN 0.0 ELSE {p}quality END"

_RUN_SQL = f"""
SELECT
    count(*)                                              AS requests,
    count(*) FILTER (WHERE status = 'ok')                 AS completed,
    count(*) FILTER (WHERE status = 'failed')             AS failed,
    count(*) FILTER (WHERE status = 'rejected')           AS rejected,
    coalesce(sum(cost_usd), 0)                            AS cost_usd,
    avg({REQUEST_QUALITY.format(p="")})                   AS quality_raw,
    count(quality)                                        AS graded,
    quantile_cont(latency_s, 0.50) FILTER (WHERE status <> 'rejected') AS p50_latency_s,
    quantile_cont(latency_s, 0.95) FILTER (WHERE status <> 'rejected') AS p95_latency_s,
    quantile_cont(latency_s, 0.99) FILTER (WHERE status <> 'rejected') AS p99_latency_s,
    count(*) FILTER (WHERE fallbacks > 0)                 AS with_fallback,
    count(*) FILTER (WHERE retries > 0)                   AS with_retry,
    count(*) FILTER (WHERE handoff)                       AS handoffs,
    count(*) FILTER (WHERE escalations > 0)               AS with_escalation,
    coalesce(sum(skips), 0)                               AS skips,
    coalesce(sum(prompt_tokens), 0)                       AS prompt_tokens,
    coalesce(sum(completion_tokens), 0)                   AS completion_tokens,
    coalesce(max(end_s), 0)                               AS virtual_s
FROM requests WHERE run_id = ?
"""

_MODEL_SQL = """
SELECT a.target, any_value(a.model) AS model, any_value(a.provider) AS provider,
       count(*) AS attempts, count(DISTINCT a.request_id) AS requests,
       count(*) FILTER (WHERE NOT a.ok) AS errors,
       coalesce(sum(a.cost_usd), 0) AS cost_usd,
       coalesce(sum(a.prompt_tokens), 0) AS prompt_tokens,
       coalesce(sum(a.completion_tokens), 0) AS completion_tokens,
       (SELECT count(*) FROM requests r WHERE r.run_id = ? AND r.final_target = a.target) AS answered
FROM attempts a WHERE a.run_id = ?
GROUP BY a.target ORDER BY cost_usd DESC, a.target
"""

_PURPOSE_SQL = """
SELECT purpose, coalesce(sum(cost_usd), 0) FROM attempts WHERE run_id = ? GROUP BY purpose
"""

_KINDS_SQL = """
SELECT target, error_kind, count(*) FROM attempts
WHERE run_id = ? AND NOT ok GROUP BY ALL ORDER BY ALL
"""


_FAILURES_SQL = """
WITH last AS (
    SELECT request_id, arg_max(target, attempt_no) AS target, arg_max(model, attempt_no) AS model,
           arg_max(error_message, attempt_no) AS message
    FROM attempts WHERE run_id = ? GROUP BY request_id)
SELECT coalesce(r.error_kind, 'unknown') AS error_kind, l.target, l.model, count(*) AS requests,
       min(l.message) AS message
FROM requests r LEFT JOIN last l USING (request_id)
WHERE r.run_id = ? AND r.status = 'failed'
GROUP BY ALL ORDER BY requests DESC, error_kind, l.target
"""


def unreviewed_answers(con: duckdb.DuckDBPyConnection, run_id: str, answer: str) -> int:
    """Requests of the run whose final answer is ``answer`` (case and spaces aside) and no human gave:
    e.g. machine declines in a design that must put a person before every decline."""
    (n,) = con.execute("SELECT count(*) FROM requests WHERE run_id = ? AND status = 'ok' AND NOT handoff "
                       "AND lower(trim(response)) = lower(trim(?))", [run_id, answer]).fetchone() or (0,)
    return n


def _rate(n: int, d: int) -> float:
    return n / d if d else 0.0


def _provenance(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, float]:
    from workbench.analysis.provenance import run_shares  # it reads REQUEST_QUALITY from here

    return run_shares(con, run_id)


_DEADLINE_SQL = """
SELECT count(*) FILTER (WHERE deadline_s IS NOT NULL),
       count(*) FILTER (WHERE deadline_s IS NOT NULL AND (status <> 'ok' OR latency_s > deadline_s))
FROM requests WHERE run_id = ?"""


def run_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """The headline figures of one run, as a JSON-ready dict (see the module docstring)."""
    found = con.execute(_INFO_SQL, [run_id]).fetchone()
    if found is None:
        raise KeyError(run_id)
    info = RunInfo(*found)
    cur = con.execute(_RUN_SQL, [run_id])
    row = dict(zip([d[0] for d in cur.description], cur.fetchone() or (), strict=True))  # one row
    n = row["requests"]
    kinds: dict[str, dict[str, int]] = {}
    for target, kind, count in con.execute(_KINDS_SQL, [run_id]).fetchall():
        kinds.setdefault(target, {})[kind] = count
    cost_by_purpose = dict(con.execute(_PURPOSE_SQL, [run_id]).fetchall())
    # batch lanes: requests with a deadline, and those answered late or not at all (workbench/replay/batching.py)
    deadlines = con.execute(_DEADLINE_SQL, [run_id]).fetchone() or (0, 0)
    breakdown, batch_savings = cost_breakdown_usd(con, run_id)
    by_model = {}
    attempts = errors = 0
    for t, model, provider, att, reqs, errs, cost, ptok, ctok, answered in con.execute(
            _MODEL_SQL, [run_id, run_id]).fetchall():
        attempts += att
        errors += errs
        by_model[t] = {"model": model, "provider": provider, "requests": reqs, "attempts": att,
                       "answered": answered, "errors": errs, "error_kinds": kinds.get(t, {}),
                       "cost_usd": cost, "prompt_tokens": ptok, "completion_tokens": ctok}
    return {
        "run_id": run_id, "scenario": info.scenario, "mode": info.mode, "model_modes": json.loads(info.model_modes),
        "seed": info.seed, "status": info.status, "requests_planned": info.requests_planned,
        "scenario_hash": info.scenario_hash, "traffic_hash": info.traffic_hash, "traffic_path": info.traffic_path,
        "requests": n, "completed": row["completed"], "failed": row["failed"], "rejected": row["rejected"],
        "cost_usd": row["cost_usd"], "cost_per_1k_usd": _rate(row["cost_usd"], n) * 1000,
        "quality": row["quality_raw"] if row["graded"] else None,
        "p50_latency_s": row["p50_latency_s"], "p95_latency_s": row["p95_latency_s"],
        "p99_latency_s": row["p99_latency_s"],
        "error_rate": _rate(row["failed"], n), "fallback_rate": _rate(row["with_fallback"], n),
        "retry_rate": _rate(row["with_retry"], n), "handoff_rate": _rate(row["handoffs"], n),
        "escalation_rate": _rate(row["with_escalation"], n), "circuit_skips": row["skips"],
        "routing_cost_usd": cost_by_purpose.get("route", 0.0),
        "escalation_cost_usd": cost_by_purpose.get("escalation", 0.0),
        "judging_cost_usd": cost_by_purpose.get("judge", 0.0),
        "cost_breakdown_usd": breakdown, "batch_savings_usd": batch_savings,
        "attempts": attempts, "attempt_error_rate": _rate(errors, attempts),
        "prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"],
        "virtual_s": row["virtual_s"], "by_model": by_model, "provenance": _provenance(con, run_id),
        "deadline_requests": deadlines[0], "deadline_misses": deadlines[1],
        "failures": [dict(zip(("error_kind", "target", "model", "requests", "message"), f, strict=True))
                     for f in con.execute(_FAILURES_SQL, [run_id, run_id]).fetchall()],
    }


#: Rows of the side-by-side table: key, label, format.
METRIC_LABELS = [
    ("requests", "requests", "{:,}"),
    ("completed", "answered", "{:,}"),
    ("failed", "failed", "{:,}"),
    ("rejected", "rejected (budget)", "{:,}"),
    ("cost_usd", "cost (USD)", "${:,.4f}"),
    ("cost_per_1k_usd", "cost per 1k requests", "${:,.3f}"),
    ("quality", "quality (0-1)", "{:.3f}"),
    ("p50_latency_s", "p50 latency (s)", "{:.2f}"),
    ("p95_latency_s", "p95 latency (s)", "{:.2f}"),
    ("p99_latency_s", "p99 latency (s)", "{:.2f}"),
    ("error_rate", "error rate", "{:.2%}"),
    ("fallback_rate", "fallback rate", "{:.2%}"),
    ("retry_rate", "retry rate", "{:.2%}"),
    ("handoff_rate", "hand-off rate", "{:.2%}"),
    ("escalation_rate", "escalation rate", "{:.2%}"),
    ("routing_cost_usd", "router calls (USD)", "${:,.4f}"),
    ("circuit_skips", "circuit-open skips", "{:,}"),
    ("attempts", "provider attempts", "{:,}"),
    ("attempt_error_rate", "failed attempts", "{:.2%}"),
]


def _fmt(fmt: str, v) -> str:
    return "n/a" if v is None else fmt.format(v)


def _delta(d: dict | None, key: str, fmt: str) -> str:
    if not d or d.get(key) is None:
        return "-"
    stem = key.removesuffix("_usd")
    return f"{fmt.format(d[key])} [{fmt.format(d[stem + '_lo'])}, {fmt.format(d[stem + '_hi'])}]"


def _provenance_text(shares: dict[str, float]) -> str:
    return " ".join(f"{p} {v:.0%}" for p, v in shares.items())


def _money_rows(summaries: list[dict]) -> list[tuple[str, list[str]]]:
    """Where the money went (``cost_breakdown_usd``), one row per part any run spent on, and the batch
    tier's saving when a run has one."""
    keys = next((list(s["cost_breakdown_usd"]) for s in summaries if s.get("cost_breakdown_usd")), [])
    parts = [k for k in keys if any((s.get("cost_breakdown_usd") or {}).get(k) for s in summaries)]
    rows = [(f"  {k.replace('_', ' ')} (USD)", [_fmt("${:,.4f}", (s.get("cost_breakdown_usd") or {}).get(k, 0.0))
                                               for s in summaries]) for k in parts]
    if any(s.get("batch_savings_usd") for s in summaries):
        rows.append(("  batch savings (USD)", [_fmt("${:,.4f}", s.get("batch_savings_usd", 0.0)) for s in summaries]))
    return rows


def format_comparison(summaries: list[dict]) -> str:
    """Runs side by side as a plain-text table (first run = reference for the changes)."""
    rows: list[tuple[str, list[str]]] = [("", [s["scenario"] for s in summaries]),
                                         ("", [f"[{s['mode']}]" for s in summaries])]
    rows += [(label, [_fmt(fmt, s[key]) for s in summaries]) for key, label, fmt in METRIC_LABELS]
    if any(s.get("judging_cost_usd") for s in summaries):  # only designs with an LLM judge pay for one
        rows.insert(-3, ("judge calls (USD)", [_fmt("${:,.4f}", s.get("judging_cost_usd")) for s in summaries]))
    at = next(i for i, (label, _) in enumerate(rows) if label == "cost per 1k requests") + 1
    rows[at:at] = _money_rows(summaries)  # the parts of the cost, under it
    if any(s.get("deadline_requests") for s in summaries):  # only designs with a batch lane set deadlines
        rows.append(("deadline misses", [f"{s.get('deadline_misses', 0):,} of {s.get('deadline_requests', 0):,}"
                                         for s in summaries]))
    base = summaries[0]["cost_usd"]
    if len(summaries) > 1 and base:
        rows.append(("cost vs first", [f"{(s['cost_usd'] - base) / base:+.1%}" for s in summaries]))
    paired = any(s.get("vs_baseline") for s in summaries)  # added by compare.compare_runs
    if paired:
        rows.append(("strong-model share", [_fmt("{:.1%}", s.get("strong_share")) for s in summaries]))
        for key, label, fmt in (("d_cost_per_1k_usd", "Δ cost/1k vs first", "{:+.3f}"),
                                ("d_quality", "Δ quality vs first", "{:+.3f}")):
            rows.append((label, [_delta(s.get("vs_baseline"), key, fmt) for s in summaries]))
    if any(set(s.get("provenance") or {}) - {s["mode"]} for s in summaries):  # a mix: say it per run
        rows.insert(2, ("quality from", [_provenance_text(s.get("provenance") or {}) for s in summaries]))
    width = max(14, *(len(c) for _, cells in rows for c in cells)) + 2
    lab = max(len(label) for label, _ in rows) + 2
    lines = [label.ljust(lab) + "".join(c.rjust(width) for c in cells) for label, cells in rows]
    if paired:
        lines.append("  (Δ: run minus first run [95% paired bootstrap interval])")
        lines += [f"  {s['scenario']}: Δ quality is not evidence: more than 5% of the requests where it differs "
                  "have simulated quality" for s in summaries
                  if (s.get("vs_baseline") or {}).get("quality_rests_on_simulation")]
    if verdict := summaries[0].get("no_routing_needed"):  # added by fleet.no_routing_needed
        lines += ["", verdict["reason"]]
    lines.append("")
    for s in summaries:
        lines.append(f"{s['scenario']} ({s['run_id']}) by target:")
        for t, m in s["by_model"].items():
            kinds = ", ".join(f"{k} {n}" for k, n in m["error_kinds"].items()) or "none"
            lines.append(f"  {t:<14} {m['model']:<34} {m['requests']:>7,} req {m['answered']:>7,} answered "
                         f"${m['cost_usd']:>10,.4f}  errors {m['errors']:,} ({kinds})")
    return "\n".join(lines)
