"""Comparing runs: every column recomputed with pandas from the tables, intervals, frontier, projection."""

from __future__ import annotations

import math
import textwrap

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIOS
from helpers import run, table

from workbench.analysis import compare
from workbench.store import TraceStore

TICKETS = SCENARIOS / "traffic" / "support_tickets.jsonl"
COLUMNS = ["run_id", "scenario", "mode", "requests", "cost_usd", "cost_per_1k_usd", "quality",
           "p50_latency_s", "p95_latency_s", "p99_latency_s", "error_rate", "fallback_rate", "retry_rate",
           "handoff_rate", "strong_share", "routing_cost_usd", "d_cost_per_1k_usd", "d_cost_per_1k_lo",
           "d_cost_per_1k_hi", "d_quality", "d_quality_lo", "d_quality_hi"]
PROVENANCE_COLUMNS = ["d_quality_differing", "d_quality_simulated", "simulated_quality_share", "simulated_cost_share"]

FLEET = """
fleet:
  small: {model: gpt-4o-mini}
  large: {model: gpt-4o, sim: {outages: [{start_s: 29400, end_s: 30300, kind: server_error}]}}
"""
DEMO = {  # name -> router (+ extra keys); all over the demo tickets with seed 42 and the exact grader
    "big": "router: {policy: static, params: {target: large}}\nretries: {max_retries: 2, backoff_s: 1.0}",
    "mini": "router: {policy: static, params: {target: small}}",
    "w50": "router: {policy: weighted, params: {weights: {small: 50, large: 50}}}",
    "w52": "router: {policy: weighted, params: {weights: {small: 52, large: 48}}}",
    "classified": """
        router: {policy: classifier, params: {model: small, routes: {simple: small, complex: large},
                 default: large, truth: {by: difficulty, threshold: 0.5, low: simple, high: complex}}}
        humans: {desk: {agents: 2, handling_time_s: 300, cost_per_request_usd: 2.0}}
        fallbacks: {large: [{to: small, errors: [server_error]}, {to: desk}], small: [{to: desk}]}
        retries: {max_retries: 1, backoff_s: 0.5}""",
}


def _scenario(folder, name: str, body: str, fleet: str = FLEET, graders: bool = True) -> object:
    text = (f"name: {name}\nseed: 42\nconcurrency: 16\n{textwrap.dedent(fleet).strip()}\n"
            f"{textwrap.dedent(body).strip()}\n"
            + ("graders: [{type: exact}]\n" if graders else "")
            + f"traffic: {{source: {TICKETS}, arrival: {{process: recorded, field: arrived_at}}}}\n")
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Runs of the demo tickets in one database: name -> run id (plus a repeat of 'big')."""
    folder = tmp_path_factory.mktemp("compare")
    db = folder / "t.duckdb"
    flaky = FLEET.replace("{model: gpt-4o-mini}", "{model: gpt-4o-mini, sim: {error_rates: {server_error: 0.15}}}")
    runs = {name: run(_scenario(folder, name, body, flaky if name == "classified" else FLEET), db)[0]
            for name, body in DEMO.items()}
    runs["big2"] = run(folder / "big.yaml", db)[0]
    runs["ungraded"] = run(_scenario(folder, "ungraded", DEMO["mini"], graders=False), db)[0]
    return db, runs


@pytest.fixture
def con(demo):
    with TraceStore(demo[0], read_only=True) as store:
        yield store.con


def _strong_model(db, run_ids: list[str]) -> str:
    att = pd.concat([table(db, "attempts", rid) for rid in run_ids])
    paid = att[(att.purpose != "route") & att.ok & (att.provider != "human")]
    tok = paid.groupby("model")[["cost_usd", "prompt_tokens", "completion_tokens"]].sum()
    per_token = (tok.cost_usd / (tok.prompt_tokens + tok.completion_tokens)).sort_index()
    return per_token.idxmax()  # first of the maximal ones in name order


def _strong_share(req: pd.DataFrame, att: pd.DataFrame, strong: str) -> float:
    answers = att[att.ok & (att.purpose != "route")].sort_values("attempt_no").groupby("request_id").model.last()
    ok = req[req.status == "ok"]
    return (ok.request_id.map(answers) == strong).mean()


def _expected_row(db, rid: str, strong: str) -> dict:
    req, att = table(db, "requests", rid), table(db, "attempts", rid)
    with duckdb.connect(str(db), read_only=True) as c:
        scenario, mode = c.execute("SELECT scenario, mode FROM runs WHERE run_id = ?", [rid]).fetchone()
    judged = req[req.quality.notna() | (req.status != "ok")]
    served = req[req.status != "rejected"].latency_s
    return {
        "run_id": rid, "scenario": scenario, "mode": mode, "requests": len(req), "cost_usd": req.cost_usd.sum(),
        "cost_per_1k_usd": req.cost_usd.sum() / len(req) * 1000,
        "quality": judged.quality.fillna(0).mean() if req.quality.notna().any() else math.nan,
        "p50_latency_s": served.quantile(0.5), "p95_latency_s": served.quantile(0.95),
        "p99_latency_s": served.quantile(0.99), "error_rate": (req.status == "failed").mean(),
        "fallback_rate": (req.fallbacks > 0).mean(), "retry_rate": (req.retries > 0).mean(),
        "handoff_rate": req.handoff.mean(), "strong_share": _strong_share(req, att, strong),
        "routing_cost_usd": att[att.purpose == "route"].cost_usd.sum(),
    }


def test_every_column_matches_the_tables(demo, con):
    db, runs = demo
    ids = [runs["big"], runs["classified"], runs["w50"]]
    got = compare.compare_runs(con, ids, baseline=runs["w50"], n_boot=200)
    assert list(got.columns) == COLUMNS + PROVENANCE_COLUMNS and list(got.run_id) == ids
    strong = _strong_model(db, ids)
    assert strong == "gpt-4o"
    expected = pd.DataFrame([_expected_row(db, rid, strong) for rid in ids])
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False, rtol=1e-9)
    classified = got.set_index("run_id").loc[runs["classified"]]
    assert classified.routing_cost_usd > 0 and classified.handoff_rate > 0 and classified.fallback_rate > 0
    assert 0 < classified.strong_share < 1
    base = expected.set_index("run_id").loc[runs["w50"]]
    for _, row in got.iterrows():
        # a simulated run (its human node modelled too): every request's quality is simulated
        assert row.simulated_quality_share == row.simulated_cost_share == 1.0
        if row.run_id == runs["w50"]:
            assert row[COLUMNS[16:]].isna().all() and row.d_quality_differing == row.d_quality_simulated == 0
            continue
        (differ,) = con.execute(
            "SELECT count(*) FROM requests a JOIN requests b USING (request_id) WHERE a.run_id = ? AND b.run_id = ? "
            "AND (CASE WHEN a.status <> 'ok' THEN 0 ELSE a.quality END) IS DISTINCT FROM "
            "(CASE WHEN b.status <> 'ok' THEN 0 ELSE b.quality END)", [runs["w50"], row.run_id]).fetchone()
        assert row.d_quality_differing == row.d_quality_simulated == differ > 0
        assert row.d_cost_per_1k_usd == pytest.approx(row.cost_per_1k_usd - base.cost_per_1k_usd)
        assert row.d_quality == pytest.approx(row.quality - base.quality)
        assert row.d_cost_per_1k_lo <= row.d_cost_per_1k_usd <= row.d_cost_per_1k_hi
        assert row.d_quality_lo <= row.d_quality <= row.d_quality_hi


def test_baseline_defaults_to_the_first_run_and_strong_share_of_one_model(demo, con):
    _, runs = demo
    got = compare.compare_runs(con, [runs["mini"], runs["big"]], n_boot=100).set_index("run_id")
    assert got.loc[runs["mini"]][COLUMNS[16:]].isna().all()
    assert got.loc[runs["big"], "d_cost_per_1k_usd"] > 0
    assert got.strong_share.tolist() == [0.0, 1.0]  # one strong model for all compared runs: gpt-4o
    assert compare.strong_targets(con, [runs["w50"]]).loc[runs["w50"], "strong_target"] == "gpt-4o"
    alone = compare.compare_runs(con, [runs["w50"]])
    assert len(alone) == 1 and alone[COLUMNS[16:]].isna().all(axis=None)


def test_same_scenario_and_seed_gives_zero_with_zero_width(demo, con):
    _, runs = demo
    b = compare.paired_bootstrap(con, runs["big"], runs["big2"])
    assert b["n"] == 370
    assert b["quality_delta"] == b["quality_lo"] == b["quality_hi"] == 0
    assert b["cost_per_1k_delta"] == b["cost_per_1k_lo"] == b["cost_per_1k_hi"] == 0


def test_a_real_difference_excludes_zero_and_a_tiny_one_includes_it(demo, con):
    _, runs = demo
    real = compare.paired_bootstrap(con, runs["big"], runs["mini"])
    assert real["quality_hi"] < 0 and real["cost_per_1k_hi"] < 0
    tiny = compare.paired_bootstrap(con, runs["w50"], runs["w52"])
    assert tiny["quality_lo"] < 0 < tiny["quality_hi"]
    assert tiny["quality_hi"] - tiny["quality_lo"] < real["quality_hi"] - real["quality_lo"]


def test_point_estimates_are_the_summary_differences_and_seeds_repeat(demo, con):
    _, runs = demo
    a, b = runs["w50"], runs["classified"]
    first = compare.paired_bootstrap(con, a, b, n_boot=500, seed=3)
    assert first == compare.paired_bootstrap(con, a, b, n_boot=500, seed=3)
    assert first != compare.paired_bootstrap(con, a, b, n_boot=500, seed=4)
    table = compare.compare_runs(con, [a, b], n_boot=500, seed=3).set_index("run_id").loc[b]
    assert (table.d_quality_lo, table.d_quality_hi) == (first["quality_lo"], first["quality_hi"])
    assert (table.d_cost_per_1k_lo, table.d_cost_per_1k_hi) == (first["cost_per_1k_lo"], first["cost_per_1k_hi"])
    assert first["quality_delta"] == pytest.approx(table.d_quality)
    assert first["cost_per_1k_delta"] == pytest.approx(table.d_cost_per_1k_usd)


def test_quality_is_none_without_graders(demo, con):
    _, runs = demo
    b = compare.paired_bootstrap(con, runs["mini"], runs["ungraded"])
    assert b["quality_delta"] is b["quality_lo"] is b["quality_hi"] is None
    assert b["cost_per_1k_delta"] == 0  # same design, same draws: same cost
    got = compare.compare_runs(con, [runs["mini"], runs["ungraded"]], n_boot=50)
    assert math.isnan(got.quality[1]) and math.isnan(got.d_quality[1]) and not math.isnan(got.d_cost_per_1k_lo[1])


def _pairs(n: int, rng) -> dict[str, np.ndarray]:
    cost_a = rng.lognormal(-6, 1.2, n)
    q_a = (rng.random(n) < 0.85).astype(float)
    q_b = np.where(rng.random(n) < 0.9, q_a, 1 - q_a)
    q_b[rng.random(n) < 0.03] = np.nan  # answered but ungraded in run b
    return {"cost_a": cost_a, "cost_b": cost_a * rng.choice([0.1, 1.0], n, p=[0.7, 0.3]), "q_a": q_a, "q_b": q_b}


def test_stratified_resampling_agrees_with_exact_resampling(monkeypatch):
    pairs = _pairs(8000, np.random.default_rng(1))
    monkeypatch.setattr(compare, "_EXACT_LIMIT", 10**12)
    exact = compare._bootstrap(pairs, True, 3000, 0)
    monkeypatch.setattr(compare, "_EXACT_LIMIT", 0)
    strat = compare._bootstrap(pairs, True, 3000, 0)
    for name in ("quality", "cost_per_1k"):
        width = exact[f"{name}_hi"] - exact[f"{name}_lo"]
        assert width > 0
        assert strat[f"{name}_delta"] == pytest.approx(exact[f"{name}_delta"])
        assert abs(strat[f"{name}_lo"] - exact[f"{name}_lo"]) < 0.1 * width
        assert abs(strat[f"{name}_hi"] - exact[f"{name}_hi"]) < 0.1 * width


def test_frontier_marks_dominated_designs():
    points = pd.DataFrame({"name": list("ABCDEFG"),
                           "cost_per_1k_usd": [1.0, 2.0, 2.0, 3.0, 0.5, 0.1, 2.0],
                           "quality": [0.5, 0.8, 0.7, 0.8, 0.4, None, 0.8]})
    got = compare.frontier(points).set_index("name")
    assert got.dominated.to_dict() == {"A": False, "B": False, "C": True, "D": True, "E": False, "F": False,
                                       "G": False}  # G ties B: neither beats the other
    assert got.on_frontier.to_dict() == {"A": True, "B": True, "C": False, "D": False, "E": True, "F": False,
                                         "G": True}
    assert list(got.columns[:2]) == ["cost_per_1k_usd", "quality"]
    custom = compare.frontier(points.rename(columns={"cost_per_1k_usd": "c", "quality": "q"}), cost="c", quality="q")
    assert custom.dominated.tolist() == got.dominated.tolist()


def test_monthly_projection_by_hand():
    summaries = [{"scenario": "base", "run_id": "r1", "cost_usd": 10.0, "requests": 1000},
                 {"scenario": "cheap", "run_id": "r2", "cost_usd": 4.0, "requests": 1000},
                 {"scenario": "dear", "run_id": "r3", "cost_usd": 30.0, "requests": 2000}]
    got = compare.monthly_projection(summaries, requests_per_day=1000, growth_per_month=0.1, months=3,
                                     budget_usd_per_month=300.0)
    assert list(got.columns) == ["scenario", "run_id", "month", "requests", "cost_usd",
                                 "savings_vs_baseline_usd", "over_budget"]
    row = got.set_index(["scenario", "month"])
    assert row.loc[("base", 1), "requests"] == pytest.approx(30_437.5)
    assert row.loc[("base", 3), "requests"] == pytest.approx(30_437.5 * 1.1 ** 2)
    assert row.loc[("base", 1), "cost_usd"] == pytest.approx(304.375)
    assert row.loc[("cheap", 2), "cost_usd"] == pytest.approx(30_437.5 * 1.1 * 0.004)
    assert row.loc[("cheap", 2), "savings_vs_baseline_usd"] == pytest.approx(30_437.5 * 1.1 * 0.006)
    assert row.loc[("dear", 1), "savings_vs_baseline_usd"] == pytest.approx(-30_437.5 * 0.005)
    assert row.loc[("base", 1), "savings_vs_baseline_usd"] == 0
    assert row.over_budget.to_dict() == {
        ("base", 1): True, ("base", 2): True, ("base", 3): True, ("cheap", 1): False, ("cheap", 2): False,
        ("cheap", 3): False, ("dear", 1): True, ("dear", 2): True, ("dear", 3): True}
    by_name = compare.monthly_projection(summaries, requests_per_day=100, baseline="cheap", months=1)
    assert by_name.set_index("scenario").savings_vs_baseline_usd.to_dict() == pytest.approx(
        {"base": -18.2625, "cheap": 0.0, "dear": -33.48125})
    assert not by_name.over_budget.any()
    with pytest.raises(ValueError, match="nope"):
        compare.monthly_projection(summaries, requests_per_day=1, baseline="nope")


SMALL = """
name: {name}
seed: {seed}
fleet:
  m:
    model: gpt-4o-mini
    sim:
      error_rates: {{server_error: 0, timeout: 0, rate_limit: 0, context_window: 0, content_policy: 0}}
      outages: [{{start_s: 60, end_s: 90, kind: server_error}}]
router: {{policy: static, params: {{target: m}}}}
retries: {{max_retries: 3, backoff_s: 1.0}}
graders: [{{type: exact}}]
traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 2}}}}
"""


def test_mismatched_traffic_is_refused_naming_what_differs(scenario_file, tmp_path, db):
    path = scenario_file(SMALL.format(name="a", seed=1), n=120)
    a, _ = run(path, db)
    b, _ = run(path, db, seed=2)
    c, _ = run(path, db, requests=100)
    other = tmp_path / "other.jsonl"
    other.write_text((tmp_path / "traffic.jsonl").read_text().replace("March", "April"))
    d, _ = run(path, db, traffic=other)
    e, _ = run(path, db)
    with TraceStore(db) as store:
        assert len(compare.compare_runs(store.con, [a, e], n_boot=10)) == 2
        with pytest.raises(ValueError, match=rf"{b} against baseline {a}: seed 2 vs 1") as err:
            compare.compare_runs(store.con, [a, b, e])
        assert "traffic_hash" not in str(err.value) and "request ids" not in str(err.value)
        with pytest.raises(ValueError,
                           match=rf"{c} against baseline {a}: request ids \(20 of the baseline's missing") as err:
            compare.compare_runs(store.con, [a, c])
        assert "0 not in the baseline" in str(err.value)
        with pytest.raises(ValueError, match=rf"{d} against baseline {a}: traffic_hash") as err:
            compare.compare_runs(store.con, [d, a], baseline=a)
        assert "seed" not in str(err.value)
        with pytest.raises(KeyError, match="nope"):
            compare.compare_runs(store.con, [a, "nope"])
        with pytest.raises(ValueError, match="baseline"):
            compare.compare_runs(store.con, [a, e], baseline=b)


def test_failure_timeline_shows_the_outage_only_where_it_is(scenario_file, db):
    rid, s = run(scenario_file(SMALL.format(name="out", seed=3), n=400), db)
    with TraceStore(db) as store:
        got = compare.failure_timeline(store.con, [rid])
        custom = compare.failure_timeline(store.con, [rid], bucket_s=30)
        breakdown = compare.failure_breakdown(store.con, [rid])
    att = table(db, "attempts", rid)
    span = att.start_s.max()
    assert 150 < span < 300  # 400 arrivals at 2/s: so the default bucket is 5 s (span / 60, rounded up)
    assert list(got.columns) == ["run_id", "scenario", "bucket_start_s", "target", "error_kind", "attempts"]
    assert set(got.bucket_start_s) == {60.0, 65.0, 70.0, 75.0, 80.0, 85.0}
    assert set(got.error_kind) == {"server_error"} and got.attempts.sum() == (~att.ok).sum() > 0
    assert custom.set_index("bucket_start_s").attempts.to_dict() == {60.0: (~att.ok).sum()}
    assert breakdown.to_dict("records") == [{
        "run_id": rid, "scenario": "out", "target": "m", "error_kind": "server_error",
        "attempts": (~att.ok).sum(), "share_of_attempts": pytest.approx((~att.ok).mean())}]


def test_breakdowns_match_the_tables(demo, con):
    db, runs = demo
    ids = [runs["classified"], runs["big"]]
    att = pd.concat([table(db, "attempts", rid) for rid in ids])
    req = pd.concat([table(db, "requests", rid) for rid in ids])
    cost = compare.cost_breakdown(con, ids)
    assert list(cost.columns) == ["run_id", "scenario", "target", "model", "purpose", "cost_usd", "attempts"]
    want = att.groupby(["run_id", "target", "model", "purpose"]).agg(cost_usd=("cost_usd", "sum"),
                                                                     attempts=("ok", "size"))
    pd.testing.assert_frame_equal(cost.set_index(["run_id", "target", "model", "purpose"])[["cost_usd", "attempts"]]
                                  .sort_index(), want.sort_index(), check_dtype=False)
    assert {"route", "answer"} <= set(cost.purpose) and "desk" in set(cost.target)
    net = req.groupby("run_id").cost_usd.sum().to_dict()
    assert cost.groupby("run_id").cost_usd.sum().to_dict() == pytest.approx(net)
    assert list(dict.fromkeys(cost.run_id)) == ids

    fails = compare.failure_breakdown(con, ids).set_index(["run_id", "target", "error_kind"])
    failed = att[~att.ok]
    want = failed.groupby(["run_id", "target", "error_kind"]).size()
    assert fails.attempts.sort_index().to_dict() == want.sort_index().to_dict()
    totals = att.groupby(["run_id", "target"]).size()
    shares = (want / totals.reindex(want.index.droplevel(2)).to_numpy()).sort_index()
    assert fails.share_of_attempts.sort_index().to_numpy() == pytest.approx(shares.to_numpy())

    qual = compare.quality_by_category(con, ids + [runs["ungraded"]])
    judged = req.assign(q=np.where(req.status != "ok", 0.0, req.quality))
    want = judged.groupby(["run_id", "category"]).agg(requests=("q", "size"), quality=("q", "mean"))
    mine = qual[qual.run_id.isin(ids)].set_index(["run_id", "category"])[["requests", "quality"]]
    pd.testing.assert_frame_equal(mine.sort_index(), want.sort_index(), check_dtype=False)
    assert qual[qual.run_id == runs["ungraded"]].quality.isna().all()

    lat = compare.latency_samples(con, ids, limit_per_run=100)
    assert list(lat.columns) == ["run_id", "scenario", "latency_s", "status"]
    assert lat.groupby("run_id").size().to_dict() == {rid: 93 for rid in ids}  # every 4th of 370
    first = req[req.run_id == ids[0]].sort_values("seq")
    assert lat[lat.run_id == ids[0]].latency_s.tolist() == first.latency_s.iloc[::4].tolist()
    assert lat.equals(compare.latency_samples(con, ids, limit_per_run=100))
    assert len(compare.latency_samples(con, ids)) == 740
