"""``workbench record --sample N --max-usd X [--dry-run]``: a spend-capped re-ask of a log's prompts.

Real HTTP: the live fleet is litellm talking to the sim-server on loopback. The dataset is a small
production log written for this test: 60 support tickets, each answered by the model an old router
chose (source ``logged``).
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import pandas as pd
import pytest
from conftest import SCENARIOS
from helpers import fake_key

from workbench.catalog import model_info
from workbench.cli import main
from workbench.record_plan import plan_recording, stratified_sample
from workbench.scenario import parse_scenario
from workbench.simserver import running_server
from workbench.store.outcomes import OutcomeStore
from workbench.traffic import load_traffic, prompt_key

LOGGED = ("gpt-4o", "gpt-4o-mini", "ollama/llama3")
SERVER = parse_scenario("""name: server
fleet:
  large: {model: gpt-4o, sim: {error_rates: {}}}
  small: {model: gpt-4o-mini, sim: {error_rates: {}}}
router: {policy: static, params: {target: large}}
traffic: {source: none.jsonl}
""")
LIVE = """name: re-ask
seed: 3
fleet:
  large: {model: openai/gpt-4o, provider: live, api_base: URL, timeout_s: 10, api_key_env: PLAN_KEY}
  small: {model: openai/gpt-4o-mini, provider: live, api_base: URL, timeout_s: 10, api_key_env: PLAN_KEY}
router: {policy: static, params: {target: large}}
graders: [{type: exact}]
traffic: {dataset: prod-log}
"""
KEY = fake_key()
SAMPLE = 12


@pytest.fixture
def data(tmp_path, monkeypatch):
    """Dataset ``prod-log``: 60 tickets, each with one logged answer (120 completion tokens)."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PLAN_KEY", KEY)
    reqs = load_traffic(SCENARIOS / "traffic" / "support_tickets.jsonl").requests[:60]
    prompts = pd.DataFrame([{"prompt_key": prompt_key(r), "seq": i, "prompt_id": r.id, "prompt": r.prompt,
                             "category": r.category, "difficulty": r.difficulty, "expected": r.expected}
                            for i, r in enumerate(reqs)])
    outcomes = pd.DataFrame([{"prompt_key": prompt_key(r), "model": LOGGED[i % 3], "response": r.expected,
                              "prompt_tokens": 50, "completion_tokens": 120, "latency_s": 1.0, "cost_usd": 0.001,
                              "score": 1.0, "source": "logged"} for i, r in enumerate(reqs)])
    path = OutcomeStore.build("prod-log", prompts, outcomes, {"source": "test log"})
    with duckdb.connect(str(path)) as con:  # a log's outcomes carry the old router's propensity
        con.execute("ALTER TABLE outcomes ADD COLUMN IF NOT EXISTS propensity DOUBLE")
        con.execute("UPDATE outcomes SET propensity = 1 / 3")
    return path


def scenario(tmp_path, url="http://127.0.0.1:9/v1"):
    path = tmp_path / "live.yaml"
    path.write_text(LIVE.replace("URL", url))
    return path


def test_the_sample_is_stratified_by_category_stable_and_nested():
    cats = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    prompts = pd.DataFrame({"prompt_key": [f"k{i}" for i in range(100)], "seq": range(100), "category": cats})
    ten = stratified_sample(prompts, 10, seed=1)
    assert ten["category"].value_counts().to_dict() == {"a": 5, "b": 3, "c": 2}
    assert ten.equals(stratified_sample(prompts, 10, seed=1))  # the same command picks the same prompts
    assert not ten.equals(stratified_sample(prompts, 10, seed=2))
    # 7 of 100: exact shares 3.5 / 2.1 / 1.4 -> floors 3 / 2 / 1, the one left goes to the largest remainder (a)
    assert stratified_sample(prompts, 7, seed=1)["category"].value_counts().to_dict() == {"a": 4, "b": 2, "c": 1}
    twenty = stratified_sample(prompts, 20, seed=1)
    assert set(ten["prompt_key"]) <= set(twenty["prompt_key"])  # a larger sample extends a smaller one
    assert len(stratified_sample(prompts, 500, seed=1)) == 100


def test_dry_run_prints_the_expected_cost_and_writes_nothing(data, tmp_path, capsys):
    import litellm

    before = hashlib.sha256(data.read_bytes()).hexdigest()
    assert main(["record", str(scenario(tmp_path)), "--sample", str(SAMPLE), "--dry-run", "--json",
                 "--db", str(tmp_path / "t.duckdb")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before and not (tmp_path / "t.duckdb").exists()
    assert out["sample"] == SAMPLE and sum(out["composition"].values()) == SAMPLE
    # the pairs already logged (gpt-4o is openai/gpt-4o) are skipped: 2 x 12 calls minus those
    with OutcomeStore("prod-log") as ds:
        m = ds.matrix()
    reqs = {r.id: r for r in load_traffic(SCENARIOS / "traffic" / "support_tickets.jsonl").requests}
    plan = plan_recording(scenario(tmp_path), sample=SAMPLE)
    logged_here = m[m.prompt_key.isin(plan.prompt_keys) & m.model.isin(LOGGED[:2])]
    assert len(plan.prompt_keys) == SAMPLE and 0 < len(logged_here) < SAMPLE
    assert out["already_answered"] == len(logged_here) and out["calls"] == 2 * SAMPLE - len(logged_here)
    # expected cost: litellm's token count and price, 120 output tokens (the logged answers' mean)
    want = 0.0
    for c in plan.calls:
        info = model_info(c.model)
        ptok = litellm.token_counter(model=c.model, messages=[{"role": "user", "content": reqs[c.prompt_id].prompt}])
        want += ptok * info.input_per_token + 120 * info.output_per_token
    assert out["expected_usd"] == pytest.approx(want, rel=1e-12)
    assert {m["model"] for m in out["by_model"]} == {"openai/gpt-4o", "openai/gpt-4o-mini"}
    assert main(["record", str(scenario(tmp_path)), "--sample", str(SAMPLE), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "stratified by category" in text and "openai/gpt-4o-mini" in text and "ESTIMATED" in text


def test_a_capped_run_stops_before_the_cap_and_the_same_command_resumes(data, tmp_path, capsys):
    with running_server(SERVER, speed=100) as url:
        path = scenario(tmp_path, url)
        plan = plan_recording(path, sample=SAMPLE)
        planned, expected = len(plan.calls), sum(c.expected_usd for c in plan.calls)
        cap = 0.4 * sum(c.worst_usd for c in plan.calls)
        runs = []
        for _ in range(6):
            assert main(["record", str(path), "--sample", str(SAMPLE), "--max-usd", repr(cap), "--json"]) == 0
            out = json.loads(capsys.readouterr().out)
            runs.append(out["run"])
            if out["run"]["complete"]:
                break
    first = runs[0]
    assert first["stopped_before"] is not None and not first["complete"]
    assert first["spent_usd"] + first["stopped_before"]["worst_usd"] > cap  # it stopped only when it had to
    assert all(r["spent_usd"] <= cap for r in runs) and all(r["failed"] == 0 for r in runs)
    assert runs[1]["asked"] <= first["left"] and len(runs) >= 2 and runs[-1]["complete"]
    assert sum(r["answered"] for r in runs) == planned  # every planned call made exactly once
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later["asked"] + later["left"] == earlier["left"]  # nothing already stored was re-asked
    with OutcomeStore("prod-log") as ds:
        m = ds.matrix()
        notes = ds.meta()["record_plans"]
    live = m[m.source == "live"]
    assert len(live) == planned and set(live.model) == {"openai/gpt-4o", "openai/gpt-4o-mini"}
    assert [n["spent_usd"] for n in notes] == [r["spent_usd"] for r in runs]
    assert m[m.source == "logged"].shape[0] == 60  # the logged answers are untouched
    assert plan_recording(scenario(tmp_path), sample=SAMPLE).calls == []  # nothing left to ask
    assert KEY.encode() not in data.read_bytes()
    actual = sum(r["spent_usd"] for r in runs)
    print(f"dry run expected ${expected:.6f}, actual ${actual:.6f} over {planned} calls; cap ${cap:.6f}, "
          f"{len(runs)} invocations")


def test_bad_plans_are_refused(data, tmp_path, capsys):
    path = scenario(tmp_path)
    assert main(["record", str(path), "--sample", "5"]) == 2
    assert "--max-usd" in capsys.readouterr().err
    assert main(["record", str(path), "--max-usd", "1"]) == 2
    assert "--sample" in capsys.readouterr().err
    sim = tmp_path / "sim.yaml"
    sim.write_text(LIVE.replace("provider: live, api_base: URL, timeout_s: 10, api_key_env: PLAN_KEY", "sim: {}"))
    assert main(["record", str(sim), "--sample", "5", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "fleet.large.provider" in err and "live models only" in err
    assert main(["record", str(path), "--sample", "5", "--max-usd", "-1"]) == 2
    assert "--max-usd must be a positive amount" in capsys.readouterr().err


def test_failed_calls_are_not_stored_and_are_asked_again(data, tmp_path, capsys):
    with running_server(SERVER, speed=100) as url:
        path = tmp_path / "bad.yaml"  # the server has no such model: every call is a 404
        path.write_text(LIVE.replace("URL", url).replace(
            "small: {model: openai/gpt-4o-mini,", "small: {model: openai/no-such-model, price: "
            "{input_per_mtok: 1, output_per_mtok: 1},"))
        plan = plan_recording(path, sample=4)
        bad = sum(c.model == "openai/no-such-model" for c in plan.calls)
        assert main(["record", str(path), "--sample", "4", "--max-usd", "1", "--json"]) == 0
        run = json.loads(capsys.readouterr().out)["run"]
    assert bad == 4 and run["failed"] == bad and run["left"] == bad and not run["complete"]
    assert run["answered"] == len(plan.calls) - bad and run["stopped_before"] is None
    with OutcomeStore("prod-log") as ds:
        assert "openai/no-such-model" not in set(ds.matrix().model)
    assert len(plan_recording(path, sample=4).calls) == bad  # the same command asks them again
