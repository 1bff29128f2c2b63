"""``workbench estimate``: a scenario's router scored off-policy on a dataset's logged traffic.

The dataset is a synthetic production log (tests/synthetic_log.py): every support ticket once, answered
by the simulated model a randomized router drew, with the draw's probability logged. The truth is the
simulator's expected quality of the new router's choices.
"""

from __future__ import annotations

import json

import pytest
from helpers import wb
from synthetic_log import build_fleet, skewed_logging, target_policy, true_value, uniform_logging, write_logged_dataset

from workbench.analysis.offpolicy import off_policy_estimates
from workbench.cli import main

FLEET = """fleet:
  strong: {model: gpt-4o}
  small: {model: gpt-4o-mini}
  local: {model: ollama/llama3, price: {input_per_mtok: 0.05, output_per_mtok: 0.1}}
"""
RULES = """name: new-router
seed: 5
""" + FLEET + """router:
  policy: rules
  params:
    rules:
      - {to: strong, min_difficulty: 0.6}
      - {to: small, category: [billing, account]}
    default: local
traffic: {dataset: synth-log}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Datasets: ``synth-log`` (good overlap), ``skewed-log`` (98% strong), ``no-prop`` (no column),
    ``null-prop`` (column, all NULL)."""
    folder = tmp_path_factory.mktemp("offpolicy-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(folder))
        fleet = build_fleet()
        logs = {"synth-log": write_logged_dataset(fleet, "synth-log", uniform_logging(fleet), seed=11),
                "skewed-log": write_logged_dataset(fleet, "skewed-log", skewed_logging(fleet), seed=11)}
        write_logged_dataset(fleet, "no-prop", uniform_logging(fleet), seed=11, propensity="absent")
        write_logged_dataset(fleet, "null-prop", uniform_logging(fleet), seed=11, propensity="null")
    return folder, fleet, logs


@pytest.fixture
def env(data, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data[0]))
    return data


def estimate_json(capsys, *args: str) -> dict:
    assert main(["estimate", *args, "--json", "--boot", "500"]) == 0
    return json.loads(capsys.readouterr().out)


def test_estimate_matches_the_estimators_and_covers_the_truth(env, tmp_path, capsys):
    _, fleet, logs = env
    scn = tmp_path / "rules.yaml"
    scn.write_text(RULES)
    out = estimate_json(capsys, str(scn), "--dataset", "synth-log")
    target = target_policy(fleet)
    # the rules router decided on every logged prompt as the test's own copy of its rules does
    shares = dict(zip(("gpt-4o", "gpt-4o-mini", "ollama/llama3"), target.mean(axis=0), strict=True))
    assert out["new_policy_share"] == pytest.approx(shares)
    log, _ = logs["synth-log"]
    direct = off_policy_estimates(log, target, n_boot=500, seed=0)
    want = json.loads(json.dumps(direct.as_dict()))  # the same arrays, the same bootstrap: the same numbers
    assert out["quality"] == want["quality"] and out["cost_usd"] == want["cost_usd"]
    assert out["ess"] == pytest.approx(direct.ess) and out["logged_rows"] == 370
    truth_q, truth_c = true_value(fleet, target)
    for e in ("ips", "snips", "dr"):
        assert out["quality"][e]["lo"] <= truth_q <= out["quality"][e]["hi"], (e, truth_q, out["quality"][e])
        assert out["cost_usd"][e]["lo"] <= truth_c <= out["cost_usd"][e]["hi"], (e, truth_c, out["cost_usd"][e])
    assert out["trusted"] and out["source"].startswith("estimated off-policy")
    assert main(["estimate", str(scn), "--boot", "200"]) == 0  # the dataset from the scenario's traffic
    text = capsys.readouterr().out
    assert "ESTIMATED, not replayed" in text and "overlap: enough" in text and "DR" in text


def test_a_weighted_router_is_weighed_by_its_shares(env, tmp_path, capsys):
    scn = tmp_path / "w.yaml"
    scn.write_text("name: split\n" + FLEET + "router: {policy: weighted, params: {weights: {strong: 1, local: 3}}}\n"
                   "traffic: {dataset: synth-log}\n")
    out = estimate_json(capsys, str(scn))
    assert out["new_policy_share"] == {"gpt-4o": 0.25, "gpt-4o-mini": 0.0, "ollama/llama3": 0.75}


def test_poor_overlap_says_so(env, tmp_path, capsys):
    scn = tmp_path / "local.yaml"
    scn.write_text("name: all-local\n" + FLEET + "router: {policy: static, params: {target: local}}\n"
                   "traffic: {dataset: skewed-log}\n")
    out = estimate_json(capsys, str(scn))
    assert not out["trusted"] and out["ess"] < 0.1 * out["rows"]
    assert main(["estimate", str(scn), "--boot", "100"]) == 0
    assert "overlap TOO POOR TO TRUST" in capsys.readouterr().out


@pytest.mark.parametrize("dataset, says", [("no-prop", "no column 'propensity'"), ("null-prop", "all NULL")])
def test_a_log_without_propensities_is_refused(env, tmp_path, dataset, says):
    scn = tmp_path / "rules.yaml"
    scn.write_text(RULES)
    p = wb("estimate", str(scn), "--dataset", dataset, cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    [line] = p.stderr.strip().splitlines()
    assert f"{dataset}.duckdb" in line and "field 'propensity'" in line and says in line


def test_a_cascade_is_refused(env, tmp_path, capsys):
    scn = tmp_path / "c.yaml"
    scn.write_text("name: casc\n" + FLEET + "router: {policy: cascade, params: {chain: [local, strong], "
                   "format: 'x'}}\ntraffic: {dataset: synth-log}\n")
    assert main(["estimate", str(scn)]) == 2
    err = capsys.readouterr().err
    assert "router.policy" in err and "escalates after seeing an answer" in err


def test_the_dataset_is_required(env, tmp_path, capsys):
    scn = tmp_path / "r.yaml"
    scn.write_text(RULES.replace("traffic: {dataset: synth-log}", "traffic: {source: t.jsonl}"))
    assert main(["estimate", str(scn)]) == 2
    assert "--dataset" in capsys.readouterr().err


def test_a_propensity_outside_0_1_is_named(env, tmp_path, capsys):
    import shutil

    import duckdb

    folder = env[0] / "datasets"
    shutil.copy(folder / "synth-log.duckdb", folder / "bad-prop.duckdb")
    with duckdb.connect(str(folder / "bad-prop.duckdb")) as con:
        con.execute("UPDATE outcomes SET propensity = 0 WHERE prompt_key = (SELECT prompt_key FROM prompts "
                    "WHERE prompt_id = 'T0002')")
    scn = tmp_path / "rules.yaml"
    scn.write_text(RULES)
    assert main(["estimate", str(scn), "--dataset", "bad-prop"]) == 2
    err = capsys.readouterr().err
    assert "bad-prop.duckdb" in err and "field 'propensity'" in err and "prompt 'T0002'" in err
    (folder / "bad-prop.duckdb").unlink()
