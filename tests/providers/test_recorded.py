"""Recorded replay on RouteLLM's real outcomes: exact identities, what-if prices, misses, labels."""

from __future__ import annotations

import csv
import json
import math

import duckdb
import pytest
from conftest import SCENARIOS, routellm_dir
from helpers import run, table

from workbench.analysis.routing import oracle, routing_curve
from workbench.errors import InputError, ScenarioError
from workbench.policies.learned import cross_fitted_scores
from workbench.runner import prepare
from workbench.store.outcomes import OutcomeStore

MIX = "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"
GPT = "gpt-4-1106-preview"


def share_true(path, column: str) -> float:
    """The share of True in one model's column, straight from RouteLLM's CSV files."""
    files = [path] if path.is_file() else sorted(path.glob("mmlu_*.csv"))
    n = ok = 0
    csv.field_size_limit(1 << 30)
    for f in files:
        with f.open(newline="") as fh:
            for row in csv.DictReader(fh):
                n += 1
                ok += row[column] == "True"
    return ok / n


GSM = routellm_dir() / "gsm8k" / "gsm8k_responses.csv"
MMLU = routellm_dir() / "mmlu"


@pytest.mark.parametrize("bench,src", [("gsm8k", GSM), ("mmlu", MMLU)])
def test_always_one_model_quality_is_exactly_its_recorded_accuracy(routellm_env, tmp_path, bench, src):
    for variant, column in (("strong", GPT), ("weak", "mistralai/Mixtral-8x7B-Instruct-v0.1")):
        rid, s = run(SCENARIOS / f"{bench}-{variant}.yaml", tmp_path / "t.duckdb")
        assert s["mode"] == "recorded" and s["failed"] == 0
        assert s["quality"] == pytest.approx(share_true(src, column), abs=1e-12)
    # and the figures RouteLLM publishes for the pair (GSM8K: 85.7% vs 63.8%)
    if bench == "gsm8k":
        assert round(share_true(src, GPT), 3) == 0.857


def test_oracle_bounds_every_policy_and_random_recovers_half_the_gap(routellm_env, tmp_path):
    with OutcomeStore("routellm-gsm8k") as ds:
        matrix = ds.matrix()
    best = oracle(matrix)
    q = {}
    for variant in ("strong", "weak", "random", "threshold", "cascade"):
        _, s = run(SCENARIOS / f"gsm8k-{variant}.yaml", tmp_path / "t.duckdb")
        q[variant] = s["quality"]
        assert s["quality"] <= best["quality"] + 1e-12, variant
    n = 1319
    # random at p = 0.5: quality = weak + 0.5 * gap, within 3 binomial standard deviations of the mix
    sd = math.sqrt(0.5 * 0.5 / n)  # the share routed strong varies; each routed answer is recorded
    gap = q["strong"] - q["weak"]
    assert abs(q["random"] - (q["weak"] + 0.5 * gap)) < 3 * sd
    assert best["quality"] > q["strong"] > q["cascade"] > q["weak"]
    assert best["cost_usd"] < matrix[matrix.model == GPT].cost_usd.sum()


def test_threshold_run_equals_the_offline_curve_at_its_share(routellm_env, tmp_path):
    rid, s = run(SCENARIOS / "gsm8k-threshold.yaml", tmp_path / "t.duckdb")
    prep = prepare(SCENARIOS / "gsm8k-threshold.yaml")
    with OutcomeStore("routellm-gsm8k") as ds:
        matrix = ds.matrix()
        weak = ds.answers(MIX)
    from workbench.traffic import prompt_key

    keys = [prompt_key(r) for r in prep.requests]
    scores = cross_fitted_scores([r.prompt for r in prep.requests], [weak[k].score for k in keys], folds=5, seed=0)
    import pandas as pd

    curve = routing_curve(matrix, GPT, MIX, pd.Series(scores, index=keys), shares=[0.0, 0.5])
    # The run calibrates the same cut on the same out-of-sample scores; at most one tied prompt differs.
    assert abs(s["quality"] - curve.quality.iloc[1]) <= 1 / 1319 + 1e-12
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as con:
        notes = json.loads(con.execute("SELECT notes FROM runs WHERE run_id = ?", [rid]).fetchone()[0])
    assert any("out-of-fold" in n for n in notes), notes
    # and the leader's report says so, next to the run
    from workbench.analysis.report import build_report

    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as con:
        html = build_report(con, [rid], tmp_path / "r.html").read_text()
    assert "Method notes" in html and "out-of-fold predictions, 5-fold cross-fitting" in html


def test_price_override_reprices_the_same_answers(routellm_env, tmp_path, scenario_file):
    text = (SCENARIOS / "gsm8k-strong.yaml").read_text().replace(
        f"model: {GPT}\n    provider: recorded", f"model: {GPT}\n    provider: recorded\n"
        "    price: {input_per_mtok: 1.0, output_per_mtok: 2.0}")
    path = tmp_path / "cheap.yaml"
    path.write_text(text)
    rid, s = run(path, tmp_path / "t.duckdb")
    assert s["cost_usd"] == pytest.approx((s["prompt_tokens"] * 1.0 + s["completion_tokens"] * 2.0) / 1e6)
    _, base = run(SCENARIOS / "gsm8k-strong.yaml", tmp_path / "t.duckdb")
    assert base["quality"] == s["quality"] and base["prompt_tokens"] == s["prompt_tokens"]
    assert base["cost_usd"] == pytest.approx((base["prompt_tokens"] * 10 + base["completion_tokens"] * 30) / 1e6)


def test_a_miss_stops_before_anything_is_written_or_is_simulated_and_labelled(routellm_env, tmp_path):
    text = (SCENARIOS / "gsm8k-strong.yaml").read_text().replace(f"model: {GPT}", "model: gpt-4o", 1)
    path = tmp_path / "miss.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        prepare(path)
    msg = str(err.value)
    assert "miss.yaml" in msg and "fleet.strong.model" in msg and "1,319 of 1,319" in msg
    path.write_text(text.replace("provider: recorded\n", "provider: recorded\n    recorded: {on_miss: simulate}\n", 1))
    rid, s = run(path, tmp_path / "t.duckdb", requests=40)
    att = table(tmp_path / "t.duckdb", "attempts", rid)
    strong = att[att.target == "strong"]
    assert len(strong) >= 40 and (strong.provider == "simulated").all()
    assert s["mode"] == "recorded"


def test_a_missing_dataset_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(InputError) as err:
        prepare(SCENARIOS / "gsm8k-strong.yaml")
    assert "dataset 'routellm-gsm8k' not found" in str(err.value)
    assert "workbench datasets import routellm" in str(err.value)
    assert not (tmp_path / "empty").exists()  # nothing written
