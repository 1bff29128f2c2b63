"""'No routing needed' among compared runs: named only when a single-model design is at least as good
and no more costly than every other, with figures recomputed from the traces; said in the CLI's text
and --json and in the report; never said when routing pays."""

from __future__ import annotations

import json

import pytest
from conftest import SCENARIOS
from helpers import run, small_wins_scenario, table, wb

from workbench.analysis.compare import compare_runs, paired_bootstrap
from workbench.analysis.fleet import SINGLE_MODEL_SHARE, no_routing_needed
from workbench.store import TraceStore


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """The small-wins designs, an ungraded mini, and support baseline / tiered, all over the demo tickets."""
    folder = tmp_path_factory.mktemp("no-routing")
    db = folder / "t.duckdb"
    runs = {d: run(small_wins_scenario(folder, d), db)[0] for d in ("mini", "w97", "w50", "big")}
    ungraded = tmp_path_factory.mktemp("ungraded")
    runs["ungraded"] = run(small_wins_scenario(ungraded, "mini", graders=False), db)[0]
    runs["baseline"] = run(SCENARIOS / "support-baseline.yaml", db)[0]
    runs["tiered"] = run(SCENARIOS / "support-tiered.yaml", db)[0]
    return db, runs


def _verdict(db, run_ids):
    with TraceStore(db, read_only=True) as st:
        return no_routing_needed(st.con, compare_runs(st.con, run_ids))


def _figures(db, rid) -> tuple[float, float]:
    """(quality, cost per 1k requests) recomputed with pandas: a failed request scores 0."""
    req = table(db, "requests", rid)
    q = req.quality.where(req.status == "ok", 0.0).dropna().mean()
    return float(q), float(req.cost_usd.sum() / len(req) * 1000)


def _single_share(db, rid, model) -> float:
    att = table(db, "attempts", rid)
    att = att[att.purpose.fillna("answer") != "judge"]
    only = att.groupby("request_id").model.agg(lambda m: set(m) == {model})
    return float(only.sum() / len(table(db, "requests", rid)))


def test_a_single_model_design_better_and_cheaper_than_every_other_is_named(sim):
    db, runs = sim
    ids = [runs["w50"], runs["mini"], runs["big"]]
    v = _verdict(db, ids)
    assert v is not None and v["run"] == runs["mini"] and v["model"] == "gpt-4o-mini"
    assert v["share"] == 1.0 == _single_share(db, runs["mini"], "gpt-4o-mini") and v["simulated"] is True
    q_mini, c_mini = _figures(db, runs["mini"])
    with TraceStore(db, read_only=True) as st:
        for a, other in zip(v["against"], (runs["w50"], runs["big"])):
            q, c = _figures(db, other)
            assert a["run"] == other and q_mini > q and c_mini < c  # better and cheaper, from the traces
            assert a["d_quality"] == pytest.approx(q_mini - q) and a["d_cost_per_1k_usd"] == pytest.approx(c_mini - c)
            boot = paired_bootstrap(st.con, other, runs["mini"])
            assert (a["d_quality_lo"], a["d_quality_hi"]) == (boot["quality_lo"], boot["quality_hi"])
    assert v["significant"] == all(a["d_quality_lo"] > 0 for a in v["against"])
    assert v["significant"]  # +0.035 and +0.059 over the demo tickets: the paired intervals exclude zero
    w50 = v["against"][0]
    assert v["reason"].startswith("no routing needed: small-wins-mini (all to gpt-4o-mini) is significantly better "
                                  "and no more costly than every other design compared (quality is simulated); ")
    assert (f"small-wins-w50: quality {w50['d_quality']:+.3f} [95% {w50['d_quality_lo']:+.3f}, "
            f"{w50['d_quality_hi']:+.3f}], cost per 1k {w50['d_cost_per_1k_usd']:+.3f} USD") in v["reason"]


def test_almost_all_traffic_to_one_model_counts_as_a_single_model_design(sim):
    db, runs = sim
    v = _verdict(db, [runs["w97"], runs["w50"], runs["big"]])
    share = _single_share(db, runs["w97"], "gpt-4o-mini")
    assert SINGLE_MODEL_SHARE <= share < 1 and v["run"] == runs["w97"] and v["share"] == pytest.approx(share)
    assert f"small-wins-w97 ({share:.1%} of requests to gpt-4o-mini) is " in v["reason"]


def test_a_lead_within_noise_is_not_called_significant(sim):
    db, runs = sim
    v = _verdict(db, [runs["mini"], runs["w97"]])  # the same draws but on ~3% of the tickets
    a = v["against"][0]
    assert v["run"] == runs["mini"] and a["d_quality_lo"] <= 0 and not v["significant"]
    assert " is at least as good and no more costly " in v["reason"] and "within noise]" in v["reason"]


def test_nothing_is_said_when_routing_pays_or_cannot_be_judged(sim):
    db, runs = sim
    # the single-model baseline is better but dearer, tiered cheaper but worse: routing trades
    assert _verdict(db, [runs["baseline"], runs["tiered"]]) is None
    # w50 beats big on both, but it routes: that is not "no routing needed"
    assert _verdict(db, [runs["w50"], runs["big"]]) is None
    # without a grader the quality is unknown
    assert _verdict(db, [runs["ungraded"], runs["w50"]]) is None
    assert _verdict(db, [runs["mini"]]) is None


def test_cli_text_json_and_report_say_it(tmp_path):
    mini, w50 = (str(small_wins_scenario(tmp_path, d)) for d in ("mini", "w50"))
    db, report = str(tmp_path / "t.duckdb"), tmp_path / "report.html"
    res = wb("compare", w50, mini, "--requests", "120", "--db", db, "--json", "--no-progress",
             "--report", str(report), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    runs = json.loads(res.stdout)
    v = runs[0]["no_routing_needed"]
    assert all(r["no_routing_needed"] == v for r in runs)
    assert v["run"] == runs[1]["run_id"] and v["model"] == "gpt-4o-mini" and v["simulated"] is True
    assert v["reason"].startswith("no routing needed: small-wins-mini (all to gpt-4o-mini) is ")
    assert runs[1]["quality"] > runs[0]["quality"] and runs[1]["cost_usd"] < runs[0]["cost_usd"]
    html = report.read_text()
    assert "<p class=no-routing><b>" + v["reason"] + "</b></p>" in html  # no character in it needs escaping
    text = wb("compare", w50, mini, "--requests", "120", "--db", db, "--no-progress", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "\n" + v["reason"] + "\n" in text.stdout  # same traffic, seed and bootstrap: the same sentence


def test_recorded_always_escalating_cascade_gains_nothing_over_its_strong_model(routellm_env, tmp_path):
    """GSM8K, RouteLLM's real answers: a cascade whose check never passes pays Mixtral and GPT-4 for GPT-4's
    answers, so calling GPT-4 directly is as good (exactly) and cheaper; recorded, so not 'simulated'."""
    cascade = (SCENARIOS / "gsm8k-cascade.yaml").read_text().replace(
        "format: '####\\s*-?[0-9][0-9,.]*\\s*$'", "format: '^NEVER IN AN ANSWER$'")
    assert "NEVER IN AN ANSWER" in cascade
    (tmp_path / "escalate-all.yaml").write_text(cascade.replace("name: gsm8k-cascade", "name: escalate-all"))
    db = tmp_path / "t.duckdb"
    strong = run(SCENARIOS / "gsm8k-strong.yaml", db, requests=300)[0]
    every = run(tmp_path / "escalate-all.yaml", db, requests=300)[0]
    weak = run(SCENARIOS / "gsm8k-weak.yaml", db, requests=300)[0]
    v = _verdict(db, [every, strong])
    a = v["against"][0]
    assert v["run"] == strong and v["model"] == "gpt-4-1106-preview" and v["simulated"] is False
    assert a["d_quality"] == a["d_quality_lo"] == a["d_quality_hi"] == 0.0
    assert a["d_cost_per_1k_usd"] == pytest.approx(_figures(db, strong)[1] - _figures(db, every)[1])
    assert a["d_cost_per_1k_usd"] < 0 and a["d_cost_per_1k_hi"] < 0  # Mixtral's calls, paid for nothing
    assert "is at least as good and no more costly" in v["reason"] and "simulated" not in v["reason"]
    assert "quality +0.000 [95% +0.000, +0.000, no difference], cost per 1k -" in v["reason"]
    assert _verdict(db, [weak, strong]) is None  # the weak model is cheaper, the strong one better
