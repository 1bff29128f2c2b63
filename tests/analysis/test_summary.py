"""Run summaries: every figure recomputed by hand from the tables it claims to summarise."""

from __future__ import annotations

import json

import duckdb
import pytest
from helpers import run, table

from workbench.analysis import format_comparison
from workbench.analysis.summary import RunInfo

TEXT = """
name: a
seed: 5
fleet:
  big: {model: gpt-4o, sim: {error_rates: {server_error: 0.2}}}
  small: {model: gpt-4o-mini, sim: {error_rates: {server_error: 0.2}}}
humans: {desk: {agents: 3, handling_time_s: 60, cost_per_request_usd: 1.0}}
router: {policy: weighted, params: {weights: {big: 1, small: 2}}}
retries: {max_retries: 1, backoff_s: 0.5}
fallbacks: {big: [{to: small, errors: [server_error]}], small: [{to: desk, errors: [server_error]}]}
budget: {max_usd: 0.5, on_exceed: reject}
graders: [{type: exact}]
traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 2}}
"""


def test_summary_reads_the_run_row_by_column_name(scenario_file, db):
    rid, s = run(scenario_file(TEXT, n=20), db)
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [rid])
        runs_row = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
    for field in RunInfo._fields:  # each field is a column of runs, and the summary shows its value
        expected = json.loads(runs_row[field]) if field == "model_modes" else runs_row[field]
        assert s[field] == expected, field
    assert (s["scenario"], s["seed"], s["mode"], s["status"], s["requests_planned"]) == ("a", 5, "simulated",
                                                                                       "completed", 20)
    assert s["model_modes"] == {"big": "simulated", "small": "simulated"}


def test_summary_matches_the_tables(scenario_file, db):
    rid, s = run(scenario_file(TEXT, n=500), db)
    req, att = table(db, "requests", rid), table(db, "attempts", rid)
    n = len(req)
    assert s["requests"] == n == 500
    assert (s["completed"], s["failed"], s["rejected"]) == tuple((req.status == k).sum()
                                                                 for k in ("ok", "failed", "rejected"))
    assert s["rejected"] > 0 and s["handoff_rate"] > 0 and s["fallback_rate"] > 0
    judged = req[req.quality.notna() | (req.status != "ok")]
    assert s["quality"] == pytest.approx(judged.quality.fillna(0).mean())
    served = req[req.status != "rejected"].latency_s
    assert s["p50_latency_s"] == pytest.approx(served.quantile(0.5))
    assert s["p95_latency_s"] == pytest.approx(served.quantile(0.95))
    assert s["error_rate"] == pytest.approx((req.status == "failed").mean())
    assert s["retry_rate"] == pytest.approx((req.retries > 0).mean())
    assert s["fallback_rate"] == pytest.approx((req.fallbacks > 0).mean())
    assert s["handoff_rate"] == pytest.approx(req.handoff.mean())
    assert s["cost_per_1k_usd"] == pytest.approx(req.cost_usd.sum() / n * 1000)
    assert s["attempts"] == len(att) and s["attempt_error_rate"] == pytest.approx((~att.ok).mean())
    for target, m in s["by_model"].items():
        mine = att[att.target == target]
        assert m["attempts"] == len(mine) and m["errors"] == (~mine.ok).sum()
        assert m["cost_usd"] == pytest.approx(mine.cost_usd.sum())
        assert m["answered"] == (req.final_target == target).sum()
        assert sum(m["error_kinds"].values()) == m["errors"]
    assert s["by_model"]["desk"]["provider"] == "human"
    assert s["escalation_rate"] == pytest.approx((req.escalations > 0).mean())
    assert s["circuit_skips"] == req.skips.sum()
    assert s["routing_cost_usd"] == att[att.purpose == "route"].cost_usd.sum() == 0


def test_quality_is_null_without_graders(scenario_file, db):
    rid, s = run(scenario_file(TEXT.replace("graders: [{type: exact}]\n", ""), n=50), db)
    assert s["quality"] is None


def test_text_table_shows_every_run_and_metric(scenario_file, tmp_path):
    _, a = run(scenario_file(TEXT, n=100), tmp_path / "x.duckdb")
    _, b = run(scenario_file(TEXT.replace("{big: 1, small: 2}", "{big: 1}"), name="b.yaml"), tmp_path / "x.duckdb")
    text = format_comparison([a, b])
    assert text.count("[simulated]") == 2
    for label in ("cost (USD)", "p95 latency (s)", "error rate", "fallback rate", "hand-off rate", "cost vs first"):
        assert label in text
    assert f"${a['cost_usd']:,.4f}" in text and f"${b['cost_usd']:,.4f}" in text


def test_text_table_splits_the_cost_into_the_parts_spent_on(scenario_file, tmp_path):
    _, a = run(scenario_file(TEXT, n=100), tmp_path / "x.duckdb")
    _, b = run(scenario_file(TEXT.replace("{big: 1, small: 2}", "{big: 1}"), name="b.yaml"), tmp_path / "x.duckdb")
    lines = format_comparison([a, b]).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("cost per 1k requests"))
    spent = [k for k, v in a["cost_breakdown_usd"].items() if v or b["cost_breakdown_usd"][k]]
    assert "input" in spent and "output" in spent and "humans" in spent  # this design hands off to a desk
    assert [line.split("(USD)")[0].strip() for line in lines[at + 1:at + 1 + len(spent)]] == \
        [k.replace("_", " ") for k in spent]  # under the cost, in the breakdown's order, zero parts left out
    row = lines[at + 1 + spent.index("output")]
    assert f"${a['cost_breakdown_usd']['output']:,.4f}" in row and f"${b['cost_breakdown_usd']['output']:,.4f}" in row
    assert not any("batch savings" in line for line in lines)  # no batch tier in either design
