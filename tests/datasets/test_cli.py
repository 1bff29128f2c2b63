"""``workbench datasets``: list, info, import, eval, as a user runs them; errors are one line, exit 2."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import routellm_dir
from helpers import wb

from workbench.cli import main

GPT = "gpt-4-1106-preview"
MIX = "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"


def out(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_list_and_info(routellm_env, capsys):
    text = out(capsys, "datasets", "list")
    assert "routellm-gsm8k" in text and "1,319" in text and "routellm-mmlu" in text and "14,042" in text
    listed = json.loads(out(capsys, "datasets", "list", "--json"))
    assert {d["name"]: d["prompts"] for d in listed} == {"routellm-gsm8k": 1319, "routellm-mmlu": 14042}
    info = json.loads(out(capsys, "datasets", "info", "routellm-gsm8k", "--json"))
    q = {m["model"]: m["quality"] for m in info["models"]}
    assert q == {GPT: 1130 / 1319, MIX: 842 / 1319} and info["prompts"] == 1319 and info["categories"] == 1
    gpt = next(m for m in info["models"] if m["model"] == GPT)
    assert gpt["answers"] == 1319 and gpt["cost_usd"] == pytest.approx(
        (87024 * 10 + 163478 * 30) / 1e6)  # summed tokens x $10 / $30 per million
    text = out(capsys, "datasets", "info", "routellm-mmlu")
    assert text.startswith("routellm-mmlu: 14,042 prompts in 57 categories, 2 models")
    assert "0.8058" in text and "0.6808" in text and "ASSUMED to be 1" in text
    assert "RouteLLM (lm-sys/RouteLLM, Apache-2.0)" in text and "$10 / $30 (litellm)" in text


def test_eval_reports_oracle_random_and_the_out_of_sample_learned_scorer(routellm_env, capsys, tmp_path):
    r = json.loads(out(capsys, "datasets", "eval", "routellm-gsm8k", "--strong", GPT, "--weak", MIX, "--json"))
    assert r["models"][GPT]["quality"] == 1130 / 1319 and r["models"][MIX]["quality"] == 842 / 1319
    # the oracle: a prompt is lost only when both models fail it
    with (routellm_dir() / "gsm8k/gsm8k_responses.csv").open(newline="") as f:
        both_fail = sum(row[GPT] == "False" and row["mistralai/Mixtral-8x7B-Instruct-v0.1"] == "False"
                        for row in csv.DictReader(f))
    assert r["oracle"]["quality"] == pytest.approx(1 - both_fail / 1319, abs=1e-12)
    assert r["random"]["apgr"] == pytest.approx(0.5, abs=1e-12) and r["random"]["cpt50"] == pytest.approx(0.5)
    learned = r["learned"]
    assert learned["out_of_sample"] is True and learned["folds"] == 5
    assert len(learned["chosen"]) == 5 and set(learned["chosen"]) <= {"logreg", "hgb", "stack"}
    assert set(r["candidates"]) == {"logreg", "hgb", "stack"} and r["no_routing_needed"] is None
    assert 0 < learned["cpt50"] < learned["cpt80"] < 1
    # the two baselines a learned router must beat, out of sample: prompt length (APGR 0.601, CPT(50%)
    # 36.4%) and the TF-IDF "weak fails" scorer (0.551, 41.0%). The nested-CV scorer, when written:
    # APGR 0.627, CPT(50%) 33.3% (the goal, 30%, is not reached on GSM8K).
    assert r["length"]["apgr"] == pytest.approx(0.6009, abs=5e-4)
    assert r["tfidf"]["apgr"] == pytest.approx(0.5514, abs=5e-4)
    for base in ("length", "tfidf"):
        assert learned["apgr"] > r[base]["apgr"] + 0.01 and learned["cpt50"] < r[base]["cpt50"] - 0.01
    assert learned["apgr"] == pytest.approx(0.627, abs=0.01) and learned["cpt50"] == pytest.approx(0.333, abs=0.015)
    curve = {(p["method"], round(p["strong_share"], 2)): p["quality"] for p in r["curve"]}
    assert curve[("learned (out of sample)", 0.0)] == curve[("random (expectation)", 0.0)] == 842 / 1319
    assert curve[("learned (out of sample)", 1.0)] == pytest.approx(1130 / 1319)
    assert curve[("learned (out of sample)", 0.5)] > curve[("random (expectation)", 0.5)]
    # the text and the chart of the same result (a second eval would fit every model again)
    import workbench.datasets as wd

    text = wd.format_eval(r)
    wd.eval_chart(r, tmp_path / "curve.svg")
    assert "oracle" in text and "random (expectation)" in text and "learned (5-fold cross-fitted, nested CV)" in text
    assert "candidate: stack" in text and "TF-IDF + logistic regression (weak fails)" in text
    assert "scores are out of sample" in text
    svg = (tmp_path / "curve.svg").read_text()
    assert svg.startswith("<svg") and "routellm-gsm8k" in svg and "oracle (the limit)" in svg


@pytest.mark.slow
def test_eval_on_mmlu_beats_both_baselines_out_of_sample(routellm_env, capsys):
    """The headline MMLU figures (about 2 minutes of CPU: 14,042 prompts, 5 x 3 folds, 3 candidates)."""
    r = json.loads(out(capsys, "datasets", "eval", "routellm-mmlu", "--strong", GPT, "--weak", MIX, "--json"))
    learned = r["learned"]
    # when written: length 0.586 / 35.9%, TF-IDF 0.595 / 36.5%, nested-CV scorer 0.691 / 25.6% (goal: 35%)
    for base in ("length", "tfidf"):
        assert learned["apgr"] > r[base]["apgr"] + 0.05 and learned["cpt50"] < r[base]["cpt50"] - 0.05
    assert learned["apgr"] == pytest.approx(0.691, abs=0.01) and learned["cpt50"] <= 0.35


def test_import_outcomes_then_info(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "o.csv"
    f.write_text("prompt_id,prompt,model,response,score,prompt_tokens,completion_tokens,latency_s\n"
                 "a,Hello?,acme-1,Hi,1,10,2,0.5\nb,Bye?,acme-1,Bye,0,8,1,\n")
    text = out(capsys, "datasets", "import", "outcomes", str(f), "--name", "mine", "--price", "acme-1=2,4",
               "--no-progress")
    assert text.startswith("mine: 2 prompts") and "$2 / $4 (override)" in text
    info = json.loads(out(capsys, "datasets", "info", "mine", "--json"))
    assert info["models"][0]["cost_usd"] == pytest.approx((18 * 2 + 3 * 4) / 1e6)
    assert info["models"][0]["quality"] == 0.5 and info["models"][0]["latency_recorded"] == 1


def test_errors_are_one_line_with_exit_code_2(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "o.csv"
    f.write_text("prompt_id,prompt,model,response,score,prompt_tokens,completion_tokens,latency_s\n"
                 "a,Hello?,gpt-4o,Hi,2,10,2,0.5\n")
    r = wb("datasets", "import", "outcomes", str(f), "--name", "mine", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"error: {f}:2, field 'score': must be in [0, 1], got '2'\n"
    r = wb("datasets", "import", "routellm", str(tmp_path), "--price", "gpt-4o=cheap", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--price takes MODEL=IN,OUT" in r.stderr
    r = wb("datasets", "info", "nope", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: dataset 'nope' not found")
    assert not (tmp_path / "data" / "datasets").exists() or not any((tmp_path / "data" / "datasets").iterdir())
